//! The revisions file beside a sessions file: the content of every persona revision a session
//! was linked at, stored once per revision, so that a pinned session gets exactly the persona
//! it started with.
//!
//! `<name>.revisions.jsonl` beside `<name>.jsonl` (or `<file>.revisions.jsonl` beside a file
//! without that extension): a header line, `{"format":"personactl-revisions","version":1}`,
//! then one record per line, `{"revision":"0123456789abcdef","persona":{…}}`, the persona in
//! its canonical JSON form (what its revision hashes).
//!
//! - Written only under the sessions file's lock (a link, a compaction, an import), so that
//!   appends are serialised across processes, and a compaction never drops a revision that a
//!   link being written needs. A revision is appended (and synced) before the link that names
//!   it, and only when it is not stored yet: most links write nothing here.
//! - Read without a lock: an in-memory index (revision → where its line is) is built from a
//!   scan of the line prefixes on first use, then kept up to date by reading only what was
//!   appended since (or the whole file again after a compaction replaced it).
//! - A torn last line (a crash mid-append) is skipped; the next append first ends it. Content
//!   is checked when read back: a record whose persona does not hash to its revision is
//!   reported ([`SessionError::RevisionMismatch`]), never served, and the next link at that
//!   revision appends a good copy (the last record of a revision wins).

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};

use compact_str::CompactString;
use foldhash::fast::RandomState;

use crate::catalog::{Entry, revision};
use crate::persona::Persona;

use super::error::SessionError;
use super::file::{FileId, file_id, read_full_at, scan_lines, sync_dir};
use super::tmp::{remove_stale_temps, temp_path};

/// The `format` value of the header line.
const FORMAT: &str = "personactl-revisions";
/// The header line personactl writes.
const HEADER: &[u8] = b"{\"format\":\"personactl-revisions\",\"version\":1}\n";
/// Every record personactl writes starts with this.
const RECORD_PREFIX: &[u8] = br#"{"revision":""#;
/// … and this follows the revision.
const PERSONA_KEY: &[u8] = br#"","persona":"#;

/// Where the revisions of the sessions file at `sessions` are.
pub(crate) fn revisions_path(sessions: &Path) -> PathBuf {
    let name = sessions
        .file_name()
        .map_or_else(|| "sessions".into(), |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name);
    sessions.with_file_name(format!("{stem}.revisions.jsonl"))
}

/// The canonical JSON of a persona: the bytes its revision hashes.
pub(crate) use crate::check::catalog::canonical;

/// One record as a line, newline included.
pub(crate) fn record_line(revision: &str, persona: &Persona) -> Vec<u8> {
    record_line_of(revision, &canonical(persona))
}

/// One record as a line, from the persona's canonical JSON `body`.
fn record_line_of(revision: &str, body: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(body.len() + 48);
    line.extend_from_slice(RECORD_PREFIX);
    // A revision is hex digits (checked by the callers): no escaping needed.
    line.extend_from_slice(revision.as_bytes());
    line.extend_from_slice(PERSONA_KEY);
    line.extend_from_slice(body);
    line.extend_from_slice(b"}\n");
    line
}

/// Whether `s` looks like a revision: 1–64 lowercase hex digits.
pub(crate) fn is_revision(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses the content of a record and checks that it hashes to `revision`.
pub(crate) fn verify(revision_id: &str, persona_json: &[u8]) -> Result<Persona, &'static str> {
    let persona: Persona =
        serde_json::from_slice(persona_json).map_err(|_| "its content is not a valid persona")?;
    if revision(&persona) == revision_id {
        Ok(persona)
    } else {
        Err("its content does not hash to its revision")
    }
}

/// One problem of a revisions file, found by [`problems`].
pub(crate) struct Problem {
    /// 1-based line.
    pub line: usize,
    /// The line as stored (without its newline).
    pub text: Vec<u8>,
    /// What is wrong with it.
    pub message: String,
}

/// Every problem of the revisions file at `path` (read only): a header that is not ours, a
/// line that is not a record, a record whose content does not hash to its revision, a last
/// line cut short. `None` when the file does not exist.
///
/// # Errors
///
/// [`SessionError::Io`] when it cannot be read.
pub(crate) fn problems(path: &Path) -> Result<Option<Vec<Problem>>, SessionError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SessionError::io(path)(e)),
    };
    let mut out = Vec::new();
    let start = match header_end(&file, path) {
        Ok(Some(start)) => start,
        Ok(None) if file.metadata().map_err(SessionError::io(path))?.len() == 0 => {
            return Ok(Some(out));
        }
        Ok(None) | Err(_) => {
            out.push(Problem {
                line: 1,
                text: Vec::new(),
                message: "this is not a personactl revisions file: the first line is not its header; no stored revision is served from it".into(),
            });
            return Ok(Some(out));
        }
    };
    let mut line_no = 1usize;
    let scan = scan_lines(&file, start, None, |line, _| {
        line_no += 1;
        let reason = match parse_line(line) {
            None => Some(
                "this line is not a valid revisions record (a torn write, or a hand edit)"
                    .to_owned(),
            ),
            Some((rev, span)) => check_record(&rev, line, span)
                .err()
                .map(|why| format!("stored revision `{rev}`: {why}; it is never served")),
        };
        if let Some(message) = reason {
            out.push(Problem {
                line: line_no,
                text: line.to_vec(),
                message,
            });
        }
    })
    .map_err(SessionError::io(path))?;
    if !scan.partial.is_empty() {
        out.push(Problem {
            line: line_no + 1,
            text: scan.partial.clone(),
            message: "the last line is incomplete (a write was cut short); it is ignored".into(),
        });
    }
    Ok(Some(out))
}

/// The persona of a record `line` for `rev` (`span`: where its JSON is, as [`parse_line`]
/// found it, or `None` for a record of another JSON shape), checked against its revision.
/// Serving a pinned persona and `validate --sessions` judge a record by this.
fn check_record(
    rev: &str,
    line: &[u8],
    span: Option<(usize, usize)>,
) -> Result<Persona, &'static str> {
    match span {
        Some((start, end)) => verify(rev, &line[start..end]),
        None => {
            #[derive(serde::Deserialize)]
            struct Raw {
                persona: serde_json::Value,
            }
            serde_json::from_slice::<Raw>(line)
                .map_err(|_| "its record is not valid JSON")
                .and_then(|raw| verify(rev, &serde_json::to_vec(&raw.persona).unwrap_or_default()))
        }
    }
}

/// The revision a line holds and where its persona's JSON is within it; `None` for a line
/// that is not a record (torn, damaged).
fn parse_line(line: &[u8]) -> Option<(CompactString, Option<(usize, usize)>)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(rest) = line.strip_prefix(RECORD_PREFIX)
        && let Some(end) = memchr::memchr(b'"', rest)
        && rest[end..].starts_with(PERSONA_KEY)
        && line.ends_with(b"}")
    {
        let rev = std::str::from_utf8(&rest[..end]).ok()?;
        if !is_revision(rev) {
            return None;
        }
        let start = RECORD_PREFIX.len() + end + PERSONA_KEY.len();
        return Some((rev.into(), Some((start, line.len() - 1))));
    }
    // Any other JSON shape (hand-written, keys reordered): the general parser.
    #[derive(serde::Deserialize)]
    struct Raw {
        revision: String,
        persona: serde_json::Value,
    }
    let raw: Raw = serde_json::from_slice(line).ok()?;
    if !is_revision(&raw.revision) || !raw.persona.is_object() {
        return None;
    }
    Some((raw.revision.into(), None))
}

/// Where a revision's line is, and what is known of its content.
#[derive(Debug, Clone)]
struct Slot {
    offset: u64,
    len: usize,
    /// The content, once read and checked.
    content: Option<Arc<Persona>>,
}

/// The open file, and how far it has been indexed.
#[derive(Debug)]
struct Reader {
    file: File,
    id: FileId,
    /// Just after the last complete line indexed.
    offset: u64,
    /// The file's length when last indexed (beyond `offset`: a torn last line).
    len: u64,
}

/// The revisions beside one sessions file: its index in memory, kept up to date.
#[derive(Debug)]
pub(crate) struct RevisionFile {
    path: PathBuf,
    reader: Option<Reader>,
    slots: HashMap<CompactString, Slot, RandomState>,
    /// Unreadable lines skipped while indexing.
    pub skipped: usize,
    /// Whether stale temporary files of dead writers were looked for.
    swept: bool,
    /// The file's length when this handle last looked (under the sessions file's lock), and
    /// the length this handle knows to be on disk: see [`RevisionFile::flush_seen`].
    seen: Durable,
    /// A handle for appending and flushing, kept between links: the file it is open on, and
    /// the flushes of that file shared with this process's other handles on it.
    appender: Option<(File, FileId, Arc<Group>)>,
    /// What the last [`refresh`](Self::refresh) under the current lock saw of the file (its
    /// id and length, `None` inside: missing), kept up to date by this handle's appends and
    /// forgotten when a lock is taken ([`locked`](Self::locked)): so that
    /// [`note_length`](Self::note_length) after a refresh needs no second `stat`.
    look: Option<Option<(FileId, u64)>>,
}

/// How much of the revisions file a handle has seen and knows flushed, for the file it saw.
#[derive(Debug, Default, Clone, Copy)]
struct Durable {
    id: Option<super::file::FileId>,
    seen: u64,
    flushed: u64,
    /// The file was created by this handle and its folder not flushed yet.
    created: bool,
}

impl RevisionFile {
    /// The revisions of the sessions file at `sessions`. Nothing is read until needed.
    pub(crate) fn new(sessions: &Path) -> Self {
        RevisionFile {
            path: revisions_path(sessions),
            reader: None,
            slots: HashMap::default(),
            skipped: 0,
            swept: false,
            seen: Durable::default(),
            appender: None,
            look: None,
        }
    }

    /// The sessions file's lock was just taken: what was seen of this file before may be
    /// out of date.
    pub(crate) fn locked(&mut self) {
        self.look = None;
    }

    /// Under the sessions file's lock: notes how long the revisions file is now, so that
    /// [`flush_seen`](Self::flush_seen) after the lock flushes every revision that a link
    /// appended so far (by any writer) may name.
    pub(crate) fn note_length(&mut self) -> Result<(), SessionError> {
        let look = match self.look {
            Some(look) => Ok(look),
            None => match fs::metadata(&self.path) {
                Ok(meta) => Ok(Some((file_id(&meta), meta.len()))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        };
        match look {
            Ok(Some((id, len))) => {
                if self.seen.id != Some(id) {
                    // New to this handle (or replaced): nothing of it is known to be flushed.
                    self.seen = Durable {
                        id: Some(id),
                        created: self.seen.created,
                        ..Durable::default()
                    };
                }
                self.seen.seen = len;
                Ok(())
            }
            Ok(None) => {
                self.seen = Durable::default();
                Ok(())
            }
            Err(e) => Err(SessionError::io(&self.path)(e)),
        }
    }

    /// After the sessions file's lock, before the sessions file is flushed: flushes the
    /// revisions file when it grew past what this handle knows flushed (one `fdatasync`,
    /// none when no revision was added). So a link that reaches the disk finds its revision
    /// there, whichever writer's flush carries it; and concurrent writers' flushes overlap
    /// instead of queueing behind the lock.
    pub(crate) fn flush_seen(&mut self) -> Result<(), SessionError> {
        if self.seen.seen <= self.seen.flushed && !self.seen.created {
            return Ok(());
        }
        match (&self.appender, self.seen.id) {
            // Shared with this process's other handles on the same file: one flush covers
            // every writer waiting for it (group commit).
            (Some((file, id, group)), Some(seen)) if *id == seen => group
                .sync(file, self.seen.seen)
                .map_err(SessionError::io(&self.path))?,
            _ => File::open(&self.path)
                .and_then(|f| f.sync_data())
                .map_err(SessionError::io(&self.path))?,
        }
        if self.seen.created {
            sync_dir(&self.path)?;
            self.seen.created = false;
        }
        self.seen.flushed = self.seen.flushed.max(self.seen.seen);
        Ok(())
    }

    /// Catches up with the file: indexes what was appended since the last look, or the whole
    /// file when it is new to this handle, was replaced (compacted) or cut.
    pub(crate) fn refresh(&mut self) -> Result<(), SessionError> {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.reader = None;
                self.slots.clear();
                self.look = Some(None);
                return Ok(());
            }
            Err(e) => return Err(SessionError::io(&self.path)(e)),
        };
        self.look = Some(Some((file_id(&meta), meta.len())));
        if let Some(r) = &self.reader
            && r.id == file_id(&meta)
            && meta.len() >= r.offset
        {
            if meta.len() > r.offset {
                let start = r.offset;
                self.index_from(start)?;
            } else if let Some(r) = &mut self.reader {
                r.len = meta.len();
            }
            return Ok(());
        }
        self.slots.clear();
        self.skipped = 0;
        self.reader = None;
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(SessionError::io(&self.path)(e)),
        };
        let id = file_id(&file.metadata().map_err(SessionError::io(&self.path))?);
        let Some(start) = header_end(&file, &self.path)? else {
            return Ok(()); // empty, or a header cut short: nothing stored
        };
        self.reader = Some(Reader {
            file,
            id,
            offset: start,
            len: start,
        });
        self.index_from(start)
    }

    fn index_from(&mut self, start: u64) -> Result<(), SessionError> {
        let Some(r) = &mut self.reader else {
            return Ok(());
        };
        let (slots, skipped) = (&mut self.slots, &mut self.skipped);
        let scan = scan_lines(&r.file, start, None, |line, offset| {
            match parse_line(line) {
                // The last record of a revision wins: a good copy appended after a damaged one.
                Some((rev, _)) => {
                    slots.insert(
                        rev,
                        Slot {
                            offset,
                            len: line.len(),
                            content: None,
                        },
                    );
                }
                None => *skipped += 1,
            }
        })
        .map_err(SessionError::io(&self.path))?;
        r.offset = scan.end;
        r.len = scan.end + scan.partial.len() as u64;
        Ok(())
    }

    /// Every stored revision (as indexed; content not checked), sorted.
    pub(crate) fn revisions(&mut self) -> Result<Vec<String>, SessionError> {
        self.refresh()?;
        let set: BTreeSet<&str> = self.slots.keys().map(|k| k.as_str()).collect();
        Ok(set.into_iter().map(str::to_owned).collect())
    }

    /// Those of `revisions` that are not stored here (as indexed now).
    pub(crate) fn missing<'a>(
        &mut self,
        revisions: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<&'a str>, SessionError> {
        self.refresh()?;
        Ok(revisions
            .into_iter()
            .filter(|r| !self.slots.contains_key(*r))
            .collect())
    }

    /// The content of `revision`, checked; `None` when it is not stored.
    ///
    /// # Errors
    ///
    /// [`SessionError::RevisionMismatch`] when the stored content does not hash to it.
    pub(crate) fn get(&mut self, revision: &str) -> Result<Option<Arc<Persona>>, SessionError> {
        self.refresh()?;
        self.load(revision)
    }

    /// As [`get`](Self::get), without catching up first.
    fn load(&mut self, rev: &str) -> Result<Option<Arc<Persona>>, SessionError> {
        let Some(slot) = self.slots.get(rev) else {
            return Ok(None);
        };
        if let Some(content) = &slot.content {
            return Ok(Some(Arc::clone(content)));
        }
        let Some(r) = &self.reader else {
            return Ok(None);
        };
        let mut buf = vec![0u8; slot.len];
        let n =
            read_full_at(&r.file, &mut buf, slot.offset).map_err(SessionError::io(&self.path))?;
        buf.truncate(n);
        let checked = match parse_line(&buf) {
            Some((_, span)) => check_record(rev, &buf, span),
            None => Err("its record cannot be read"),
        };
        match checked {
            Ok(persona) => {
                let persona = Arc::new(persona);
                if let Some(slot) = self.slots.get_mut(rev) {
                    slot.content = Some(Arc::clone(&persona));
                }
                Ok(Some(persona))
            }
            Err(reason) => Err(SessionError::RevisionMismatch {
                location: self.path.display().to_string(),
                revision: rev.to_owned(),
                reason,
            }),
        }
    }

    /// Under the sessions file's lock: makes sure `entry`'s revision is stored, appending it
    /// when it is not (or when the stored copy is damaged). Most calls find it stored and
    /// write nothing (one `stat` of the file). What it appends is flushed by
    /// [`flush_seen`](Self::flush_seen), after the lock.
    ///
    /// # Errors
    ///
    /// Returns the persona's canonical JSON when it appended it (`None`: stored already), for
    /// the link to carry in its own line.
    ///
    /// # Errors
    ///
    /// [`SessionError::RevisionCollision`] when a different persona is stored under the same
    /// revision; [`SessionError::Io`].
    pub(crate) fn ensure(&mut self, entry: &Entry) -> Result<Option<Vec<u8>>, SessionError> {
        self.refresh()?;
        let (rev, body) = entry.revision_and_body();
        match self.load(rev) {
            Ok(Some(stored)) if Arc::ptr_eq(&stored, &entry.persona) => return Ok(None),
            Ok(Some(stored)) if *stored == *entry.persona => {
                // The caller's copy from now on: the next link with it compares pointers.
                if let Some(slot) = self.slots.get_mut(rev) {
                    slot.content = Some(Arc::clone(&entry.persona));
                }
                return Ok(None);
            }
            Ok(Some(_)) => {
                return Err(SessionError::RevisionCollision {
                    location: self.path.display().to_string(),
                    revision: rev.to_owned(),
                });
            }
            Ok(None) | Err(SessionError::RevisionMismatch { .. }) => {}
            Err(e) => return Err(e),
        }
        let body = body.unwrap_or_else(|| canonical(&entry.persona));
        let line = record_line_of(rev, &body);
        if !self.append_indexed(rev, &line)? {
            self.append(&line, false)?;
        }
        if let Some(slot) = self.slots.get_mut(rev) {
            slot.content = Some(Arc::clone(&entry.persona));
        }
        Ok(Some(body))
    }

    /// Under the sessions file's lock: stores each persona as its revision (checked) unless
    /// it is stored already. Returns how many were written.
    pub(crate) fn import(
        &mut self,
        items: &[(String, Arc<Persona>)],
        sync: bool,
    ) -> Result<usize, SessionError> {
        self.refresh()?;
        let mut buf = Vec::new();
        for (rev, persona) in items {
            if revision(persona) != *rev {
                return Err(SessionError::RevisionMismatch {
                    location: self.path.display().to_string(),
                    revision: rev.clone(),
                    reason: "the content to store does not hash to its revision",
                });
            }
            if matches!(self.load(rev), Ok(Some(_))) {
                continue;
            }
            buf.extend_from_slice(&record_line(rev, persona));
        }
        let written = buf.iter().filter(|&&b| b == b'\n').count();
        if !buf.is_empty() {
            self.append(&buf, sync)?;
        }
        Ok(written)
    }

    /// Under the lock, just after [`refresh`](Self::refresh): appends the one record `line`
    /// (of `rev`) through the kept handle and indexes it directly, when the file is the one
    /// indexed (its header read, its length known). `false`, writing nothing, when that does
    /// not hold: the caller then goes through [`append`](Self::append).
    fn append_indexed(&mut self, rev: &str, line: &[u8]) -> Result<bool, SessionError> {
        if self.reader.is_none() {
            return Ok(false);
        }
        if !self.swept {
            // Once per handle, as every append: the leftovers of killed compactions.
            self.swept = true;
            remove_stale_temps(&self.path);
        }
        let Some(r) = &mut self.reader else {
            return Ok(false);
        };
        if self.appender.as_ref().is_none_or(|(_, id, _)| *id != r.id) {
            let file = match OpenOptions::new().append(true).open(&self.path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(SessionError::io(&self.path)(e)),
            };
            let id = file_id(&file.metadata().map_err(SessionError::io(&self.path))?);
            if id != r.id {
                return Ok(false); // replaced since the refresh: not under our lock
            }
            self.appender = Some((file, id, Group::of(id)));
        }
        let Some((file, _, group)) = &self.appender else {
            return Ok(false);
        };
        // A torn last line (beyond the last complete one) is ended first.
        let torn = r.len > r.offset;
        let mut buf = Vec::with_capacity(line.len() + 1);
        if torn {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line);
        if let Err(e) = (&*file).write_all(&buf) {
            // Cut back whatever part was written; if even that fails, the torn tail is
            // skipped on load and ended by the next append.
            group.cut(r.len);
            let _ = file.set_len(r.len);
            return Err(SessionError::io(&self.path)(e));
        }
        let offset = r.len + u64::from(torn);
        r.len += buf.len() as u64;
        r.offset = r.len;
        if let Some(Some((id, len))) = &mut self.look
            && *id == r.id
        {
            *len += buf.len() as u64;
        } else {
            self.look = None;
        }
        self.slots.insert(
            rev.into(),
            Slot {
                offset,
                // Without its newline, as the scan indexes lines.
                len: line.len() - 1,
                content: None,
            },
        );
        Ok(true)
    }

    /// Appends whole records, first ending a torn last line (or writing the header into a new
    /// or torn file). On a failed write the file is cut back to its length before, so that a
    /// full disk never leaves a torn record.
    fn append(&mut self, bytes: &[u8], sync: bool) -> Result<(), SessionError> {
        self.look = None;
        let path = self.path.clone();
        if !self.swept {
            self.swept = true;
            remove_stale_temps(&path);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(SessionError::io(dir))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(SessionError::io(&path))?;
        let meta = file.metadata().map_err(SessionError::io(&path))?;
        let len = meta.len();
        let group = Group::of(file_id(&meta));
        let mut buf = Vec::with_capacity(bytes.len() + HEADER.len() + 1);
        let fresh = match header_end(&file, &path)? {
            Some(_) => false,
            None => {
                // Empty, or a header cut short: start the file again.
                group.cut(0);
                file.set_len(0).map_err(SessionError::io(&path))?;
                buf.extend_from_slice(HEADER);
                true
            }
        };
        let len = if fresh { 0 } else { len };
        if len > 0 {
            let mut last = [0u8; 1];
            if read_full_at(&file, &mut last, len - 1).map_err(SessionError::io(&path))? == 1
                && last[0] != b'\n'
            {
                buf.push(b'\n');
            }
        }
        buf.extend_from_slice(bytes);
        if let Err(e) = (&file).write_all(&buf) {
            // Cut back whatever part was written; if even that fails, the torn tail is
            // skipped on load and ended by the next append.
            group.cut(len);
            let _ = file.set_len(len);
            return Err(SessionError::io(&path)(e));
        }
        if sync {
            file.sync_data().map_err(SessionError::io(&path))?;
            if fresh {
                sync_dir(&path)?;
            }
        } else if fresh {
            self.seen.created = true;
        }
        // Index what was just written (and anything before it) through the usual path.
        self.refresh()
    }

    /// Under the sessions file's lock: rewrites the file to the revisions in `keep` that are
    /// stored with good content, atomically (temporary file, fsync, rename, fsync of the
    /// folder). Returns (kept, dropped).
    ///
    /// `inline`: the content of revisions this file lacks that links carried in their own
    /// line (see [`SessionLog`](super::log::SessionLog)), kept too, since the compacted log
    /// no longer carries it.
    pub(crate) fn compact(
        &mut self,
        keep: &BTreeSet<&str>,
        inline: &HashMap<String, Arc<Persona>>,
    ) -> Result<(usize, usize), SessionError> {
        remove_stale_temps(&self.path);
        self.swept = true;
        self.refresh()?;
        if self.reader.is_none() && inline.is_empty() {
            return Ok((0, 0));
        }
        let total = self.slots.len();
        let mut body = Vec::from(HEADER);
        let (mut kept, mut kept_stored) = (0, 0);
        for rev in keep {
            let persona = match self.load(rev) {
                Ok(Some(persona)) => {
                    kept_stored += 1;
                    persona
                }
                Ok(None) => match inline.get(*rev) {
                    Some(persona) => Arc::clone(persona),
                    None => continue,
                },
                Err(_) => continue,
            };
            body.extend_from_slice(&record_line(rev, &persona));
            kept += 1;
        }
        let tmp = temp_path(&self.path);
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(SessionError::io(&tmp))?;
            file.write_all(&body)
                .and_then(|()| file.sync_all())
                .map_err(SessionError::io(&tmp))?;
            fs::rename(&tmp, &self.path).map_err(SessionError::io(&self.path))?;
            sync_dir(&self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.reader = None;
        self.refresh()?;
        Ok((kept, total - kept_stored))
    }
}

/// What the handles of this process know of one file's flushes: how far it is known durable,
/// and whether a flush is running. Only handles holding the file open hold its `Group`, so
/// its inode (the key) cannot be freed and reused by another file while the group lives.
#[derive(Debug, Default)]
pub(crate) struct Group {
    state: Mutex<GroupState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct GroupState {
    durable: u64,
    running: bool,
}

impl Group {
    /// The group of the file `id`, shared by this process's handles open on it.
    fn of(id: FileId) -> Arc<Group> {
        static GROUPS: OnceLock<Mutex<HashMap<FileId, Weak<Group>>>> = OnceLock::new();
        let mut groups = GROUPS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(group) = groups.get(&id).and_then(Weak::upgrade) {
            return group;
        }
        // The files no handle holds any more (closed, so their numbers may be reused).
        groups.retain(|_, g| g.strong_count() > 0);
        let group = Arc::new(Group::default());
        groups.insert(id, Arc::downgrade(&group));
        group
    }

    /// Before the file is cut back to `len` (a failed write): what is known durable ends
    /// there at most, since later bytes will be written again.
    fn cut(&self, len: u64) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.durable = st.durable.min(len);
    }

    /// Makes the first `want` bytes of `file` durable, sharing flushes between the threads
    /// of this process that write it (group commit): a thread that finds a flush running
    /// waits for it, and flushes only if that did not cover `want`; so concurrent links that
    /// each brought a new revision pay for about one flush of this file between them. A
    /// flush covers every byte written before it started (the length is taken first).
    fn sync(&self, file: &File, want: u64) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if st.durable >= want {
                return Ok(());
            }
            if st.running {
                st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            st.running = true;
            drop(st);
            let result = file.metadata().and_then(|m| {
                file.sync_data()?;
                Ok(m.len())
            });
            st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.running = false;
            if let Ok(len) = result {
                st.durable = st.durable.max(len);
            }
            self.done.notify_all();
            result?;
        }
    }
}

/// Where the records start: `None` for an empty file or a header cut short (nothing stored).
fn header_end(file: &File, path: &Path) -> Result<Option<u64>, SessionError> {
    let mut buf = [0u8; 256];
    let n = read_full_at(file, &mut buf, 0).map_err(SessionError::io(path))?;
    let data = &buf[..n];
    match memchr::memchr(b'\n', data) {
        Some(i) => {
            #[derive(serde::Deserialize)]
            struct Head {
                format: String,
                version: u64,
            }
            match serde_json::from_slice::<Head>(&data[..i]) {
                Ok(h) if h.format == FORMAT && h.version <= 1 => Ok(Some(i as u64 + 1)),
                Ok(h) if h.format == FORMAT => Err(SessionError::UnsupportedVersion {
                    path: path.to_path_buf(),
                    version: h.version,
                }),
                _ => Err(SessionError::NotAnIndex {
                    path: path.to_path_buf(),
                }),
            }
        }
        None if HEADER.starts_with(data) => Ok(None),
        None => Err(SessionError::NotAnIndex {
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_sits_beside_the_sessions_file() {
        assert_eq!(
            revisions_path(Path::new("/d/sessions.jsonl")),
            Path::new("/d/sessions.revisions.jsonl")
        );
        assert_eq!(
            revisions_path(Path::new("idx")),
            Path::new("idx.revisions.jsonl")
        );
    }

    #[test]
    fn shared_flushes_cover_every_writer_and_forget_what_a_cut_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let id = file_id(&file.metadata().unwrap());
        let group = Group::of(id);
        // The same group for every handle on the file while one holds it.
        assert!(Arc::ptr_eq(&group, &Group::of(id)));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (file, group) = (&file, &group);
                s.spawn(move || {
                    for _ in 0..20 {
                        (&*file).write_all(&[b'x'; 10]).unwrap();
                        let want = file.metadata().unwrap().len();
                        group.sync(file, want).unwrap();
                        assert!(group.state.lock().unwrap().durable >= want);
                    }
                });
            }
        });
        let len = file.metadata().unwrap().len();
        assert_eq!(len, 800);
        assert_eq!(group.state.lock().unwrap().durable, len);
        // After a cut, bytes written again are not taken as durable.
        group.cut(100);
        assert_eq!(group.state.lock().unwrap().durable, 100);
    }

    #[test]
    fn a_record_parses_by_its_fast_path_and_verifies() {
        let p = Persona::new("N", "D", "I", "S");
        let rev = revision(&p);
        let line = record_line(&rev, &p);
        let (got, span) = parse_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(got, rev);
        let (s, e) = span.unwrap();
        assert_eq!(verify(&rev, &line[s..e]).unwrap(), p);
        assert!(verify("0000000000000000", &line[s..e]).is_err());
        // A cut line is never served: it does not parse, or its content does not verify.
        for end in 0..line.len() - 1 {
            let cut = &line[..end];
            match parse_line(cut) {
                None => {}
                Some((r, Some((s, e)))) => assert!(verify(&r, &cut[s..e]).is_err(), "{end}"),
                Some((_, None)) => panic!("a cut line parsed as general JSON at {end}"),
            }
        }
    }

    /// Every field of a resolved persona is in its revision: changing any one changes it.
    /// The destructuring lists every field, so a new field fails to compile here until it is
    /// added to the list below.
    #[test]
    fn the_revision_covers_every_field_and_is_canonical() {
        use crate::persona::ModelSettings;
        let mut full = Persona::new("N", "D", "I", "S");
        full.id = Some("n".into());
        full.tags = vec!["t".into()];
        full.greeting = Some("g".into());
        full.starters = vec!["s".into()];
        full.hidden = true;
        full.order = Some(1);
        full.aliases = vec!["a".into()];
        full.model = Some(ModelSettings {
            temperature: Some(0.5),
            top_p: Some(0.5),
            max_tokens: Some(10),
            ..ModelSettings::default()
        });
        full.vars.insert("v".into(), "1".into());
        full.extensions
            .insert("x".into(), serde_json::json!({"b": 1, "a": 2}));
        let Persona {
            schema_version: _,
            id: _,
            name: _,
            description: _,
            icon: _,
            system_prompt: _,
            tags: _,
            greeting: _,
            starters: _,
            hidden: _,
            order: _,
            aliases: _,
            model: _,
            vars: _,
            extensions: _,
        } = &full;
        type Change = (&'static str, fn(&mut Persona));
        let changes: Vec<Change> = vec![
            ("schema_version", |p| p.schema_version = Some(2)),
            ("id", |p| p.id = Some("m".into())),
            ("name", |p| p.name.push('!')),
            ("description", |p| p.description.push('!')),
            ("icon", |p| p.icon.push('!')),
            ("system_prompt", |p| p.system_prompt.push('!')),
            ("tags", |p| p.tags.push("u".into())),
            ("greeting", |p| p.greeting = None),
            ("starters", |p| p.starters.clear()),
            ("hidden", |p| p.hidden = false),
            ("order", |p| p.order = Some(2)),
            ("aliases", |p| p.aliases.clear()),
            ("model", |p| {
                if let Some(m) = &mut p.model {
                    m.temperature = Some(0.6);
                }
            }),
            ("vars", |p| {
                p.vars.insert("v".into(), "2".into());
            }),
            ("extensions", |p| {
                p.extensions.insert("y".into(), serde_json::json!(null));
            }),
        ];
        let keys = serde_json::to_value(&full).unwrap();
        assert_eq!(
            keys.as_object().unwrap().len(),
            changes.len(),
            "every field serialised"
        );
        let base = revision(&full);
        for (field, change) in changes {
            let mut p = full.clone();
            change(&mut p);
            assert_ne!(revision(&p), base, "{field} is not in the revision");
        }
        // Canonical: the order in which a table's keys were written does not matter.
        let mut reordered = full.clone();
        reordered.extensions.insert(
            "x".into(),
            serde_json::from_str(r#"{"a": 2, "b": 1}"#).unwrap(),
        );
        assert_eq!(revision(&reordered), base);
        assert_eq!(base.len(), 16);
    }
}
