//! `Event` (what a subscriber hears after each reload) and `Status` (how the last reload went).

use std::time::UNIX_EPOCH;

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::report::diagnostics_list;

/// One change applied by a reload. `kind` is "added", "updated", "removed", "invalid" or
/// "reloaded"; the per-file events of a reload come first, then one "reloaded".
#[pyclass(frozen, module = "personas")]
pub struct Event {
    pub(crate) inner: personas::Event,
}

#[pymethods]
impl Event {
    /// "added", "updated", "removed", "invalid" or "reloaded".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.name()
    }

    /// The persona id (None for "reloaded", or for an invalid file whose name is no valid id).
    #[getter]
    fn id(&self) -> Option<&str> {
        self.inner.id()
    }

    /// The file (the personas directory for "reloaded").
    #[getter]
    fn path(&self) -> String {
        self.inner.path().to_string_lossy().into_owned()
    }

    /// The generation of the snapshot that holds the change.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// Every problem of the file, for "invalid" (its last good version stays live); else empty.
    #[getter]
    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.inner {
            personas::Event::Invalid { diagnostics, .. } => diagnostics_list(py, diagnostics),
            _ => Ok(PyList::empty(py)),
        }
    }

    /// For "reloaded": how many personas the new snapshot holds; else None.
    #[getter]
    fn personas(&self) -> Option<usize> {
        match &self.inner {
            personas::Event::Reloaded { personas, .. } => Some(*personas),
            _ => None,
        }
    }

    /// For "reloaded": how many errors the directory holds now; else None.
    #[getter]
    fn errors(&self) -> Option<usize> {
        match &self.inner {
            personas::Event::Reloaded { errors, .. } => Some(*errors),
            _ => None,
        }
    }

    /// The event as `personactl watch --format json` prints it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.inner)?)
    }

    fn __repr__(&self) -> String {
        let json = serde_json::to_string(&self.inner).unwrap_or_default();
        format!("<Event {json}>")
    }
}

/// How the registry's last reload went: what a health or metrics endpoint exposes.
#[pyclass(frozen, module = "personas")]
pub struct Status {
    pub(crate) inner: personas::Status,
}

#[pymethods]
impl Status {
    /// The generation of the current snapshot.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation
    }

    /// When the last reload was attempted, in seconds since the Unix epoch.
    #[getter]
    fn last_reload(&self) -> f64 {
        self.inner
            .last_reload
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// Whether every persona file is valid and the directory readable.
    #[getter]
    fn success(&self) -> bool {
        self.inner.success
    }

    /// Every error in the directory now, sorted by path.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        diagnostics_list(py, &self.inner.errors)
    }

    /// A problem of the directory or the watcher itself, if the last reload had one.
    #[getter]
    fn watch_error(&self) -> Option<&str> {
        self.inner.watch_error.as_deref()
    }

    /// How many live personas the current snapshot holds.
    #[getter]
    fn personas(&self) -> usize {
        self.inner.personas
    }

    /// How many persona files the directory holds (valid or not).
    #[getter]
    fn files(&self) -> usize {
        self.inner.files
    }

    fn __repr__(&self) -> String {
        format!(
            "<Status generation {} success={} personas={} files={} errors={}>",
            self.inner.generation,
            self.inner.success,
            self.inner.personas,
            self.inner.files,
            self.inner.errors.len()
        )
    }
}
