//! `SessionStore`: which persona each chat session uses, in the sessions file or PostgreSQL,
//! resolved against the registry's current snapshot; `Resolution` and `Link`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use personas::{Entry, SessionBackend};
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;

use crate::errors::{NotFound, session_error};
use crate::persona::Persona;
use crate::registry::{Registry, lock};

/// The sessions index, bound to a registry: `path_or_url` is a sessions file (JSON Lines,
/// created on the first link) or a `postgres://` URL (the schema is created or migrated on
/// first use). Each call sees every other process's links. Database and file work run with
/// the interpreter lock released; safe to share between threads (calls are serialised).
#[pyclass(frozen, module = "personas")]
pub struct SessionStore {
    store: Mutex<Box<dyn personas::SessionStore>>,
    registry: personas::Registry,
    location: String,
}

#[pymethods]
impl SessionStore {
    /// Opens the store. Raises `SessionError` when the file is not a sessions index, or the
    /// database cannot be reached (within 5 s unless the URL sets `connect_timeout`).
    #[new]
    fn new(py: Python<'_>, path_or_url: PathBuf, registry: &Bound<'_, Registry>) -> PyResult<Self> {
        let backend = SessionBackend::parse(path_or_url.as_os_str());
        let store = py
            .detach(|| backend.open_long_lived())
            .map_err(session_error)?;
        Ok(SessionStore {
            location: store.location(),
            store: Mutex::new(store),
            registry: registry.get().inner.clone(),
        })
    }

    /// Where the sessions are: the file, or the URL without its password.
    #[getter]
    fn location(&self) -> &str {
        &self.location
    }

    /// Links `session` to `persona` (an id or alias of the current snapshot, or a `Persona`),
    /// recording its revision; replaces any earlier link. Raises `NotFound` for an unknown
    /// persona and `SessionError` for a bad session id, writing nothing in both cases.
    fn link(&self, py: Python<'_>, session: String, persona: &Bound<'_, PyAny>) -> PyResult<Link> {
        personas::check_session_id(&session).map_err(session_error)?;
        let entry: Arc<Entry> = if let Ok(p) = persona.cast::<Persona>() {
            Arc::clone(&p.get().entry)
        } else if let Ok(id) = persona.cast::<PyString>() {
            let id = id.to_cow()?;
            let snapshot = self.registry.snapshot();
            let found = snapshot.find(&id).and_then(|e| snapshot.get_arc(&e.id));
            found.ok_or_else(|| {
                NotFound::new_err(format!(
                    "no persona `{id}` in {}",
                    self.registry.dir().display()
                ))
            })?
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "persona must be a persona id (str) or a Persona",
            ));
        };
        let link = py
            .detach(|| lock(&self.store).link(&session, &entry))
            .map_err(session_error)?;
        Ok(Link::new(session, &link))
    }

    /// Removes `session`'s link: True, or False (writing nothing) when it was not linked.
    fn unlink(&self, py: Python<'_>, session: String) -> PyResult<bool> {
        py.detach(|| lock(&self.store).unlink(&session))
            .map_err(session_error)
    }

    /// The persona `session` uses now, resolved against the registry's current snapshot: its
    /// persona, or the persona that lists the linked id among its aliases (a rename), or else
    /// the default persona with `fallback` set; and the pinned persona, the stored revision
    /// the session was linked at (`pinned`, or `pinned_reason` when there is none). Raises
    /// `SessionError` for a bad session id, or when it falls back and the default persona
    /// does not exist.
    fn show(&self, py: Python<'_>, session: String) -> PyResult<Resolution> {
        let snapshot = self.registry.snapshot();
        let (view, pinned_view, entry) = py
            .detach(|| {
                let mut store = lock(&self.store);
                let p = store.pinned(&session, &*snapshot, snapshot.default_id())?;
                let view = serde_json::to_value(p.resolution.view()).unwrap_or(Value::Null);
                let pinned_view = serde_json::to_value(p.view()).unwrap_or(Value::Null);
                let entry = snapshot
                    .get_arc(&p.resolution.entry.id)
                    .unwrap_or_else(|| Arc::new(p.resolution.entry.clone()));
                Ok::<_, personas::SessionError>((view, pinned_view, entry))
            })
            .map_err(session_error)?;
        Ok(Resolution {
            view,
            pinned_view,
            entry,
        })
    }

    /// Every linked session (only those linked to `persona` when given), sorted by session id.
    #[pyo3(signature = (persona = None))]
    fn list(&self, py: Python<'_>, persona: Option<String>) -> PyResult<Vec<Link>> {
        let links = py
            .detach(|| lock(&self.store).list(persona.as_deref()))
            .map_err(session_error)?;
        Ok(links
            .into_iter()
            .map(|(session, link)| Link::new(session, &link))
            .collect())
    }

    fn __repr__(&self) -> String {
        format!("<SessionStore {}>", self.location)
    }
}

/// Which persona a session uses (see `SessionStore.show`). `to_dict()` is exactly
/// `personactl session show --format json`.
#[pyclass(frozen, module = "personas")]
pub struct Resolution {
    view: Value,
    /// The view with the pinned persona (`session show --pinned --format json`).
    pinned_view: Value,
    entry: Arc<Entry>,
}

impl Resolution {
    fn text(&self, key: &str) -> Option<&str> {
        self.view.get(key).and_then(Value::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.view.get(key).and_then(Value::as_bool).unwrap_or(false)
    }
}

#[pymethods]
impl Resolution {
    /// The session id.
    #[getter]
    fn session(&self) -> Option<&str> {
        self.text("session")
    }

    /// The persona id the session is linked to, as recorded (None for an unknown session).
    #[getter]
    fn persona(&self) -> Option<&str> {
        self.text("persona")
    }

    /// The id of the persona to use.
    #[getter]
    fn resolved(&self) -> &str {
        &self.entry.id
    }

    /// The persona to use, as a `Persona` of the snapshot it was resolved against.
    #[getter]
    fn resolved_persona(&self) -> Persona {
        Persona {
            entry: Arc::clone(&self.entry),
        }
    }

    /// Whether this is the default persona because the session has no live persona.
    #[getter]
    fn fallback(&self) -> bool {
        self.flag("fallback")
    }

    /// The revision of the resolved persona now.
    #[getter]
    fn revision(&self) -> &str {
        self.entry.revision()
    }

    /// The revision recorded with the link, or None.
    #[getter]
    fn linked_revision(&self) -> Option<&str> {
        self.text("linked_revision")
    }

    /// Whether the persona changed since the session was linked.
    #[getter]
    fn changed(&self) -> bool {
        self.flag("changed")
    }

    /// Whether the linked id was found among a persona's aliases (a renamed persona).
    #[getter]
    fn via_alias(&self) -> bool {
        self.flag("via_alias")
    }

    /// When the link was made (RFC 3339), or None.
    #[getter]
    fn linked_at(&self) -> Option<&str> {
        self.text("linked_at")
    }

    /// The persona as it was when the session was linked (a dict of its resolved fields, as
    /// in `personactl session show --pinned --format json`), its content checked against
    /// its revision; None when there is none (see `pinned_reason`).
    #[getter]
    fn pinned<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.pinned_view.get("pinned") {
            Some(Value::Null) | None => Ok(None),
            Some(p) => Ok(Some(pythonize::pythonize(py, p)?)),
        }
    }

    /// The revision of `pinned`, or None.
    #[getter]
    fn pinned_revision(&self) -> Option<&str> {
        self.pinned_view
            .get("pinned_revision")
            .and_then(Value::as_str)
    }

    /// Why `pinned` is None (not linked, linked before revisions were stored, not stored,
    /// damaged content that is never served), or None.
    #[getter]
    fn pinned_reason(&self) -> Option<&str> {
        self.pinned_view
            .get("pinned_reason")
            .and_then(Value::as_str)
    }

    /// The resolution as `personactl session show --format json` prints it; with
    /// `pinned=True`, as `personactl session show --pinned --format json`.
    #[pyo3(signature = (pinned = false))]
    fn to_dict<'py>(&self, py: Python<'py>, pinned: bool) -> PyResult<Bound<'py, PyAny>> {
        let view = if pinned {
            &self.pinned_view
        } else {
            &self.view
        };
        Ok(pythonize::pythonize(py, view)?)
    }

    fn __repr__(&self) -> String {
        format!("<Resolution {}>", self.view)
    }
}

/// One session's link: the persona id and its revision when linked, and when.
#[pyclass(frozen, module = "personas", get_all)]
pub struct Link {
    /// The session id.
    session: String,
    /// The persona id as linked.
    persona: String,
    /// The persona's revision then, when recorded.
    revision: Option<String>,
    /// When (RFC 3339).
    linked_at: String,
}

impl Link {
    fn new(session: String, link: &personas::Link) -> Self {
        Link {
            session,
            persona: link.persona.to_string(),
            revision: link.revision.as_deref().map(str::to_owned),
            linked_at: link.at.to_string(),
        }
    }
}

#[pymethods]
impl Link {
    /// `{"session", "persona", "revision", "at"}`, as `personactl session list --format json`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let doc = serde_json::json!({
            "session": self.session,
            "persona": self.persona,
            "revision": self.revision,
            "at": self.linked_at,
        });
        Ok(pythonize::pythonize(py, &doc)?)
    }

    fn __repr__(&self) -> String {
        let revision = self
            .revision
            .as_deref()
            .map_or_else(|| "None".to_owned(), |r| format!("{r:?}"));
        format!(
            "Link(session={:?}, persona={:?}, revision={revision}, linked_at={:?})",
            self.session, self.persona, self.linked_at
        )
    }
}
