//! [`SessionStore`]: the sessions index behind one interface, whatever holds it — the JSON
//! Lines file ([`SessionLog`], [`SessionIndex`]) or PostgreSQL — and [`SessionBackend`], which
//! picks one from a `--sessions` value.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::catalog::{Entry, Lookup};
use crate::persona::Persona;

use super::error::SessionError;
use super::index::SessionIndex;
use super::log::{Compaction, SessionLog};
use super::pin::{Pinned, pinned};
use super::resolve::{Resolution, resolve};
use super::state::Link;

/// Where sessions are linked to personas: the same operations and the same refusals for every
/// backend. Object-safe, so a server can hold a `Box<dyn SessionStore>` chosen at start-up.
///
/// Callers check that the persona exists before [`link`](Self::link) (it takes an [`Entry`]
/// of a loaded catalog); every method checks the session id before touching storage, so a
/// refused input writes nothing.
pub trait SessionStore: Send + fmt::Debug {
    /// Where the sessions are: a file path, or a URL with its password hidden.
    fn location(&self) -> String;

    /// Links `session` to `persona` (its id and revision, now), replacing any earlier link,
    /// and stores the persona's content as that revision when it is not stored yet (before
    /// the link, so that a link never names a revision whose content is missing).
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidSession`] (nothing written),
    /// [`SessionError::RevisionCollision`] (nothing linked), or the backend's error.
    fn link(&mut self, session: &str, persona: &Entry) -> Result<Link, SessionError>;

    /// Unlinks `session`; `false`, writing nothing, when it is not linked.
    ///
    /// # Errors
    ///
    /// As [`link`](Self::link).
    fn unlink(&mut self, session: &str) -> Result<bool, SessionError>;

    /// The link of `session`, seeing every other writer's links.
    ///
    /// # Errors
    ///
    /// As [`link`](Self::link).
    fn get(&mut self, session: &str) -> Result<Option<Link>, SessionError>;

    /// Every live session (only those linked to `persona`, when given), sorted by session id
    /// (byte order).
    ///
    /// # Errors
    ///
    /// The backend's error.
    fn list(&mut self, persona: Option<&str>) -> Result<Vec<(String, Link)>, SessionError>;

    /// Writes `links` exactly as given (persona, revision and time kept), replacing earlier
    /// links of the same sessions: what [`copy_links`] uses.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidSession`] for any id (nothing written), or the backend's error.
    fn import(&mut self, links: &[(String, Link)]) -> Result<(), SessionError>;

    /// The stored content of `revision`, checked against it; `None` when it is not stored.
    ///
    /// # Errors
    ///
    /// [`SessionError::RevisionMismatch`] when the stored content does not hash to
    /// `revision` (it is never returned), or the backend's error.
    fn stored_revision(&mut self, revision: &str) -> Result<Option<Arc<Persona>>, SessionError>;

    /// Every stored revision, sorted.
    ///
    /// # Errors
    ///
    /// The backend's error.
    fn stored_revisions(&mut self) -> Result<Vec<String>, SessionError>;

    /// Stores revisions' content as given (each checked against its revision first) unless
    /// stored already: what [`copy_links`] uses. Returns how many were written.
    ///
    /// # Errors
    ///
    /// [`SessionError::RevisionMismatch`] (nothing written), or the backend's error.
    fn import_revisions(&mut self, items: &[(String, Arc<Persona>)])
    -> Result<usize, SessionError>;

    /// Rewrites the storage to its smallest form, and drops the stored revisions no live
    /// session is linked at; `None` when the backend needs no compaction of its links.
    ///
    /// # Errors
    ///
    /// The backend's error.
    fn compact(&mut self) -> Result<Option<Compaction>, SessionError>;

    /// How many unreadable (torn) records the last full read skipped (files only).
    fn skipped(&self) -> usize {
        0
    }

    /// The persona `session` should use: see [`Resolution`].
    ///
    /// # Errors
    ///
    /// [`SessionError::DefaultMissing`] when the session falls back and `default` is not in
    /// `personas`; otherwise as [`get`](Self::get).
    fn resolve<'p>(
        &mut self,
        session: &str,
        personas: &'p dyn Lookup,
        default: &str,
    ) -> Result<Resolution<'p>, SessionError> {
        let link = self.get(session)?;
        resolve(session, link, personas, default)
    }

    /// The persona `session` should use both ways: the current one (its [`Resolution`]) and
    /// the pinned one (the stored revision it was linked at); see [`Pinned`] and
    /// [`Policy`](crate::Policy).
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve). Damaged stored content is not an error: it is not
    /// served, and [`Pinned::reason`] says why.
    fn pinned<'p>(
        &mut self,
        session: &str,
        personas: &'p dyn Lookup,
        default: &str,
    ) -> Result<Pinned<'p>, SessionError> {
        pinned(self, session, personas, default)
    }
}

/// Sorted `(session, link)` pairs of an in-memory index.
fn sorted<'a>(
    iter: impl Iterator<Item = (&'a str, &'a Link)>,
    persona: Option<&str>,
) -> Vec<(String, Link)> {
    let mut items: Vec<(String, Link)> = iter
        .filter(|(_, l)| persona.is_none_or(|p| *l.persona == *p))
        .map(|(s, l)| (s.to_owned(), l.clone()))
        .collect();
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    items
}

impl SessionStore for SessionLog {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn link(&mut self, session: &str, persona: &Entry) -> Result<Link, SessionError> {
        SessionLog::link(self, session, persona)
    }

    fn unlink(&mut self, session: &str) -> Result<bool, SessionError> {
        SessionLog::unlink(self, session)
    }

    fn get(&mut self, session: &str) -> Result<Option<Link>, SessionError> {
        SessionLog::get(self, session)
    }

    fn list(&mut self, persona: Option<&str>) -> Result<Vec<(String, Link)>, SessionError> {
        let index = SessionIndex::open(self.path())?;
        self.set_skipped(index.skipped());
        Ok(sorted(index.iter(), persona))
    }

    fn import(&mut self, links: &[(String, Link)]) -> Result<(), SessionError> {
        self.append_links(links)
    }

    fn compact(&mut self) -> Result<Option<Compaction>, SessionError> {
        SessionLog::compact(self).map(Some)
    }

    fn stored_revision(&mut self, revision: &str) -> Result<Option<Arc<Persona>>, SessionError> {
        SessionLog::stored_revision(self, revision)
    }

    fn stored_revisions(&mut self) -> Result<Vec<String>, SessionError> {
        self.revisions().revisions()
    }

    fn import_revisions(
        &mut self,
        items: &[(String, Arc<Persona>)],
    ) -> Result<usize, SessionError> {
        SessionLog::import_revisions(self, items)
    }

    fn skipped(&self) -> usize {
        self.last_skipped()
    }
}

impl SessionStore for SessionIndex {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn link(&mut self, session: &str, persona: &Entry) -> Result<Link, SessionError> {
        SessionIndex::link(self, session, persona)
    }

    fn unlink(&mut self, session: &str) -> Result<bool, SessionError> {
        SessionIndex::unlink(self, session)
    }

    fn get(&mut self, session: &str) -> Result<Option<Link>, SessionError> {
        SessionIndex::get(self, session).map(Option::<&Link>::cloned)
    }

    fn list(&mut self, persona: Option<&str>) -> Result<Vec<(String, Link)>, SessionError> {
        self.refresh()?;
        Ok(sorted(self.iter(), persona))
    }

    fn import(&mut self, links: &[(String, Link)]) -> Result<(), SessionError> {
        self.append_links(links)
    }

    fn compact(&mut self) -> Result<Option<Compaction>, SessionError> {
        SessionIndex::compact(self).map(Some)
    }

    fn stored_revision(&mut self, revision: &str) -> Result<Option<Arc<Persona>>, SessionError> {
        self.log_mut().stored_revision(revision)
    }

    fn stored_revisions(&mut self) -> Result<Vec<String>, SessionError> {
        self.log_mut().revisions().revisions()
    }

    fn import_revisions(
        &mut self,
        items: &[(String, Arc<Persona>)],
    ) -> Result<usize, SessionError> {
        self.log_mut().import_revisions(items)
    }

    fn skipped(&self) -> usize {
        SessionIndex::skipped(self)
    }
}

/// Which backend a `--sessions` value (or `PERSONAS_SESSIONS`) names: a `postgres://` or
/// `postgresql://` URL, or else a file path.
///
/// ```
/// use personas::SessionBackend;
///
/// assert!(matches!(SessionBackend::parse("sessions.jsonl"), SessionBackend::File(_)));
/// let pg = SessionBackend::parse("postgres://app:secret@db:5432/chat");
/// assert!(matches!(pg, SessionBackend::Postgres(_)));
/// assert_eq!(pg.to_string(), "postgres://app@db:5432/chat"); // the password is never shown
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionBackend {
    /// The JSON Lines file at this path.
    File(PathBuf),
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

impl fmt::Debug for SessionBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionBackend::File(p) => f.debug_tuple("File").field(p).finish(),
            SessionBackend::Postgres(_) => {
                f.debug_tuple("Postgres").field(&self.to_string()).finish()
            }
        }
    }
}

impl fmt::Display for SessionBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionBackend::File(p) => write!(f, "{}", p.display()),
            SessionBackend::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl SessionBackend {
    /// The backend a `--sessions` value names.
    pub fn parse(spec: impl AsRef<OsStr>) -> Self {
        let spec = spec.as_ref();
        match spec.to_str() {
            Some(s) if is_postgres_url(s) => SessionBackend::Postgres(s.to_owned()),
            _ => SessionBackend::File(PathBuf::from(spec)),
        }
    }

    /// Opens the store for a few operations (a command line): for a file, a [`SessionLog`]
    /// (nothing read until needed, point lookups without loading the file); for PostgreSQL, a
    /// connection, the schema created or migrated first.
    ///
    /// # Errors
    ///
    /// [`SessionError::Database`] when the database cannot be reached within the connect
    /// timeout (5 s unless the URL sets `connect_timeout`) or refuses the login;
    /// [`SessionError::Unsupported`] in a build without the `postgres` feature.
    pub fn open(&self) -> Result<Box<dyn SessionStore>, SessionError> {
        match self {
            SessionBackend::File(path) => Ok(Box::new(SessionLog::new(path))),
            SessionBackend::Postgres(url) => open_postgres(url),
        }
    }

    /// Opens the store for a long-lived process (a chat service, `personactl serve`): for a
    /// file, a [`SessionIndex`] with every session in memory; for PostgreSQL, as
    /// [`open`](Self::open) (a connection that reconnects after a database restart).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`SessionIndex::open`]'s.
    pub fn open_long_lived(&self) -> Result<Box<dyn SessionStore>, SessionError> {
        match self {
            SessionBackend::File(path) => Ok(Box::new(SessionIndex::open(path)?)),
            SessionBackend::Postgres(url) => open_postgres(url),
        }
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Box<dyn SessionStore>, SessionError> {
    Ok(Box::new(super::postgres::PgStore::connect(url)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str) -> Result<Box<dyn SessionStore>, SessionError> {
    Err(SessionError::Unsupported {
        location: redact(url),
        feature: "postgres",
    })
}

/// Opens the store a `--sessions` value names, for a few operations: see
/// [`SessionBackend::open`].
///
/// # Errors
///
/// As [`SessionBackend::open`].
pub fn open_store(spec: &str) -> Result<Box<dyn SessionStore>, SessionError> {
    SessionBackend::parse(spec).open()
}

/// Whether `s` is a PostgreSQL connection URL.
fn is_postgres_url(s: &str) -> bool {
    ["postgres://", "postgresql://"]
        .iter()
        .any(|p| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p))
}

/// A connection URL with its password (in the user info or a `password=` parameter) removed.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let user = &authority[..at];
            let user = user.split(':').next().unwrap_or(user);
            format!("{user}@{}", &authority[at + 1..])
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{}{authority}{tail}", &url[..scheme_end])
}

/// What [`copy_links`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Links written to the target.
    pub copied: usize,
    /// Links the target already held, the same (persona, revision and time): not written.
    pub unchanged: usize,
    /// Stored revisions written to the target (those its links name that it lacked).
    pub revisions: usize,
    /// Revisions linked in the source without content there (links made before revisions
    /// were stored, or damaged content): their links are copied, their content cannot be.
    pub revisions_missing: usize,
}

/// Copies every live link of `from` into `to`, keeping each link's persona, revision and
/// time, and the stored content of every revision those links name (before the links).
/// Idempotent: links and revisions `to` already holds are not written again, so a second run
/// copies nothing. Sessions only `to` holds are left alone.
///
/// # Errors
///
/// Either backend's error; a link refused by `to` (an invalid session id) writes nothing.
pub fn copy_links(
    from: &mut dyn SessionStore,
    to: &mut dyn SessionStore,
) -> Result<Copied, SessionError> {
    let links = from.list(None)?;
    let existing: HashMap<String, Link> = to.list(None)?.into_iter().collect();
    let total = links.len();
    let have: std::collections::HashSet<String> = to.stored_revisions()?.into_iter().collect();
    let wanted: std::collections::BTreeSet<&str> = links
        .iter()
        .filter_map(|(_, l)| l.revision.as_deref())
        .collect();
    let mut contents = Vec::new();
    let mut revisions_missing = 0;
    for rev in wanted {
        if have.contains(rev) {
            continue;
        }
        match from.stored_revision(rev) {
            Ok(Some(persona)) => contents.push((rev.to_owned(), persona)),
            Ok(None) | Err(SessionError::RevisionMismatch { .. }) => revisions_missing += 1,
            Err(e) => return Err(e),
        }
    }
    let revisions = to.import_revisions(&contents)?;
    let pending: Vec<(String, Link)> = links
        .into_iter()
        .filter(|(s, l)| existing.get(s) != Some(l))
        .collect();
    to.import(&pending)?;
    Ok(Copied {
        copied: pending.len(),
        unchanged: total - pending.len(),
        revisions,
        revisions_missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        for url in [
            "postgres://h/db",
            "postgresql://u@h/db",
            "POSTGRES://h",
            "postgres://",
        ] {
            assert!(matches!(
                SessionBackend::parse(url),
                SessionBackend::Postgres(_)
            ));
        }
        for path in ["sessions.jsonl", "./postgres://x", "/var/lib/s.jsonl", "pg"] {
            assert!(matches!(
                SessionBackend::parse(path),
                SessionBackend::File(_)
            ));
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cr:et@db.internal:5432/chat?sslmode=disable"),
            "postgres://app@db.internal:5432/chat?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://h/db?user=a&password=x&connect_timeout=2"),
            "postgresql://h/db?user=a&password=***&connect_timeout=2"
        );
        assert_eq!(redact("postgres://h"), "postgres://h");
        assert_eq!(redact("postgres://u@h"), "postgres://u@h");
    }
}
