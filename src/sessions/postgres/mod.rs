//! [`PgStore`]: the sessions index in PostgreSQL, shared by every replica of a chat service.
//!
//! One row per live session in `personactl_sessions`; a link is an upsert
//! (`INSERT … ON CONFLICT (session) DO UPDATE`), an unlink a `DELETE`, so replicas linking at
//! once lose nothing. The schema is created or migrated on first use (`migrate.rs`).

mod migrate;

use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Statement};

use crate::catalog::Entry;

use super::error::{SessionError, check_session_id};
use super::log::Compaction;
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
}

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
    link: Statement,
    unlink: Statement,
    get: Statement,
}

const SELECT: &str = "SELECT session, persona, revision, extract(epoch FROM linked_at)::bigint FROM personactl_sessions";
const UPSERT: &str = "INSERT INTO personactl_sessions (session, persona, revision, linked_at)
     VALUES ($1, $2, $3, to_timestamp($4::bigint))
     ON CONFLICT (session) DO UPDATE
     SET persona = EXCLUDED.persona, revision = EXCLUDED.revision, linked_at = EXCLUDED.linked_at";
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
            None => self.prepare(self.open_client()?)?,
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
        let link = client.prepare(UPSERT).map_err(|e| self.error(&e))?;
        let unlink = client
            .prepare("DELETE FROM personactl_sessions WHERE session = $1")
            .map_err(|e| self.error(&e))?;
        let get = client
            .prepare(&format!("{SELECT} WHERE session = $1"))
            .map_err(|e| self.error(&e))?;
        Ok(Conn {
            client,
            link,
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
        let (id, revision) = (persona.id.as_str(), persona.revision.as_str());
        self.run(|c| {
            c.client
                .execute(&c.link, &[&session, &id, &revision, &at.unix()])
        })?;
        Ok(Link::from_record(id, Some(revision), at))
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
        Ok(None) // rows are updated in place; autovacuum reclaims dead ones
    }
}
