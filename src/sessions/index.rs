//! [`SessionIndex`]: every session in memory, kept up to date with the file.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::catalog::{Entry, Lookup};

use super::error::{SessionError, check_session_id};
use super::file::{FileId, Start, file_id, read_header};
use super::log::{Compaction, Durability, SessionLog, write_compacted};
use super::record::Record;
use super::resolve::{Resolution, resolve};
use super::state::{Link, State};
use super::time::Timestamp;

/// The sessions index of a long-lived process (a chat service): every live session in
/// memory, answering lookups without I/O beyond one `stat` of the file.
///
/// Links written by other processes (the command line, other servers) are seen before each
/// answer: [`get`](Self::get) and [`resolve`](Self::resolve) first check the file and read
/// only what was appended since the last look (or reload it whole after another process
/// compacted it). [`cached`](Self::cached) skips that check.
///
/// Methods that read the file take `&mut self`; share an index between threads behind a
/// `Mutex`, or give each thread its own (appends are serialised by a file lock either way).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # personas::init(dir.path())?;
/// use personas::{Catalog, DEFAULT_PERSONA_ID, Lookup, SessionIndex};
///
/// let personas = Catalog::load(dir.path())?;
/// let mut index = SessionIndex::open(dir.path().join("sessions.jsonl"))?;
/// let coach = personas.get("coach").expect("a shipped persona");
/// index.link("chat-42", coach)?;
///
/// let r = index.resolve("chat-42", &personas, DEFAULT_PERSONA_ID)?;
/// assert_eq!((r.entry.id.as_str(), r.fallback), ("coach", false));
/// let legacy = index.resolve("from-2019", &personas, DEFAULT_PERSONA_ID)?;
/// assert_eq!((legacy.entry.id.as_str(), legacy.fallback), (DEFAULT_PERSONA_ID, true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SessionIndex {
    log: SessionLog,
    reader: Option<Reader>,
    state: State,
}

/// A read handle on the file, and how far it has been replayed.
#[derive(Debug)]
struct Reader {
    file: File,
    id: FileId,
    /// Just after the last complete line applied.
    offset: u64,
    /// The file length last seen (beyond `offset`: an incomplete last line).
    seen_len: u64,
}

impl SessionIndex {
    /// Opens and loads the sessions file at `path`. A missing file is an empty index; it is
    /// created (with its folder) on the first write. Torn or unreadable lines are skipped.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotAnIndex`], [`SessionError::UnsupportedVersion`], [`SessionError::Io`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SessionError> {
        let mut index = SessionIndex {
            log: SessionLog::new(path),
            reader: None,
            state: State::default(),
        };
        index.refresh()?;
        Ok(index)
    }

    /// The same index with another [`Durability`] for its writes.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.log = self.log.with_durability(durability);
        self
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// The underlying log (its revisions file).
    pub(crate) fn log_mut(&mut self) -> &mut SessionLog {
        &mut self.log
    }

    /// Catches up with the file: reads what other processes appended since the last look, or
    /// reloads it when it was replaced (compacted) or removed. Returns whether anything changed.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn refresh(&mut self) -> Result<bool, SessionError> {
        refresh(self.log.path(), &mut self.reader, &mut self.state)
    }

    /// Links `session` to `persona` (one durable, locked append) and returns the link.
    ///
    /// # Errors
    ///
    /// As [`SessionLog::link`].
    pub fn link(&mut self, session: &str, persona: &Entry) -> Result<Link, SessionError> {
        let link = self.log.link(session, persona)?;
        self.refresh()?;
        Ok(link)
    }

    /// Writes `links` exactly as given (revisions and times kept): see
    /// [`SessionLog::append_links`].
    ///
    /// # Errors
    ///
    /// As [`SessionLog::append_links`].
    pub fn append_links(&mut self, links: &[(String, Link)]) -> Result<(), SessionError> {
        self.log.append_links(links)?;
        self.refresh()?;
        Ok(())
    }

    /// Unlinks `session`; `false` (nothing written) when it is not linked.
    ///
    /// # Errors
    ///
    /// As [`SessionLog::unlink`].
    pub fn unlink(&mut self, session: &str) -> Result<bool, SessionError> {
        if self.get(session)?.is_none() {
            return Ok(false); // without locking, or creating a missing file
        }
        let record = Record::Unlink {
            session: session.into(),
            at: Timestamp::now(),
        };
        let (reader, state) = (&mut self.reader, &mut self.state);
        let path = self.log.path().to_path_buf();
        let written = self.log.write(&record, |_, _| {
            // Under the lock: nobody can link or unlink it between this look and the append.
            refresh(&path, reader, state)?;
            Ok(state.map.contains_key(session))
        })?;
        self.refresh()?;
        Ok(written)
    }

    /// The link of `session`, after catching up with the file.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidSession`], or as [`refresh`](Self::refresh).
    pub fn get(&mut self, session: &str) -> Result<Option<&Link>, SessionError> {
        check_session_id(session)?;
        self.refresh()?;
        Ok(self.state.map.get(session))
    }

    /// The link of `session` as last seen, without looking at the file.
    #[must_use]
    pub fn cached(&self, session: &str) -> Option<&Link> {
        self.state.map.get(session)
    }

    /// The persona `session` should use, after catching up with the file: see [`Resolution`].
    ///
    /// # Errors
    ///
    /// [`SessionError::DefaultMissing`] when the session falls back and `default` is not in
    /// `personas`; otherwise as [`get`](Self::get).
    pub fn resolve<'p, L: Lookup + ?Sized>(
        &mut self,
        session: &str,
        personas: &'p L,
        default: &str,
    ) -> Result<Resolution<'p>, SessionError> {
        let link = self.get(session)?.cloned();
        resolve(session, link, personas, default)
    }

    /// Every live session and its link as last seen, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Link)> {
        self.state.map.iter().map(|(s, l)| (&**s, l))
    }

    /// The number of live sessions as last seen.
    #[must_use]
    pub fn len(&self) -> usize {
        self.state.map.len()
    }

    /// Whether no session is linked (as last seen).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.state.map.is_empty()
    }

    /// How many unreadable (torn) lines were skipped while loading.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.state.skipped
    }

    /// Rewrites the file to one line per live session, sorted by session id, atomically
    /// (temporary file, fsync, rename, fsync of the folder) and under the lock. Readers and
    /// writers in other processes see either the old file or the new one, never a mix.
    ///
    /// # Errors
    ///
    /// A file that is not ours, [`SessionError::Io`].
    pub fn compact(&mut self) -> Result<Compaction, SessionError> {
        let path = self.log.path().to_path_buf();
        let (log, reader, state) = (&mut self.log, &mut self.reader, &mut self.state);
        let result = log.with_lock(|locked, revisions| {
            refresh(&path, reader, state)?;
            if let Some(r) = reader {
                state
                    .replay_all(&r.file, r.offset)
                    .map_err(SessionError::io(&path))?;
            }
            write_compacted(locked, state, revisions)
        });
        // Whatever happened, look at the file afresh: it is the new one after a success.
        *reader = None;
        let reload = refresh(&path, reader, state);
        let compaction = result?;
        reload?;
        Ok(compaction)
    }
}

/// Catches `state` up with the file at `path`.
fn refresh(
    path: &Path,
    reader: &mut Option<Reader>,
    state: &mut State,
) -> Result<bool, SessionError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(clear(reader, state)),
        Err(e) => return Err(SessionError::io(path)(e)),
    };
    let len = meta.len();
    if let Some(r) = reader
        && r.id == file_id(&meta)
        && len >= r.offset
    {
        if len == r.seen_len {
            return Ok(false);
        }
        let scan = state
            .replay(&r.file, r.offset)
            .map_err(SessionError::io(path))?;
        let changed = scan.end != r.offset;
        r.offset = scan.end;
        r.seen_len = scan.end + scan.partial.len() as u64;
        return Ok(changed);
    }
    // First look, or the file was replaced or cut: load it whole.
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(clear(reader, state)),
        Err(e) => return Err(SessionError::io(path)(e)),
    };
    let id = file_id(&file.metadata().map_err(SessionError::io(path))?);
    let Start::Header(header) = read_header(&file, path)? else {
        return Ok(clear(reader, state));
    };
    // Compacted lines are about 100 bytes: size the table once rather than grow it.
    let guess = file
        .metadata()
        .map_or(0, |m| m.len().saturating_sub(header.end) / 110);
    let mut fresh = State::with_capacity(usize::try_from(guess).unwrap_or(0));
    let scan = fresh
        .replay_pipelined(&file, header.end)
        .map_err(SessionError::io(path))?;
    *state = fresh;
    *reader = Some(Reader {
        file,
        id,
        offset: scan.end,
        seen_len: scan.end + scan.partial.len() as u64,
    });
    Ok(true)
}

fn clear(reader: &mut Option<Reader>, state: &mut State) -> bool {
    let changed = reader.is_some() || !state.map.is_empty();
    *reader = None;
    *state = State::default();
    changed
}
