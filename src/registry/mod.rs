//! [`Registry`]: the personas of a directory as lock-free snapshots, reloaded incrementally,
//! keeping the last good version of every file that turns invalid.

pub(crate) mod batch;

use batch::Batch;
pub(crate) mod events;
pub(crate) mod reload;
pub(crate) mod sharded;
pub(crate) mod snapshot;
pub(crate) mod watch;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::defaults::DEFAULT_PERSONA_ID;
use crate::error::Error;
use crate::events::{Event, Status};
use crate::load::{discover, is_persona_file_name};
use crate::reload::ReloadState;
use crate::snapshot::Snapshot;
use crate::watch::Watcher;

/// The default quiet time that closes a burst of file events: 50 ms.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

/// The longest a burst is held back while files keep changing: 2 s.
pub const DEFAULT_MAX_BATCH_WAIT: Duration = Duration::from_secs(2);

/// The personas of a directory, for a chat service: a cheap [`snapshot`](Registry::snapshot)
/// per request, hot reload with [`watch`](Registry::watch), and [`subscribe`](Registry::subscribe)
/// for events. Cloning a `Registry` gives another handle to the same registry.
///
/// Readers never wait: a snapshot is an `Arc` loaded from an atomic pointer, and a reload
/// builds the next snapshot aside, then swaps it in whole.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    dir: Arc<Path>,
    current: ArcSwap<Snapshot>,
    status: ArcSwap<Status>,
    state: Mutex<ReloadState>,
    subscribers: Mutex<Vec<Sender<Event>>>,
    pub(crate) debounce: Duration,
    pub(crate) max_batch_wait: Duration,
}

/// Options for opening a [`Registry`]; see [`Registry::builder`].
#[derive(Debug, Clone)]
pub struct RegistryBuilder {
    dir: PathBuf,
    default_persona: String,
    debounce: Duration,
    max_batch_wait: Duration,
}

impl RegistryBuilder {
    /// The id of the default persona (default: `journaling-assistant`).
    #[must_use]
    pub fn default_persona(mut self, id: impl Into<String>) -> Self {
        self.default_persona = id.into();
        self
    }

    /// How long the directory must be quiet before a burst of changes is applied (default
    /// [`DEFAULT_DEBOUNCE`], 50 ms).
    #[must_use]
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// The longest a burst is held back while files keep changing (default
    /// [`DEFAULT_MAX_BATCH_WAIT`], 2 s).
    #[must_use]
    pub fn max_batch_wait(mut self, wait: Duration) -> Self {
        self.max_batch_wait = wait;
        self
    }

    /// Loads every persona file of the directory.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the directory does not exist, [`Error::Io`] when it cannot be
    /// listed. Invalid files are no error: they are left out and reported by
    /// [`Registry::status`].
    pub fn open(self) -> Result<Registry, Error> {
        let (files, problems) = walk_dir(&self.dir)?;
        let dir: Arc<Path> = Arc::from(self.dir.as_path());
        let empty = Snapshot::empty(Arc::clone(&dir), Arc::from(self.default_persona.as_str()));
        let mut state = ReloadState::new(&self.dir, Some(&self.default_persona));
        state.note_problems(Some(problems), &BTreeSet::new());
        let mut snapshot = match state.apply(&empty, files.into_iter().collect()) {
            Some(applied) => applied.snapshot,
            None => empty,
        };
        snapshot.generation = 1;
        let status = Status {
            generation: 1,
            last_reload: SystemTime::now(),
            success: state.errors().is_empty(),
            errors: state.errors(),
            watch_error: None,
            personas: snapshot.len(),
            files: state.files(),
        };
        Ok(Registry {
            shared: Arc::new(Shared {
                dir,
                current: ArcSwap::from_pointee(snapshot),
                status: ArcSwap::from_pointee(status),
                state: Mutex::new(state),
                subscribers: Mutex::new(Vec::new()),
                debounce: self.debounce,
                max_batch_wait: self.max_batch_wait,
            }),
        })
    }
}

impl Registry {
    /// Loads every persona file under `dir` with the default options.
    ///
    /// # Errors
    ///
    /// As [`RegistryBuilder::open`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::builder(dir).open()
    }

    /// Options for opening a registry.
    pub fn builder(dir: impl AsRef<Path>) -> RegistryBuilder {
        RegistryBuilder {
            dir: dir.as_ref().to_path_buf(),
            default_persona: DEFAULT_PERSONA_ID.to_owned(),
            debounce: DEFAULT_DEBOUNCE,
            max_batch_wait: DEFAULT_MAX_BATCH_WAIT,
        }
    }

    /// The current snapshot: an immutable, consistent view. Cheap (an atomic load and a
    /// reference count); take one per request and let it go when the request is done.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    /// Runs `f` on the current snapshot without touching its reference count: the fastest
    /// way to read, for work that does not outlive the call.
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&self.shared.current.load())
    }

    /// The personas directory, as given.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// How the last reload went.
    #[must_use]
    pub fn status(&self) -> Status {
        Status::clone(&self.shared.status.load())
    }

    /// A new subscription: every event from now on, in order. Events of one reload arrive
    /// together, after its snapshot is live. Dropping the receiver ends the subscription.
    #[must_use]
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Starts hot reload: watches the directory until the returned [`Watcher`] is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Watch`] when the directory cannot be watched (the message says which
    /// operating system limit to raise, when one was reached).
    pub fn watch(&self) -> Result<Watcher, Error> {
        Watcher::start(self.clone())
    }

    /// Re-reads the whole directory now (only files whose content changed are parsed) and
    /// returns the generation then current. For callers that do not run a watcher.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the directory is gone (the snapshot is kept), [`Error::Io`]
    /// when it cannot be listed.
    pub fn reload(&self) -> Result<u64, Error> {
        self.apply(Batch {
            rescan: true,
            ..Batch::default()
        })
    }

    /// Re-reads these files now (paths under the directory, absolute or as the directory was
    /// given; others are ignored) and returns the generation then current. For a caller that
    /// knows what it changed, such as a writer of persona files.
    ///
    /// # Errors
    ///
    /// As [`Registry::reload`].
    pub fn reload_paths<P: AsRef<Path>>(&self, paths: &[P]) -> Result<u64, Error> {
        let files = paths.iter().filter_map(|p| self.relative(p.as_ref()));
        self.apply(Batch {
            files: files.collect(),
            ..Batch::default()
        })
    }

    fn relative(&self, path: &Path) -> Option<PathBuf> {
        if !is_persona_file_name(path) {
            return None;
        }
        if let Ok(rel) = path.strip_prefix(&self.shared.dir) {
            return Some(rel.to_path_buf());
        }
        let abs_dir = std::path::absolute(&self.shared.dir).ok()?;
        let abs = std::path::absolute(path).ok()?;
        abs.strip_prefix(abs_dir).ok().map(Path::to_path_buf)
    }

    /// Applies one batch of changes (paths relative to the directory) as one swap.
    pub(crate) fn apply(&self, changes: Batch) -> Result<u64, Error> {
        let shared = &*self.shared;
        let mut state = lock(&shared.state);
        let old = shared.current.load_full();
        let dir = &shared.dir;
        let mut candidates: BTreeSet<PathBuf> = BTreeSet::new();
        let mut problems = None;
        let listed = if changes.rescan || !dir.is_dir() {
            walk_dir(dir).map(|(files, found)| {
                candidates.extend(files);
                candidates.extend(state.known().map(Path::to_path_buf));
                problems = Some(found);
            })
        } else {
            Ok(())
        };
        if let Err(e) = listed {
            self.set_status(&state, &old, Some(e.to_string()));
            return Err(e);
        }
        for rel in &changes.dirs {
            let d = dir.join(rel);
            if d.is_dir() {
                candidates.extend(discover(&d).unwrap_or_default());
            }
            candidates.extend(
                state
                    .known()
                    .filter(|p| p.starts_with(&d))
                    .map(Path::to_path_buf),
            );
        }
        candidates.extend(changes.files.iter().map(|rel| dir.join(rel)));
        state.note_problems(problems, &candidates);
        let Some(applied) = state.apply(&old, candidates) else {
            self.set_status(&state, &old, changes.watch_error);
            return Ok(old.generation);
        };
        let snapshot = Arc::new(applied.snapshot);
        shared.current.store(Arc::clone(&snapshot));
        self.set_status(&state, &snapshot, changes.watch_error);
        let mut events = applied.events;
        events.push(Event::Reloaded {
            path: dir.to_path_buf(),
            generation: snapshot.generation,
            personas: snapshot.len(),
            errors: state.errors().len(),
        });
        // Sent under the state lock, so that events of successive reloads never interleave.
        lock(&shared.subscribers).retain(|tx| events.iter().all(|e| tx.send(e.clone()).is_ok()));
        Ok(snapshot.generation)
    }

    fn set_status(&self, state: &ReloadState, snapshot: &Snapshot, watch_error: Option<String>) {
        let errors = state.errors();
        self.shared.status.store(Arc::new(Status {
            generation: snapshot.generation,
            last_reload: SystemTime::now(),
            success: errors.is_empty() && watch_error.is_none(),
            errors,
            watch_error,
            personas: snapshot.len(),
            files: state.files(),
        }));
    }

    /// The errors of the directory now and after a proposed change (see
    /// [`ReloadState::errors_after`]), from the live state, without reading the directory.
    pub(crate) fn errors_now_and_after(
        &self,
        writes: &[crate::validate::CheckedFile],
        removes: &[&Path],
    ) -> (
        Arc<Vec<crate::diagnostic::Diagnostic>>,
        Vec<crate::diagnostic::Diagnostic>,
    ) {
        let state = lock(&self.shared.state);
        (state.errors(), state.errors_after(writes, removes))
    }

    /// The file that defines `id` as the registry last saw it, valid or not.
    pub(crate) fn path_of(&self, id: &str) -> Option<PathBuf> {
        lock(&self.shared.state).path_of(id)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("dir", &self.shared.dir)
            .field("generation", &self.shared.current.load().generation)
            .finish_non_exhaustive()
    }
}

/// The persona files under `dir` and the entries that cannot be used, as a full check walks
/// it; a single file given as `dir` is the one file.
fn walk_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<crate::diagnostic::Diagnostic>), Error> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if meta.is_dir() {
        crate::load::walk(dir)
    } else {
        discover(dir).map(|files| (files, Vec::new()))
    }
}

/// Locks a mutex, recovering from poisoning: a reload that panicked leaves at worst part of
/// the writer's bookkeeping stale, which a later change or [`Registry::reload`] repairs;
/// readers never see it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
