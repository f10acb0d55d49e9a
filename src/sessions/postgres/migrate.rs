//! Versioned schema migrations: numbered SQL files from `migrations/`, embedded in the binary
//! and applied in order, each in the transaction that records it in
//! `personactl_schema_migrations`.
//!
//! A small runner rather than refinery: it needs no further dependency, and it takes a
//! transaction-scoped advisory lock first, so that replicas starting at once against an empty
//! database apply each migration exactly once (the others wait, then find nothing to do).

use postgres::Client;

/// The migrations, in order: (version, name, SQL). Append only; never edit a released one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "create_sessions",
        include_str!("../../../migrations/0001_create_sessions.sql"),
    ),
    (
        2,
        "create_revisions",
        include_str!("../../../migrations/0002_create_revisions.sql"),
    ),
];

/// The way back from each version after the first: (version, SQL that undoes it).
const DOWN: &[(i32, &str)] = &[(
    2,
    include_str!("../../../migrations/0002_create_revisions.down.sql"),
)];

/// An arbitrary constant naming personactl's advisory lock ("pactlmig").
const LOCK_KEY: i64 = 0x7061_6374_6c6d_6967;

/// The newest schema version this build knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The schema version the database is at (0: none), without taking any lock.
fn current(client: &mut Client) -> Result<i32, postgres::Error> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('personactl_schema_migrations') IS NOT NULL",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_one(
        "SELECT coalesce(max(version), 0) FROM personactl_schema_migrations",
        &[],
    )?;
    Ok(row.get(0))
}

/// What [`migrate`] found.
pub(super) enum Outcome {
    /// The schema is at `latest()` (now, or already).
    UpToDate,
    /// The database was migrated by a newer personactl, to this version.
    Newer(i32),
}

/// Brings the schema to the latest version. Cheap when it is already there (one query).
pub(super) fn migrate(client: &mut Client) -> Result<Outcome, postgres::Error> {
    let version = current(client)?;
    if version > latest() {
        return Ok(Outcome::Newer(version));
    }
    if version == latest() {
        return Ok(Outcome::UpToDate);
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS personactl_schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    // Under the lock: another replica may have migrated while this one waited.
    let version: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM personactl_schema_migrations",
            &[],
        )?
        .get(0);
    if version > latest() {
        return Ok(Outcome::Newer(version));
    }
    for (v, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > version) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO personactl_schema_migrations (version, name) VALUES ($1, $2)",
            &[v, name],
        )?;
    }
    tx.commit()?;
    Ok(Outcome::UpToDate)
}

/// Takes the schema back to version `to` (≥ 1), undoing the newer migrations in reverse order,
/// each in the transaction that removes its record: for a rollback to an older personactl.
pub(super) fn migrate_down(client: &mut Client, to: i32) -> Result<i32, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    let mut version: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM personactl_schema_migrations",
            &[],
        )?
        .get(0);
    let from = version;
    for (v, sql) in DOWN.iter().rev().filter(|d| d.0 > to && d.0 <= from) {
        tx.batch_execute(sql)?;
        tx.execute(
            "DELETE FROM personactl_schema_migrations WHERE version = $1",
            &[v],
        )?;
        version = v - 1;
    }
    tx.commit()?;
    Ok(version)
}
