//! personactl: AI chat personas as TOML files in git, validated like code.
#![deny(missing_docs)]

mod catalog;
mod defaults;
mod diagnostic;
mod document;
mod error;
mod load;
mod persona;
mod render;
mod schema;
mod sessions;
mod source;
mod validate;
mod violations;

pub use catalog::{Catalog, Entry, Lookup, revision};
pub use defaults::{DEFAULT_PERSONA_ID, DEFAULT_PERSONAS, InitEntry, init};
pub use diagnostic::{Code, Diagnostic, Related, Severity, Snippet};
pub use error::Error;
pub use load::{MAX_FILE_BYTES, discover, is_persona_file_name};
pub use persona::{ID_MAX_LEN, ID_PATTERN, ModelSettings, Persona, SCHEMA_VERSION, is_valid_id};
pub use render::{
    JsonReport, sarif_log, write_diagnostic, write_github, write_human, write_json, write_sarif,
};
pub use schema::{SCHEMA_HEADER, SCHEMA_RELATIVE_PATH, persona_schema, schema_text};
pub use sessions::{
    Compaction, Durability, Link, Resolution, SESSION_ID_MAX_BYTES, SessionError, SessionIndex,
    SessionLog, Timestamp, check_session_id, check_sessions, resolve,
};
pub use source::{Position, position};
pub use validate::{
    CheckedFile, Report, ValidateOptions, check_file, check_text, cross_file_diagnostics, stem_id,
    validate_paths,
};
