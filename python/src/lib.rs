//! `personas._personas`: the Python extension module behind the `personas` package.
//!
//! A thin layer over the `personas` crate (the library of personactl): every rule, check and
//! format lives in the crate; this module converts values and errors, releases the
//! interpreter lock around file and database work, and keeps Python objects for personas so
//! that a lookup from Python costs about what a `dict` lookup does.

mod errors;
mod events;
mod persona;
mod registry;
mod report;
mod sessions;
mod snapshot;

use pyo3::prelude::*;

/// The compiled core of the `personas` package (import `personas`, not this module).
#[pymodule]
fn _personas(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_PERSONA_ID", personas::DEFAULT_PERSONA_ID)?;
    m.add("Error", py.get_type::<errors::Error>())?;
    m.add("ValidationError", py.get_type::<errors::ValidationError>())?;
    m.add("SessionError", py.get_type::<errors::SessionError>())?;
    m.add("NotFound", py.get_type::<errors::NotFound>())?;
    m.add("Conflict", py.get_type::<errors::Conflict>())?;
    m.add("RenderError", py.get_type::<errors::RenderError>())?;
    m.add_class::<registry::Registry>()?;
    m.add_class::<registry::Subscription>()?;
    m.add_class::<snapshot::Snapshot>()?;
    m.add_class::<snapshot::SnapshotIter>()?;
    m.add_class::<persona::Persona>()?;
    m.add_class::<persona::Rendered>()?;
    m.add_class::<events::Event>()?;
    m.add_class::<events::Status>()?;
    m.add_class::<report::Diagnostic>()?;
    m.add_class::<report::Report>()?;
    m.add_class::<sessions::SessionStore>()?;
    m.add_class::<sessions::Resolution>()?;
    m.add_class::<sessions::Link>()?;
    m.add_function(wrap_pyfunction!(report::validate, m)?)?;
    Ok(())
}
