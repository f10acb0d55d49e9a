//! [`PgStore`]: the sessions index in PostgreSQL, shared by every replica of a chat service.
//!
//! One row per live session in `personactl_sessions`; a link is an upsert
//! (`INSERT … ON CONFLICT (session) DO UPDATE`), an unlink a `DELETE`, so replicas linking at
//! once lose nothing. The schema is created or migrated on first use (`migrate.rs`).
//!
//! Stored revisions are rows of `personactl_revisions` (schema version 2): a link whose
//! revision this connection has not seen stored inserts it in the same statement as the link;
//! a later link at that revision checks that it is still there (a compaction may have dropped
//! it), all in one round trip; and while the store holds a lease (`lease.rs`), a link at a
//! revision it has seen stored checks nothing: it is the statement of a link before revisions
//! were stored, and a comparison with the database's clock.

mod lease;
mod migrate;

pub use self::lease::REVISION_LEASE;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Statement};

use crate::catalog::{Entry, revision};
use crate::persona::Persona;

use self::lease::{Leases, wait_out};
use super::error::{SessionError, check_session_id};
use super::log::Compaction;
use super::revisions::{canonical, verify};
use super::state::Link;
use super::store::{SessionStore, redact};
use super::time::Timestamp;

/// The connect timeout when the URL sets none (`connect_timeout=SECONDS`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The sessions index in a PostgreSQL database, shared by every replica of a chat service:
/// one row per live session in `personactl_sessions`; a link is an upsert
/// (`INSERT … ON CONFLICT (session) DO UPDATE`), an unlink a `DELETE`, so replicas linking at
/// once lose nothing. The schema is created or migrated on first use (versioned migrations
/// from `migrations/`, recorded in `personactl_schema_migrations`).
///
/// Holds one connection, opened (and the schema migrated) by [`connect`](Self::connect). When
/// the connection breaks (the database restarted, a failover), the next operation reconnects
/// once and retries; every operation is safe to retry. Reaching the database is bounded by the
/// connect timeout, so an unreachable database is an error, never a hang.
pub struct PgStore {
    config: Config,
    location: String,
    timeout: Duration,
    conn: Option<Conn>,
    /// Revisions seen stored in this database, and the leases that spare a link at one of
    /// them the check that it is still there.
    leases: Leases,
    /// Stored content already read and checked.
    contents: HashMap<String, Arc<Persona>>,
}

/// At most this many checked revisions are kept in memory per store.
const CONTENTS_CACHED: usize = 4096;

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    link_leased: Statement,
    link_renewing: Statement,
    link_known: Statement,
    link_new: Statement,
    revision: Statement,
    unlink: Statement,
    get: Statement,
}

const SELECT: &str = "SELECT session, persona, revision, extract(epoch FROM linked_at)::bigint FROM personactl_sessions";
const ON_CONFLICT: &str = "ON CONFLICT (session) DO UPDATE
     SET persona = EXCLUDED.persona, revision = EXCLUDED.revision, linked_at = EXCLUDED.linked_at";
/// A link under a lease ending at $5: written only while the lease lasts, compared once the
/// statement holds its lock on the table.
const LINK_LEASED: &str = "INSERT INTO personactl_sessions (session, persona, revision, linked_at)
     SELECT $1::text, $2::text, $3::text, to_timestamp($4::bigint)
     WHERE clock_timestamp() < $5::timestamptz";
/// A link at a revision seen stored: written only if the revision is still there.
const LINK_KNOWN: &str = "INSERT INTO personactl_sessions (session, persona, revision, linked_at)
     SELECT $1::text, $2::text, $3::text, to_timestamp($4::bigint)
     WHERE EXISTS (SELECT 1 FROM personactl_revisions WHERE revision = $3::text)";
/// A link that stores its revision's content ($5) unless stored: written only if the stored
/// content is the same (else nothing: a collision, damage, or an insert not yet visible).
const LINK_NEW: &str = "WITH ins AS (
         INSERT INTO personactl_revisions (revision, persona) VALUES ($3::text, $5::text)
         ON CONFLICT (revision) DO NOTHING RETURNING persona
     ), cur AS (
         SELECT persona FROM ins
         UNION ALL SELECT persona FROM personactl_revisions WHERE revision = $3::text
     )
     INSERT INTO personactl_sessions (session, persona, revision, linked_at)
     SELECT $1::text, $2::text, $3::text, to_timestamp($4::bigint)
     WHERE (SELECT bool_and(persona = $5::text) FROM cur)";
const UPSERT_MANY: &str = "INSERT INTO personactl_sessions (session, persona, revision, linked_at)
     SELECT s, p, r, to_timestamp(t) FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(s, p, r, t)
     ON CONFLICT (session) DO UPDATE
     SET persona = EXCLUDED.persona, revision = EXCLUDED.revision, linked_at = EXCLUDED.linked_at";

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname?…`, any
    /// parameter rust-postgres reads, e.g. `connect_timeout=SECONDS`), then creates or migrates
    /// the schema.
    ///
    /// # Errors
    ///
    /// [`SessionError::Database`]: a URL that does not parse, a database that cannot be
    /// reached within the connect timeout, a refused login, a schema newer than this build.
    pub fn connect(url: &str) -> Result<Self, SessionError> {
        let location = redact(url);
        let mut config = Config::from_str(url).map_err(|e| SessionError::Database {
            location: location.clone(),
            message: format!("not a valid PostgreSQL URL: {e}"),
        })?;
        let timeout = *config
            .get_connect_timeout()
            .unwrap_or(&DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(timeout);
        if config.get_tcp_user_timeout().is_none() {
            // Unacknowledged writes to a vanished server fail instead of waiting for TCP.
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        if config.get_application_name().is_none() {
            config.application_name("personactl");
        }
        let mut store = PgStore {
            config,
            location,
            timeout,
            conn: None,
            leases: Leases::default(),
            contents: HashMap::new(),
        };
        store.conn()?;
        Ok(store)
    }

    fn error(&self, e: &postgres::Error) -> SessionError {
        SessionError::Database {
            location: self.location.clone(),
            message: describe(e),
        }
    }

    /// The open connection, opened (and the schema migrated) if there is none.
    fn conn(&mut self) -> Result<&mut Conn, SessionError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                // Leases are the old connection's server's: none carries over.
                self.leases.clear();
                self.prepare(self.open_client()?)?
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// Connects within the timeout. The client's own timeout covers the TCP connect only; a
    /// server that accepts but never answers the startup would hang it, so the whole
    /// handshake runs on a helper thread that is abandoned when the deadline passes.
    fn open_client(&self) -> Result<Client, SessionError> {
        let (tx, rx) = mpsc::channel();
        let config = self.config.clone();
        std::thread::Builder::new()
            .name("personactl-pg-connect".into())
            .spawn(move || {
                let _ = tx.send(config.connect(NoTls));
            })
            .map_err(|e| SessionError::Database {
                location: self.location.clone(),
                message: format!("cannot start a thread to connect: {e}"),
            })?;
        match rx.recv_timeout(self.timeout + Duration::from_millis(500)) {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(SessionError::Database {
                location: self.location.clone(),
                message: format!("cannot connect: {}", describe(&e)),
            }),
            Err(_) => Err(SessionError::Database {
                location: self.location.clone(),
                message: format!(
                    "cannot connect: no answer within {} s (the connect timeout; set `connect_timeout=SECONDS` in the URL to change it)",
                    self.timeout.as_secs_f64()
                ),
            }),
        }
    }

    /// Migrates the schema and prepares the statements on a new connection.
    fn prepare(&self, mut client: Client) -> Result<Conn, SessionError> {
        match migrate::migrate(&mut client).map_err(|e| self.error(&e))? {
            migrate::Outcome::UpToDate => {}
            migrate::Outcome::Newer(version) => {
                return Err(SessionError::Database {
                    location: self.location.clone(),
                    message: format!(
                        "the sessions schema is at version {version}, newer than this personactl supports ({})",
                        migrate::latest()
                    ),
                });
            }
        }
        // A link that checks its revision (or stores it) takes a lease too.
        let returning = lease::returning();
        let link_leased = client
            .prepare(&format!("{LINK_LEASED} {ON_CONFLICT}"))
            .map_err(|e| self.error(&e))?;
        let link_renewing = client
            .prepare(&format!("{LINK_LEASED} {ON_CONFLICT} {returning}"))
            .map_err(|e| self.error(&e))?;
        let link_known = client
            .prepare(&format!("{LINK_KNOWN} {ON_CONFLICT} {returning}"))
            .map_err(|e| self.error(&e))?;
        let link_new = client
            .prepare(&format!("{LINK_NEW} {ON_CONFLICT} {returning}"))
            .map_err(|e| self.error(&e))?;
        let revision = client
            .prepare("SELECT persona FROM personactl_revisions WHERE revision = $1")
            .map_err(|e| self.error(&e))?;
        let unlink = client
            .prepare("DELETE FROM personactl_sessions WHERE session = $1")
            .map_err(|e| self.error(&e))?;
        let get = client
            .prepare(&format!("{SELECT} WHERE session = $1"))
            .map_err(|e| self.error(&e))?;
        Ok(Conn {
            client,
            link_leased,
            link_renewing,
            link_known,
            link_new,
            revision,
            unlink,
            get,
        })
    }

    /// Runs `op` on the connection; when the connection turns out to be broken (the server
    /// restarted), reconnects once and runs it again. Every operation here is idempotent.
    fn run<T>(
        &mut self,
        mut op: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, SessionError> {
        let conn = self.conn()?;
        match op(conn) {
            Ok(v) => Ok(v),
            Err(e) if conn.client.is_closed() || is_disconnect(&e) => {
                self.conn = None;
                let conn = self.conn()?;
                op(conn).map_err(|e| self.error(&e))
            }
            Err(e) => Err(self.error(&e)),
        }
    }
}

impl PgStore {
    /// Takes the database's schema back to version `to` (at least 1), undoing newer
    /// migrations in reverse order (version 2 → 1 drops the stored revisions; links keep their
    /// revision ids): for going back to an older personactl. Returns the version now.
    ///
    /// # Errors
    ///
    /// [`SessionError::Database`].
    pub fn migrate_down(&mut self, to: i32) -> Result<i32, SessionError> {
        let to = to.max(1);
        let conn = self.conn()?;
        let version = migrate::migrate_down(&mut conn.client, to);
        // The statements name tables that may be gone: connect afresh next time.
        self.conn = None;
        self.leases.clear();
        self.contents.clear();
        version.map_err(|e| self.error(&e))
    }

    /// The stored content of `rev`, as text, read afresh.
    fn stored_text(&mut self, rev: &str) -> Result<Option<String>, SessionError> {
        let row = self.run(|c| c.client.query_opt(&c.revision, &[&rev]))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn mismatch(&self, rev: &str, reason: &'static str) -> SessionError {
        SessionError::RevisionMismatch {
            location: self.location.clone(),
            revision: rev.to_owned(),
            reason,
        }
    }

    /// A link under the store's leases (see `lease.rs`): `None` when it was not written
    /// (the lease ran out on the server, or the connection broke), else the new lease it
    /// took when `renew` (`Some(None)`: none, a compaction is under way; or not asked).
    /// Never retried on a new connection, whose server's clock may be another's.
    fn link_leased(
        &mut self,
        renew: bool,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<Option<SystemTime>>, SessionError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let result = if renew {
            conn.client
                .query_opt(&conn.link_renewing, params)
                .map(|row| row.map(|r| r.get(0)))
        } else {
            conn.client
                .execute(&conn.link_leased, params)
                .map(|n| (n == 1).then_some(None))
        };
        let broken = conn.client.is_closed();
        match result {
            Ok(written) => Ok(written),
            Err(e) if broken || is_disconnect(&e) => {
                self.conn = None;
                Ok(None)
            }
            Err(e) => Err(self.error(&e)),
        }
    }

    /// A link that checks its revision is still stored (see `LINK_KNOWN`): `None` when it is
    /// not (nothing written), else the lease it took.
    fn link_checking(
        &mut self,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<Option<SystemTime>>, SessionError> {
        let row = self.run(|c| c.client.query_opt(&c.link_known, params))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// A link that stores its revision too: see `LINK_NEW`.
    /// `body` is the persona's canonical JSON when the caller has it already.
    fn link_storing(
        &mut self,
        session: &str,
        persona: &Entry,
        body: Option<Vec<u8>>,
        at: Timestamp,
    ) -> Result<(), SessionError> {
        let (id, rev) = (persona.id.as_str(), persona.revision());
        let body = body.unwrap_or_else(|| canonical(&persona.persona));
        let body = String::from_utf8(body).unwrap_or_default();
        for _ in 0..5 {
            let row = self.run(|c| {
                c.client
                    .query_opt(&c.link_new, &[&session, &id, &rev, &at.unix(), &body])
            })?;
            if let Some(row) = row {
                self.leases.took(rev, row.get(0));
                return Ok(());
            }
            match self.stored_text(rev)? {
                // Stored by another replica in the meantime: the next try sees it.
                None => {}
                Some(text) if text == body => {}
                Some(text) => match verify(rev, text.as_bytes()) {
                    Ok(other) if other == *persona.persona => {} // same persona, other spelling
                    Ok(_) => {
                        return Err(SessionError::RevisionCollision {
                            location: self.location.clone(),
                            revision: rev.to_owned(),
                        });
                    }
                    // Damaged: replace it with the good content.
                    Err(_) => {
                        self.run(|c| {
                            c.client.execute(
                                "UPDATE personactl_revisions SET persona = $2 WHERE revision = $1 AND persona = $3",
                                &[&rev, &body, &text],
                            )
                        })?;
                    }
                },
            }
        }
        Err(SessionError::Database {
            location: self.location.clone(),
            message: format!("could not store revision {rev} beside the link; try again"),
        })
    }
}

/// In one transaction: takes the compaction's advisory lock (no new leases, and one
/// compaction at a time), waits out the leases granted before (`lease.rs`), then drops the
/// revisions no session names. Links wait for the table lock meanwhile, so none can name a
/// revision being dropped. The lock goes with the transaction, whatever ends it.
fn drop_unreferenced(client: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&lease::COMPACTION_KEY],
    )?;
    wait_out(&mut tx)?;
    tx.batch_execute(
        "LOCK TABLE personactl_sessions IN SHARE ROW EXCLUSIVE MODE;
         DELETE FROM personactl_revisions r WHERE NOT EXISTS
             (SELECT 1 FROM personactl_sessions s WHERE s.revision = r.revision)",
    )?;
    tx.commit()
}

/// Whether an error says the connection is gone (rather than the statement being wrong).
fn is_disconnect(e: &postgres::Error) -> bool {
    e.is_closed()
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        )
        || (e.as_db_error().is_none() && std::error::Error::source(e).is_some())
}

/// A readable message: the server's own words for a database error, else the client's error
/// and its cause.
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn link_of(row: &postgres::Row, first: usize) -> Link {
    let persona: &str = row.get(first);
    let revision: Option<&str> = row.get(first + 1);
    let at: i64 = row.get(first + 2);
    Link::from_record(persona, revision, Timestamp::from_unix(at))
}

impl SessionStore for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn link(&mut self, session: &str, persona: &Entry) -> Result<Link, SessionError> {
        check_session_id(session)?;
        let at = Timestamp::now();
        let id = persona.id.as_str();
        let (rev, body) = persona.revision_and_body();
        let link = Link::from_record(id, Some(rev), at);
        let unix = at.unix();
        if let Some(trusted) = self.leases.trusted(rev) {
            let params: [&(dyn postgres::types::ToSql + Sync); 5] =
                [&session, &id, &rev, &unix, &trusted.until];
            match self.link_leased(trusted.renew, &params)? {
                Some(lease) => {
                    if trusted.renew {
                        self.leases.took(rev, lease);
                    }
                    return Ok(link);
                }
                None => self.leases.broken(),
            }
        }
        if self.leases.knows(rev)
            && let Some(lease) = self.link_checking(&[&session, &id, &rev, &unix])?
        {
            self.leases.took(rev, lease);
            return Ok(link);
        }
        self.leases.forget(rev);
        self.link_storing(session, persona, body, at)?;
        Ok(link)
    }

    fn unlink(&mut self, session: &str) -> Result<bool, SessionError> {
        check_session_id(session)?;
        let deleted = self.run(|c| c.client.execute(&c.unlink, &[&session]))?;
        Ok(deleted > 0)
    }

    fn get(&mut self, session: &str) -> Result<Option<Link>, SessionError> {
        check_session_id(session)?;
        let row = self.run(|c| c.client.query_opt(&c.get, &[&session]))?;
        Ok(row.map(|r| link_of(&r, 1)))
    }

    fn list(&mut self, persona: Option<&str>) -> Result<Vec<(String, Link)>, SessionError> {
        let rows = self.run(|c| match persona {
            Some(p) => c.client.query(
                &format!("{SELECT} WHERE persona = $1 ORDER BY session"),
                &[&p],
            ),
            None => c.client.query(&format!("{SELECT} ORDER BY session"), &[]),
        })?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), link_of(r, 1)))
            .collect())
    }

    fn import(&mut self, links: &[(String, Link)]) -> Result<(), SessionError> {
        for (session, _) in links {
            check_session_id(session)?;
        }
        self.run(|c| {
            let mut tx = c.client.transaction()?;
            for chunk in links.chunks(10_000) {
                let sessions: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
                let personas: Vec<&str> = chunk.iter().map(|(_, l)| &*l.persona).collect();
                let revisions: Vec<Option<&str>> =
                    chunk.iter().map(|(_, l)| l.revision.as_deref()).collect();
                let times: Vec<i64> = chunk.iter().map(|(_, l)| l.at.unix()).collect();
                tx.execute(UPSERT_MANY, &[&sessions, &personas, &revisions, &times])?;
            }
            tx.commit()
        })
    }

    fn compact(&mut self) -> Result<Option<Compaction>, SessionError> {
        // Rows are updated in place (autovacuum reclaims dead ones); only the revisions no
        // live session is linked at go, after the leases run out (see the module's docs).
        self.run(|c| {
            let unreferenced: bool = c
                .client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM personactl_revisions r WHERE NOT EXISTS
                         (SELECT 1 FROM personactl_sessions s WHERE s.revision = r.revision))",
                    &[],
                )?
                .get(0);
            if !unreferenced {
                return Ok(());
            }
            drop_unreferenced(&mut c.client)
        })?;
        self.leases.clear();
        Ok(None)
    }

    fn stored_revision(&mut self, rev: &str) -> Result<Option<Arc<Persona>>, SessionError> {
        if let Some(p) = self.contents.get(rev) {
            return Ok(Some(Arc::clone(p)));
        }
        let Some(text) = self.stored_text(rev)? else {
            return Ok(None);
        };
        let persona = Arc::new(verify(rev, text.as_bytes()).map_err(|r| self.mismatch(rev, r))?);
        if self.contents.len() >= CONTENTS_CACHED {
            self.contents.clear();
        }
        self.contents.insert(rev.to_owned(), Arc::clone(&persona));
        Ok(Some(persona))
    }

    fn stored_revisions(&mut self) -> Result<Vec<String>, SessionError> {
        let rows = self.run(|c| {
            c.client.query(
                "SELECT revision FROM personactl_revisions ORDER BY revision",
                &[],
            )
        })?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn import_revisions(
        &mut self,
        items: &[(String, Arc<Persona>)],
    ) -> Result<usize, SessionError> {
        for (rev, persona) in items {
            if revision(persona) != *rev {
                return Err(
                    self.mismatch(rev, "the content to store does not hash to its revision")
                );
            }
        }
        let revs: Vec<&str> = items.iter().map(|(r, _)| r.as_str()).collect();
        let bodies: Vec<String> = items
            .iter()
            .map(|(_, p)| String::from_utf8(canonical(p)).unwrap_or_default())
            .collect();
        let n = self.run(|c| {
            c.client.execute(
                "INSERT INTO personactl_revisions (revision, persona)
                 SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (revision) DO NOTHING",
                &[&revs, &bodies],
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
