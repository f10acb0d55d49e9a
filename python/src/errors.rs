//! The exception hierarchy, and the crate's errors mapped onto it with the CLI's messages.

use std::path::Path;

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::report::diagnostics_list;

pyo3::create_exception!(
    personas,
    Error,
    PyException,
    "The base of every error the personas package raises."
);
pyo3::create_exception!(
    personas,
    ValidationError,
    Error,
    "A persona (or a write) is invalid; `.diagnostics` lists every problem, each with its \
     path, line, column, severity, code, message and hint."
);
pyo3::create_exception!(
    personas,
    SessionError,
    Error,
    "The sessions index refused an input (a bad session id) or failed (I/O, an unreachable \
     database, a missing default persona)."
);
pyo3::create_exception!(
    personas,
    NotFound,
    Error,
    "A directory, file or persona that was asked for does not exist."
);
pyo3::create_exception!(
    personas,
    Conflict,
    Error,
    "A write conflicts with what exists: the id is taken, or other personas extend the one \
     being deleted."
);
pyo3::create_exception!(
    personas,
    RenderError,
    Error,
    "A prompt could not be rendered: a malformed placeholder, an undeclared variable, or \
     `user_name` with no value (the message gives the field, line and column)."
);

/// A [`ValidationError`] carrying `diagnostics`.
pub fn validation_error(
    py: Python<'_>,
    message: String,
    diagnostics: &[personas::Diagnostic],
) -> PyErr {
    let err = ValidationError::new_err(message);
    let list = diagnostics_list(py, diagnostics)
        .unwrap_or_else(|_| PyList::empty(py))
        .into_any();
    match err.value(py).setattr("diagnostics", list) {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// A library error, raised from opening or reloading the personas directory `dir`: a missing
/// directory says so as `personactl` does.
pub fn dir_error(dir: &Path, e: personas::Error) -> PyErr {
    match e {
        personas::Error::NotFound { ref path } if path == dir => NotFound::new_err(format!(
            "personas directory `{}` does not exist",
            dir.display()
        )),
        other => library_error(other),
    }
}

/// A library error as an exception: `NotFound` for a missing path, `Error` otherwise.
pub fn library_error(e: personas::Error) -> PyErr {
    match e {
        personas::Error::NotFound { .. } => NotFound::new_err(e.to_string()),
        other => Error::new_err(other.to_string()),
    }
}

/// A sessions error as a `SessionError`, with the library's (and so the CLI's) message.
pub fn session_error(e: personas::SessionError) -> PyErr {
    SessionError::new_err(e.to_string())
}

/// A refused or failed write, as `personactl` and the HTTP API report it.
pub fn store_error(py: Python<'_>, e: personas::StoreError) -> PyErr {
    use personas::StoreError;
    match e {
        StoreError::Invalid { diagnostics } => validation_error(
            py,
            "refused: the result would not be a valid persona; nothing was written".to_owned(),
            &diagnostics,
        ),
        StoreError::InvalidId { .. } | StoreError::UnknownKey { .. } => {
            validation_error(py, e.to_string(), &[])
        }
        StoreError::NotFound { .. } => NotFound::new_err(e.to_string()),
        StoreError::Conflict { .. } | StoreError::HasChildren { .. } => {
            Conflict::new_err(e.to_string())
        }
        StoreError::Io(e) => library_error(e),
        other => Error::new_err(other.to_string()),
    }
}
