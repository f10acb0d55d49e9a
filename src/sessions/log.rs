//! [`SessionLog`]: the sessions file used directly, one operation at a time, without loading
//! it (what a command line tool needs).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use compact_str::CompactString;
use foldhash::fast::RandomState;

use crate::catalog::{Entry, revision};
use crate::persona::Persona;

use super::error::{SessionError, check_session_id};
use super::file::{
    FileId, Locked, Start, Writer, file_id, lock_for_write, read_full_at, read_header, replace,
    scan_lines,
};
use super::lookup::find;
use super::record::{Record, inline_content, inline_revision};
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

/// What a write does, as decided under the lock.
pub(crate) enum Verdict {
    /// Nothing.
    Skip,
    /// Appends the bytes given.
    Write,
    /// Appends these instead: a link that carries its new revision's content.
    Instead(Vec<u8>),
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
    /// The revisions whose content links carry in their own line.
    inline: Inline,
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
            inline: Inline::default(),
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

    /// The stored content of `rev`, checked: from the revisions file, or else from the link
    /// that brought it, which carries it in its own line (the revisions file is flushed
    /// lazily, so a crash may have lost its last records, never the link's). Damaged content
    /// in the revisions file is reported ([`SessionError::RevisionMismatch`]), as before.
    ///
    /// # Errors
    ///
    /// [`SessionError::RevisionMismatch`], [`SessionError::Io`].
    pub(crate) fn stored_revision(
        &mut self,
        rev: &str,
    ) -> Result<Option<Arc<Persona>>, SessionError> {
        match self.revisions.get(rev)? {
            Some(persona) => Ok(Some(persona)),
            None => self.inline.get(&self.path, rev),
        }
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
            revision: Some(persona.revision().into()),
            at,
        };
        let inline = self.durability == Durability::Sync;
        self.write_bytes(&record.encode(), |_, revisions| {
            Ok(match revisions.ensure(persona)? {
                // A new revision, appended to the revisions file without a flush: the link
                // carries it in its own line, so that flushing the log makes both durable.
                Some(content) if inline => Verdict::Instead(record.encode_with_content(&content)),
                _ => Verdict::Write,
            })
        })?;
        Ok(Link::from_record(&persona.id, Some(persona.revision()), at))
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
        self.write_bytes(&record.encode(), |locked, revisions| {
            Ok(if precondition(locked, revisions)? {
                Verdict::Write
            } else {
                Verdict::Skip
            })
        })
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
                self.write_bytes(&buf, |_, _| Ok(Verdict::Write))?;
                buf.clear();
            }
        }
        Ok(())
    }

    /// Appends `bytes` (whole records) under the lock, or what `precondition` (checked under
    /// the lock) says instead.
    fn write_bytes(
        &mut self,
        bytes: &[u8],
        precondition: impl FnOnce(&Locked<'_>, &mut RevisionFile) -> Result<Verdict, SessionError>,
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
        revisions.locked();
        let verdict = precondition(&locked, revisions)?;
        let (bytes, inline) = match &verdict {
            Verdict::Skip => return Ok(false),
            Verdict::Write => (bytes, false),
            Verdict::Instead(line) => (&line[..], true),
        };
        if sync && !inline {
            // Every revision a link in the file may name so far, by any writer: flushed
            // below before this file, so that no link reaches the disk without its revision.
            revisions.note_length()?;
        }
        locked.append(bytes)?;
        drop(locked);
        if sync && let Some(w) = &self.writer {
            // After the unlock, so that concurrent writers' syncs overlap (group commit):
            // the revisions first, then the links. A link that carries its revision's
            // content needs only its own flush.
            if !inline {
                revisions.flush_seen()?;
            }
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
        self.revisions.locked();
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
    // Revisions the revisions file lacks (lost in a crash) that links carry in their own
    // line: kept, since the compacted log drops the links' content.
    let mut inline = HashMap::new();
    let missing = revisions.missing(keep.iter().copied())?;
    if !missing.is_empty() {
        let mut index = Inline::default();
        for rev in missing {
            if let Some(persona) = index.get(locked.path, rev)? {
                inline.insert(rev.to_owned(), persona);
            }
        }
    }
    let (revisions_kept, revisions_dropped) = revisions.compact(&keep, &inline)?;
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

/// Where links carry their revision's content in their own line (the lines after the sorted
/// region that hold [`CONTENT_KEY`](super::record::CONTENT_KEY)), found by a scan on the first look-up that the revisions
/// file cannot answer, then kept up to date by scanning only what was appended since.
#[derive(Debug, Default)]
struct Inline {
    /// The file scanned, and how far.
    id: Option<FileId>,
    scanned: u64,
    /// Revision → the last line carrying it (offset, length), and its content once checked.
    at: HashMap<CompactString, (u64, usize, Option<Arc<Persona>>), RandomState>,
}

impl Inline {
    /// The content of `rev` as the last link that carries it holds it, checked against it;
    /// `None` when no link carries it (or its copy does not hash to it).
    fn get(&mut self, path: &Path, rev: &str) -> Result<Option<Arc<Persona>>, SessionError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SessionError::io(path)(e)),
        };
        let meta = file.metadata().map_err(SessionError::io(path))?;
        let Start::Header(header) = read_header(&file, path)? else {
            return Ok(None);
        };
        let id = file_id(&meta);
        if self.id != Some(id) || meta.len() < self.scanned {
            // New, replaced (compacted) or cut: from the start of what is not sorted (a
            // compaction writes no content).
            self.id = Some(id);
            self.at.clear();
            self.scanned = (header.end + header.sorted_bytes).min(meta.len());
        }
        if meta.len() > self.scanned {
            let at = &mut self.at;
            let scan = scan_lines(&file, self.scanned, None, |line, offset| {
                if let Some(r) = inline_revision(line) {
                    at.insert(r.into(), (offset, line.len(), None));
                }
            })
            .map_err(SessionError::io(path))?;
            self.scanned = scan.end;
        }
        let Some((offset, len, content)) = self.at.get_mut(rev) else {
            return Ok(None);
        };
        if let Some(persona) = content {
            return Ok(Some(Arc::clone(persona)));
        }
        let mut buf = vec![0u8; *len];
        let n = read_full_at(&file, &mut buf, *offset).map_err(SessionError::io(path))?;
        buf.truncate(n);
        match inline_content(&buf) {
            Some((r, persona)) if r == rev && revision(&persona) == rev => {
                let persona = Arc::new(persona);
                *content = Some(Arc::clone(&persona));
                Ok(Some(persona))
            }
            _ => Ok(None),
        }
    }
}
