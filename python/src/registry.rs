//! `Registry` (the personas directory, hot-reloaded) and `Subscription` (its events).
//!
//! The watcher is the crate's own thread; it never touches Python. Events reach Python
//! through a channel that Python pulls from (`Subscription`), with the interpreter lock
//! released while it waits.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use personas::Store;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::Value;

use crate::errors::{NotFound, dir_error, library_error, store_error};
use crate::events::{Event, Status};
use crate::persona::Persona;
use crate::snapshot::Snapshot;

/// The personas of a directory for a chat service: `snapshot()` per request (cheap, lock
/// free), hot reload while `watch` is on (a broken edit keeps the persona's last good version
/// live and says why in `status()` and an "invalid" event), `subscribe()` for events.
///
/// Loading reads and validates every file with the interpreter lock released (other Python
/// threads run meanwhile). Safe to share between threads. `close()` (or leaving a `with`
/// block) stops the watcher; the registry stays readable.
#[pyclass(frozen, module = "personas")]
pub struct Registry {
    pub(crate) inner: personas::Registry,
    watcher: Mutex<Option<personas::Watcher>>,
    /// The Python object of the current snapshot, reused while the generation is the same.
    current: Mutex<Option<(Arc<personas::Snapshot>, Py<Snapshot>)>>,
}

#[pymethods]
impl Registry {
    /// Loads every persona file under `dir` and, with `watch`, starts hot reload: a burst of
    /// file changes is applied as one new snapshot once the directory has been quiet for
    /// `debounce_ms`. Raises `NotFound` when `dir` does not exist, `Error` when it cannot be
    /// read or watched; invalid files are no error (see `status()`).
    #[new]
    #[pyo3(signature = (dir, *, watch = true, default_persona = personas::DEFAULT_PERSONA_ID.to_owned(), debounce_ms = 50))]
    fn new(
        py: Python<'_>,
        dir: PathBuf,
        watch: bool,
        default_persona: String,
        debounce_ms: u64,
    ) -> PyResult<Self> {
        let (inner, watcher) = py
            .detach(|| {
                let registry = personas::Registry::builder(&dir)
                    .default_persona(default_persona)
                    .debounce(Duration::from_millis(debounce_ms))
                    .open()?;
                let watcher = if watch { Some(registry.watch()?) } else { None };
                Ok((registry, watcher))
            })
            .map_err(|e| dir_error(&dir, e))?;
        Ok(Registry {
            inner,
            watcher: Mutex::new(watcher),
            current: Mutex::new(None),
        })
    }

    /// The personas directory, as given.
    #[getter]
    fn dir(&self) -> String {
        self.inner.dir().to_string_lossy().into_owned()
    }

    /// Whether hot reload is running.
    #[getter]
    fn watching(&self) -> bool {
        lock(&self.watcher).is_some()
    }

    /// The current snapshot: an immutable, consistent view. Cheap; take one per request.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Py<Snapshot>> {
        let live = self.inner.snapshot();
        if let Some((arc, obj)) = &*lock(&self.current)
            && Arc::ptr_eq(arc, &live)
        {
            return Ok(obj.clone_ref(py));
        }
        // Built outside the lock: creating a Python object may run other Python code.
        let obj = Py::new(py, Snapshot::new(py, Arc::clone(&live)))?;
        let mut current = lock(&self.current);
        let newer = current
            .as_ref()
            .is_none_or(|(arc, _)| arc.generation() <= live.generation());
        if newer {
            *current = Some((live, obj.clone_ref(py)));
        }
        Ok(obj)
    }

    /// How the last reload went: generation, time, success, every current error.
    fn status(&self) -> Status {
        Status {
            inner: self.inner.status(),
        }
    }

    /// A new subscription: every event from now on, in order. Iterating waits for the next
    /// event (up to `timeout` seconds each, then the iteration ends; None waits for ever);
    /// `next_event(timeout)` returns one event or None.
    #[pyo3(signature = (timeout = None))]
    fn subscribe(&self, timeout: Option<f64>) -> PyResult<Subscription> {
        Ok(Subscription {
            rx: Mutex::new(self.inner.subscribe()),
            timeout: seconds(timeout)?,
        })
    }

    /// Re-reads the whole directory now (only files whose content changed are parsed) and
    /// returns the generation then current. For a registry opened with `watch=False`.
    fn reload(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.inner.reload())
            .map_err(|e| dir_error(self.inner.dir(), e))
    }

    /// Re-reads these files now (paths under the directory) and returns the generation.
    fn reload_paths(&self, py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<u64> {
        py.detach(|| self.inner.reload_paths(&paths))
            .map_err(|e| dir_error(self.inner.dir(), e))
    }

    /// Creates `DIR/<id>.toml` from `fields` (a dict of persona keys, as the HTTP API's POST
    /// body), validated before anything is written, and returns the live persona. Raises
    /// `ValidationError` (with the diagnostics of the file it would have written), `Conflict`
    /// when the id exists.
    fn create(
        &self,
        py: Python<'_>,
        id: String,
        fields: &Bound<'_, PyAny>,
    ) -> PyResult<Py<Persona>> {
        let fields: Value = pythonize::depythonize(fields)?;
        self.write(py, &id, |store| store.create_value(&id, &fields))
    }

    /// Replaces persona `id` with `fields` (keys left out are removed), editing its file in
    /// place so comments and layout stay; returns the live persona. Raises `NotFound`,
    /// `ValidationError`.
    fn replace(
        &self,
        py: Python<'_>,
        id: String,
        fields: &Bound<'_, PyAny>,
    ) -> PyResult<Py<Persona>> {
        let fields: Value = pythonize::depythonize(fields)?;
        self.write(py, &id, |store| store.replace_value(&id, &fields))
    }

    /// Applies a JSON merge patch to persona `id` (keys replace, tables merge, None removes);
    /// returns the live persona. Raises `NotFound`, `ValidationError`.
    fn patch(&self, py: Python<'_>, id: String, patch: &Bound<'_, PyAny>) -> PyResult<Py<Persona>> {
        let patch: Value = pythonize::depythonize(patch)?;
        self.write(py, &id, |store| store.patch_value(&id, &patch))
    }

    /// Deletes persona `id`'s file. Raises `NotFound`, or `Conflict` when others extend it.
    fn delete(&self, py: Python<'_>, id: String) -> PyResult<()> {
        let store = Store::new(self.inner.dir());
        let path = py
            .detach(|| store.delete(&id))
            .map_err(|e| store_error(py, e))?;
        self.reload_paths(py, vec![path])?;
        Ok(())
    }

    /// Stops hot reload (waits for the watcher thread to finish). The registry stays readable.
    fn close(&self, py: Python<'_>) {
        let watcher = lock(&self.watcher).take();
        py.detach(move || drop(watcher));
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<Registry {:?} generation {}{}>",
            self.inner.dir(),
            self.inner.snapshot().generation(),
            if self.watching() { ", watching" } else { "" }
        )
    }
}

impl Registry {
    /// A write through the crate's `Store`, applied to the registry at once (not on the
    /// watcher's schedule), so the caller's next read sees it.
    fn write(
        &self,
        py: Python<'_>,
        id: &str,
        op: impl FnOnce(&Store) -> Result<PathBuf, personas::StoreError> + Send,
    ) -> PyResult<Py<Persona>> {
        let store = Store::new(self.inner.dir());
        let path = py.detach(|| op(&store)).map_err(|e| store_error(py, e))?;
        py.detach(|| self.inner.reload_paths(&[path]))
            .map_err(library_error)?;
        let entry = self.inner.snapshot().get_arc(id).ok_or_else(|| {
            NotFound::new_err(format!("persona `{id}` was written but is not live"))
        })?;
        Py::new(py, Persona { entry })
    }
}

/// A subscription to a registry's events (see `Registry.subscribe`).
#[pyclass(frozen, module = "personas")]
pub struct Subscription {
    rx: Mutex<Receiver<personas::Event>>,
    timeout: Option<Duration>,
}

#[pymethods]
impl Subscription {
    /// The next event, waiting up to `timeout` seconds (None: for ever); None when none came
    /// in time. The interpreter lock is released while waiting; Ctrl-C interrupts.
    #[pyo3(signature = (timeout = None))]
    fn next_event(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Event>> {
        self.wait(py, seconds(timeout)?)
    }

    /// Every event already delivered, without waiting.
    fn drain(&self) -> Vec<Event> {
        lock(&self.rx)
            .try_iter()
            .map(|inner| Event { inner })
            .collect()
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Event>> {
        self.wait(py, self.timeout)
    }
}

impl Subscription {
    /// Waits in short slices, so that a signal (Ctrl-C) is seen between them.
    fn wait(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<Event>> {
        const SLICE: Duration = Duration::from_millis(100);
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
                None => SLICE,
            };
            let got = py.detach(|| lock(&self.rx).recv_timeout(slice));
            match got {
                Ok(inner) => return Ok(Some(Event { inner })),
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                    py.check_signals()?;
                }
            }
        }
    }
}

fn seconds(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(|t| {
            Duration::try_from_secs_f64(t).map_err(|_| {
                PyValueError::new_err(format!("timeout must be >= 0 seconds, not {t}"))
            })
        })
        .transpose()
}

/// Locks a mutex, recovering from poisoning (the data behind each of these stays valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
