-- personactl sessions in PostgreSQL, schema version 2: the content of every persona revision a
-- session was linked at, stored once per revision, so that a pinned session gets exactly the
-- persona it started with. `persona` is the persona's canonical JSON (the bytes its revision
-- hashes), kept as text rather than jsonb, which would reorder keys.
CREATE TABLE personactl_revisions (
    revision  text COLLATE "C" PRIMARY KEY CHECK (revision ~ '^[0-9a-f]{1,64}$'),
    persona   text NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
