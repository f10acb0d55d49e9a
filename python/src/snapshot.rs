//! `Snapshot`: one immutable generation of the registry, and its iterator.
//!
//! On its first lookup a snapshot builds a dict from every id and alias to its Python
//! `Persona` object (resolved by the crate's own `find`, so an id wins over an alias and the
//! smaller id wins a shared alias), so that a lookup from Python is one dict lookup on the
//! caller's `str` (its hash already cached): no UTF-8 conversion, no new object, and an unknown
//! id is one miss. The dict is built once per generation and holds only live ids and aliases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use personas::Entry;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use crate::persona::Persona;

/// The personas of one generation of a `Registry`: immutable, so a request that holds one sees
/// a consistent set however many reloads happen meanwhile. `len(snapshot)`, `id in snapshot`,
/// and iteration in id order work as for a collection.
#[pyclass(frozen, module = "personas")]
pub struct Snapshot {
    pub(crate) inner: Arc<personas::Snapshot>,
    index: PyOnceLock<Index>,
}

/// Every id and alias → its `Persona` object; and the default persona's.
struct Index {
    by_key: Py<PyDict>,
    default: Option<Py<PyAny>>,
}

impl Snapshot {
    pub(crate) fn new(_py: Python<'_>, inner: Arc<personas::Snapshot>) -> Self {
        Snapshot {
            inner,
            index: PyOnceLock::new(),
        }
    }

    fn index(&self, py: Python<'_>) -> PyResult<&Index> {
        self.index.get_or_try_init(py, || {
            let by_key = PyDict::new(py);
            for entry in self.inner.iter() {
                let arc = self
                    .inner
                    .get_arc(&entry.id)
                    .unwrap_or_else(|| Arc::new(entry.clone()));
                let obj = Bound::new(py, Persona { entry: arc })?;
                by_key.set_item(&entry.id, &obj)?;
                for alias in &entry.persona.aliases {
                    if self.inner.find(alias).is_some_and(|e| e.id == entry.id) {
                        by_key.set_item(alias, &obj)?;
                    }
                }
            }
            let default = by_key.get_item(self.inner.default_id())?.map(Bound::unbind);
            Ok::<_, PyErr>(Index {
                by_key: by_key.unbind(),
                default,
            })
        })
    }

    /// The Python object for a live `entry`.
    fn object<'py>(&self, py: Python<'py>, entry: &Entry) -> PyResult<Bound<'py, PyAny>> {
        let index = self.index(py)?.by_key.bind(py);
        match index.get_item(&entry.id)? {
            Some(obj) => Ok(obj),
            None => Ok(Bound::new(
                py,
                Persona {
                    entry: Arc::new(entry.clone()),
                },
            )?
            .into_any()),
        }
    }

    /// The persona `key` names (id, else alias).
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyString>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.index(py)?.by_key.bind(py).get_item(key)
    }

    fn default_object<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.index(py)?.default.as_ref().map(|d| d.bind(py).clone()))
    }
}

#[pymethods]
impl Snapshot {
    /// The generation: 1 for the initial load, one more for each reload that changed anything.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// The id of the default persona (whether or not it is live).
    #[getter]
    fn default_id(&self) -> &str {
        self.inner.default_id()
    }

    /// The persona with this id, or else the one that lists it among its `aliases`; None when
    /// there is neither.
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyString>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.lookup(py, id)
    }

    /// The persona with this id or alias, or else the default persona (None only when the
    /// default persona is not live either): what a chat service uses for a request.
    fn find_or_default<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyString>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.lookup(py, id)? {
            Some(hit) => Ok(Some(hit)),
            None => self.default_object(py),
        }
    }

    /// The default persona, when it is live.
    fn default_persona<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.default_object(py)
    }

    /// The live ids, sorted.
    fn ids(&self) -> Vec<String> {
        self.inner.ids().map(str::to_owned).collect()
    }

    /// The personas for a picker: listed ones only unless `all`, sorted by `order`, then id
    /// (as `personactl list` and `GET /api/personas`).
    #[pyo3(signature = (*, all = false))]
    fn listed<'py>(&self, py: Python<'py>, all: bool) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let mut entries: Vec<&Entry> = self
            .inner
            .iter()
            .filter(|e| all || e.persona.is_listed())
            .collect();
        entries.sort_by_key(|e| (e.persona.order.unwrap_or(i32::MAX), e.id.as_str()));
        entries.into_iter().map(|e| self.object(py, e)).collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        match id.cast::<PyString>() {
            Ok(s) => Ok(self.lookup(py, s)?.is_some()),
            Err(_) => Ok(false),
        }
    }

    /// The live personas, in id order.
    fn __iter__(slf: Bound<'_, Self>) -> SnapshotIter {
        let entries = slf
            .get()
            .inner
            .ids()
            .filter_map(|id| slf.get().inner.get_arc(id))
            .collect();
        SnapshotIter {
            snapshot: slf.unbind(),
            entries,
            next: AtomicUsize::new(0),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<Snapshot generation {} with {} personas>",
            self.inner.generation(),
            self.inner.len()
        )
    }
}

/// Iterates over a snapshot's personas in id order.
#[pyclass(frozen, module = "personas")]
pub struct SnapshotIter {
    snapshot: Py<Snapshot>,
    entries: Vec<Arc<Entry>>,
    next: AtomicUsize,
}

#[pymethods]
impl SnapshotIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        match self.entries.get(i) {
            Some(entry) => self.snapshot.get().object(py, entry).map(Some),
            None => Ok(None),
        }
    }
}
