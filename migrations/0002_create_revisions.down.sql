-- Back to schema version 1: the stored revisions go; links keep their revision ids.
DROP TABLE personactl_revisions;
