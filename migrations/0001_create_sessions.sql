-- personactl sessions in PostgreSQL, schema version 1: one row per live session.
-- Ids compare byte for byte (COLLATE "C"), as in the file index, so that the primary key
-- serves point lookups and `session list` comes out in the same order from both backends.
CREATE TABLE personactl_sessions (
    session   text COLLATE "C" PRIMARY KEY CHECK (octet_length(session) BETWEEN 1 AND 256),
    persona   text COLLATE "C" NOT NULL,
    revision  text,
    linked_at timestamptz NOT NULL
);

-- `session list --persona ID`: the sessions of one persona, already in session order.
CREATE INDEX personactl_sessions_by_persona ON personactl_sessions (persona, session);
