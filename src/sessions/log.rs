//! [`SessionLog`]: the sessions file used directly, one operation at a time, without loading
//! it (what a command line tool needs).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::catalog::Entry;

use super::error::{SessionError, check_session_id};
use super::file::{Locked, Start, Writer, lock_for_write, read_header, replace};
use super::lookup::find;
use super::record::Record;
use super::revisions::RevisionFile;
use super::state::{Link, State};
#[cfg(doc)]
use super::store::SessionStore;
use super::time::Timestamp;

/// When a write is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Each link and unlink is on disk when the call returns (`fdatasync`): it survives a
    /// power loss. The default.
    #[default]
    Sync,
    /// Each link and unlink is handed to the operating system when the call returns: it
    /// survives a crash of the process, not of the machine. Much faster. Compaction always
    /// syncs.
    Buffered,
}

/// What [`SessionLog::compact`] and [`SessionIndex::compact`](crate::SessionIndex::compact) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Live sessions kept (one line each).
    pub sessions: usize,
    /// The file's size before.
    pub bytes_before: u64,
    /// The file's size after.
    pub bytes_after: u64,
    /// Unreadable (torn) lines dropped.
    pub skipped: usize,
    /// Stored revisions kept: those a live session is linked at.
    pub revisions_kept: usize,
    /// Stored revisions dropped: no live session is linked at them (or their content was
    /// damaged).
    pub revisions_dropped: usize,
}

/// The sessions file, used one operation at a time: a link or an unlink is one locked
/// append, and [`get`](Self::get) finds one session without loading the file (a binary
/// search of the compacted part, then a scan of what was appended since).
///
/// For a long-lived process that answers many lookups, use
/// [`SessionIndex`](crate::SessionIndex), which keeps every session in memory.
#[derive(Debug)]
pub struct SessionLog {
    path: PathBuf,
    durability: Durability,
    writer: Option<Writer>,
    /// The revisions file beside it.
    revisions: RevisionFile,
    /// Unreadable lines skipped by the last full read ([`SessionStore::list`]).
    skipped: usize,
}

impl SessionLog {
    /// The sessions file at `path`. Nothing is read or created until an operation needs it.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        SessionLog {
            revisions: RevisionFile::new(&path),
            path,
            durability: Durability::default(),
            writer: None,
            skipped: 0,
        }
    }

    /// The same log with another [`Durability`].
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn set_skipped(&mut self, skipped: usize) {
        self.skipped = skipped;
    }

    pub(crate) fn last_skipped(&self) -> usize {
        self.skipped
    }

    /// The revisions stored beside the file.
    pub(crate) fn revisions(&mut self) -> &mut RevisionFile {
        &mut self.revisions
    }

    /// Stores the content of revisions (checked against their revisions) that are not stored
    /// yet, under the lock: what copying from another backend needs. Returns how many were
    /// written.
    ///
    /// # Errors
    ///
    /// [`SessionError::RevisionMismatch`] for content that does not hash to its revision
    /// (nothing written), or as [`link`](Self::link).
    pub(crate) fn import_revisions(
        &mut self,
        items: &[(String, std::sync::Arc<crate::persona::Persona>)],
    ) -> Result<usize, SessionError> {
        if items.is_empty() {
            return Ok(0);
        }
        let sync = self.durability == Durability::Sync;
        self.with_lock(|_, revisions| revisions.import(items, sync))
    }

    /// Links `session` to `persona` (its id and revision) with one locked append, creating the
    /// file and its folder if needed. The persona's content is stored first in the revisions
    /// file beside it, when that revision is not stored yet (see [`SessionStore`]).
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidSession`] (nothing is written), [`SessionError::NotAnIndex`] or
    /// [`SessionError::UnsupportedVersion`] for a file that is not ours, [`SessionError::Io`].
    pub fn link(&mut self, session: &str, persona: &Entry) -> Result<Link, SessionError> {
        check_session_id(session)?;
        let at = Timestamp::now();
        let record = Record::Link {
            session: session.into(),
            persona: persona.id.as_str().into(),
            revision: Some(persona.revision.as_str().into()),
            at,
        };
        let sync = self.durability == Durability::Sync;
        self.write(&record, |_, revisions| {
            revisions.ensure(persona, sync)?;
            Ok(true)
        })?;
        Ok(Link::from_record(&persona.id, Some(&persona.revision), at))
    }

    /// Unlinks `session`. Returns `false`, writing nothing, when it is not linked.
    ///
    /// # Errors
    ///
    /// As [`link`](Self::link).
    pub fn unlink(&mut self, session: &str) -> Result<bool, SessionError> {
        if self.get(session)?.is_none() {
            return Ok(false); // without locking, or creating a missing file
        }
        let record = Record::Unlink {
            session: session.into(),
            at: Timestamp::now(),
        };
        self.write(&record, |locked, _| {
            find(&locked.writer.file, locked.header, locked.len, session)
                .map(|link| link.is_some())
                .map_err(SessionError::io(locked.path))
        })
    }

    /// Appends `record` under the lock when `precondition` (checked under the lock) holds.
    pub(crate) fn write(
        &mut self,
        record: &Record<'_>,
        precondition: impl FnOnce(&Locked<'_>, &mut RevisionFile) -> Result<bool, SessionError>,
    ) -> Result<bool, SessionError> {
        self.write_bytes(&record.encode(), precondition)
    }

    /// Writes `links` exactly as given (their revisions and times kept), as one locked append
    /// per few megabytes and one sync at the end: what copying links from another backend
    /// needs. Session ids are checked first; nothing is written when one is refused.
    ///
    /// # Errors
    ///
    /// As [`link`](Self::link).
    pub fn append_links(&mut self, links: &[(String, Link)]) -> Result<(), SessionError> {
        for (session, _) in links {
            check_session_id(session)?;
        }
        let mut buf = Vec::new();
        for (i, (session, link)) in links.iter().enumerate() {
            let record = Record::Link {
                session: session.as_str().into(),
                persona: (*link.persona).into(),
                revision: link.revision.as_deref().map(Into::into),
                at: link.at,
            };
            buf.extend_from_slice(&record.encode());
            if buf.len() >= 4 << 20 || i + 1 == links.len() {
                self.write_bytes(&buf, |_, _| Ok(true))?;
                buf.clear();
            }
        }
        Ok(())
    }

    /// Appends `bytes` (whole records) under the lock when `precondition` holds.
    fn write_bytes(
        &mut self,
        bytes: &[u8],
        precondition: impl FnOnce(&Locked<'_>, &mut RevisionFile) -> Result<bool, SessionError>,
    ) -> Result<bool, SessionError> {
        let sync = self.durability == Durability::Sync;
        let (path, writer, revisions) = (&self.path, &mut self.writer, &mut self.revisions);
        let mut locked = lock_for_write(path, writer, sync)?;
        if locked.sorted_region_damaged() {
            // The file was cut inside its sorted part: rewrite it before appending.
            compact_locked(&locked, revisions)?;
            drop(locked);
            *writer = None;
            locked = lock_for_write(path, writer, sync)?;
        }
        if !precondition(&locked, revisions)? {
            return Ok(false);
        }
        locked.append(bytes)?;
        drop(locked);
        if sync && let Some(w) = &self.writer {
            // After the unlock, so that concurrent writers' syncs overlap (group commit).
            w.file.sync_data().map_err(SessionError::io(&self.path))?;
        }
        Ok(true)
    }

    /// The link of `session`, without loading the whole file; `None` when it is not linked or
    /// the file does not exist.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidSession`], a file that is not ours, [`SessionError::Io`].
    pub fn get(&self, session: &str) -> Result<Option<Link>, SessionError> {
        check_session_id(session)?;
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SessionError::io(&self.path)(e)),
        };
        let Start::Header(header) = read_header(&file, &self.path)? else {
            return Ok(None);
        };
        let len = file.metadata().map_err(SessionError::io(&self.path))?.len();
        find(&file, header, len, session).map_err(SessionError::io(&self.path))
    }

    /// Runs `f` with the file locked for writing (its header checked); the handle is dropped
    /// afterwards, since `f` may have replaced the file.
    pub(crate) fn with_lock<T>(
        &mut self,
        f: impl FnOnce(&Locked<'_>, &mut RevisionFile) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        let sync = self.durability == Durability::Sync;
        let locked = lock_for_write(&self.path, &mut self.writer, sync)?;
        let result = f(&locked, &mut self.revisions);
        drop(locked);
        self.writer = None;
        result
    }

    /// Rewrites the file to one line per live session, sorted by session id (so that
    /// [`get`](Self::get) can binary-search it), atomically and under the lock; the revisions
    /// file beside it first, to the revisions a live session is linked at.
    ///
    /// # Errors
    ///
    /// A file that is not ours, [`SessionError::Io`].
    pub fn compact(&mut self) -> Result<Compaction, SessionError> {
        self.with_lock(compact_locked)
    }
}

/// Compacts the file held by `locked` from a fresh replay of it.
fn compact_locked(
    locked: &Locked<'_>,
    revisions: &mut RevisionFile,
) -> Result<Compaction, SessionError> {
    let mut state = State::default();
    state
        .replay_all(&locked.writer.file, locked.header.end)
        .map_err(SessionError::io(locked.path))?;
    write_compacted(locked, &state, revisions)
}

/// Replaces the file held by `locked` with the sessions of `state`, sorted.
pub(crate) fn write_compacted(
    locked: &Locked<'_>,
    state: &State,
    revisions: &mut RevisionFile,
) -> Result<Compaction, SessionError> {
    // Revisions first: a crash between the two leaves every live session's revision stored.
    let keep: std::collections::BTreeSet<&str> = state
        .map
        .values()
        .filter_map(|l| l.revision.as_deref())
        .collect();
    let (revisions_kept, revisions_dropped) = revisions.compact(&keep)?;
    let mut sessions: Vec<(&str, &Link)> = state.map.iter().map(|(s, l)| (&**s, l)).collect();
    sessions.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut body = Vec::with_capacity(sessions.len() * 120);
    for (session, link) in &sessions {
        let record = Record::Link {
            session: (*session).into(),
            persona: (*link.persona).into(),
            revision: link.revision.as_deref().map(Into::into),
            at: link.at,
        };
        body.extend_from_slice(&record.encode());
    }
    let bytes_after = replace(locked.path, &body)?;
    Ok(Compaction {
        sessions: sessions.len(),
        bytes_before: locked.len,
        bytes_after,
        skipped: state.skipped,
        revisions_kept,
        revisions_dropped,
    })
}
