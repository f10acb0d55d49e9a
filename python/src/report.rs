//! `Diagnostic`, `Report` and `validate()`: `personactl validate` from Python.

use std::path::PathBuf;

use personas::{JsonReport, ValidateOptions, validate_paths};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::{dir_error, library_error};

/// One problem at one place in one file, with a stable code (`schema.range`, …).
/// `to_dict()` has exactly the keys of `personactl validate --format json`.
#[pyclass(frozen, module = "personas")]
pub struct Diagnostic {
    inner: personas::Diagnostic,
}

#[pymethods]
impl Diagnostic {
    /// The file, as named or as found under a folder.
    #[getter]
    fn path(&self) -> String {
        self.inner.path.to_string_lossy().into_owned()
    }

    /// 1-based line.
    #[getter]
    fn line(&self) -> usize {
        self.inner.line
    }

    /// 1-based column, in characters.
    #[getter]
    fn column(&self) -> usize {
        self.inner.column
    }

    /// "error" or "warning".
    #[getter]
    fn severity(&self) -> &'static str {
        self.inner.severity.as_str()
    }

    /// The stable dotted code, e.g. "schema.required".
    #[getter]
    fn code(&self) -> &'static str {
        self.inner.code.as_str()
    }

    /// What is wrong.
    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }

    /// How to fix it, or None.
    #[getter]
    fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// `{"path", "line", "column", "severity", "code", "message", "hint"}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.inner)?)
    }

    fn __repr__(&self) -> String {
        format!("<Diagnostic {self}>", self = self.__str__())
    }

    /// `path:line:column: severity[code]: message`, as the CLI's first line.
    fn __str__(&self) -> String {
        let d = &self.inner;
        format!(
            "{}:{}:{}: {}[{}]: {}",
            d.path.display(),
            d.line,
            d.column,
            d.severity.as_str(),
            d.code,
            d.message
        )
    }
}

/// Diagnostics as a Python list of `Diagnostic`.
pub fn diagnostics_list<'py>(
    py: Python<'py>,
    diagnostics: &[personas::Diagnostic],
) -> PyResult<Bound<'py, PyList>> {
    let items = diagnostics
        .iter()
        .map(|d| Diagnostic { inner: d.clone() })
        .map(|d| Bound::new(py, d))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// The outcome of `validate()`: `ok`, `files` and every diagnostic, sorted by path, line and
/// column. `to_dict()` is the document `personactl validate --format json` prints.
#[pyclass(frozen, module = "personas")]
pub struct Report {
    inner: personas::Report,
}

#[pymethods]
impl Report {
    /// Whether no errors were found (warnings allowed).
    #[getter]
    fn ok(&self) -> bool {
        self.inner.is_ok()
    }

    /// How many persona files were checked.
    #[getter]
    fn files(&self) -> usize {
        self.inner.files
    }

    /// Every problem.
    #[getter]
    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        diagnostics_list(py, &self.inner.diagnostics)
    }

    /// How many errors (not warnings) were found.
    #[getter]
    fn error_count(&self) -> usize {
        self.inner.error_count()
    }

    /// `{"ok", "files", "diagnostics": [...]}`, exactly as `personactl validate --format json`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let doc = JsonReport {
            ok: self.inner.is_ok(),
            files: self.inner.files,
            diagnostics: &self.inner.diagnostics,
        };
        Ok(pythonize::pythonize(py, &doc)?)
    }

    fn __bool__(&self) -> bool {
        self.inner.is_ok()
    }

    fn __repr__(&self) -> String {
        format!(
            "<Report ok={} files={} errors={}>",
            self.inner.is_ok(),
            self.inner.files,
            self.inner.error_count()
        )
    }
}

/// Checks persona files and folders as `personactl validate [PATH…]` does: every problem in
/// every file, with the cross-file rules; `default.missing` when the whole personas directory
/// `dir` is checked (no `paths`, or `dir` among them). Problems in files are diagnostics in
/// the report; a path that does not exist raises `NotFound`.
#[pyfunction]
#[pyo3(signature = (paths = None, *, dir = PathBuf::from("personas"), default_persona = personas::DEFAULT_PERSONA_ID.to_owned()))]
pub fn validate(
    py: Python<'_>,
    paths: Option<Vec<PathBuf>>,
    dir: PathBuf,
    default_persona: String,
) -> PyResult<Report> {
    let named = paths.unwrap_or_default();
    // As the CLI: named files are checked in the context of `dir`, and the crate decides when
    // the directory is checked as a whole (`default.missing`).
    let options = ValidateOptions {
        default_persona: Some(default_persona),
        dir: Some(dir.clone()),
    };
    let targets = if named.is_empty() {
        vec![dir.clone()]
    } else {
        named.clone()
    };
    let report = py
        .detach(|| validate_paths(&targets, &options))
        .map_err(|e| {
            if named.is_empty() {
                dir_error(&dir, e)
            } else {
                library_error(e)
            }
        })?;
    Ok(Report { inner: report })
}
