//! personactl: AI chat personas as TOML files in git, validated like code, served to a chat
//! service by a hot-reloading [`Registry`].
//!
//! A chat service opens the registry once, starts watching, and takes a cheap snapshot per
//! request. An edit in git shows up live; an edit that breaks a file keeps that persona's last
//! good version live and says why.
//!
//! ```
//! use personas::{Event, Registry, Vars};
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("personas");
//! # std::fs::create_dir(&dir)?;
//! # std::fs::write(dir.join("journaling-assistant.toml"), concat!(
//! #     "name = \"Journaling Assistant\"\n",
//! #     "description = \"Helps you reflect on your day.\"\n",
//! #     "icon = \"📓\"\n",
//! #     "system_prompt = \"You are a gentle journaling companion.\"\n",
//! # ))?;
//!
//! // At start-up: load every persona, then watch the directory for edits.
//! let registry = Registry::open(&dir)?;
//! let _watch = registry.watch()?; // hot reload until dropped
//! let events = registry.subscribe(); // optional: hear about reloads
//!
//! // Per request: one snapshot, a consistent view however many reloads happen meanwhile.
//! let snapshot = registry.snapshot();
//! let persona = snapshot
//!     .find_or_default("coach") // by id or former id, else the default persona
//!     .ok_or("no persona and no default persona")?;
//! assert_eq!(persona.id, "journaling-assistant");
//! let system_prompt: &str = &persona.persona.system_prompt;
//! assert!(system_prompt.starts_with("You are"));
//!
//! // What the model is sent: inheritance already applied, `{{variables}}` rendered now.
//! let rendered = persona.persona.render(&Vars::today().with("user_name", "Ana"))?;
//! assert_eq!(rendered.system_prompt, "You are a gentle journaling companion.");
//!
//! // A server can expose how the last reload went.
//! let status = registry.status();
//! assert!(status.success && status.errors.is_empty());
//! # drop(events);
//! # let _: Option<Event> = None;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod batch;
mod catalog;
mod defaults;
mod diagnostic;
mod document;
mod error;
mod events;
mod explain;
mod interop;
mod load;
mod persona;
mod persona_file;
mod placeholders;
mod registry;
mod reload;
mod render;
mod resolve;
mod schema;
pub mod server;
mod sessions;
mod snapshot;
mod source;
mod store;
mod tokens;
mod validate;
mod violations;
mod watch;

pub use catalog::{Catalog, Entry, Lookup, revision};
pub use defaults::{DEFAULT_PERSONA_ID, DEFAULT_PERSONAS, InitEntry, init};
pub use diagnostic::{Code, Diagnostic, Related, Severity, Snippet};
pub use error::Error;
pub use events::{Event, Status};
pub use explain::{Ancestor, Explanation, Origin, explain};
pub use interop::{Format, Imported, InteropError, MAX_IMPORT_BYTES, export, id_from_name, import};
pub use load::{MAX_FILE_BYTES, discover, is_persona_file_name};
pub use persona::{ID_MAX_LEN, ID_PATTERN, ModelSettings, Persona, SCHEMA_VERSION, is_valid_id};
pub use persona_file::{PersonaFile, VAR_NAME_PATTERN};
pub use placeholders::{Date, Malformed, RenderError, Rendered, Vars};
pub use registry::{DEFAULT_DEBOUNCE, DEFAULT_MAX_BATCH_WAIT, Registry, RegistryBuilder};
pub use render::{
    JsonReport, sarif_log, write_diagnostic, write_github, write_human, write_json, write_sarif,
};
pub use schema::{SCHEMA_HEADER, SCHEMA_RELATIVE_PATH, persona_schema, schema_text};
pub use sessions::{
    Compaction, Copied, Durability, Link, Resolution, ResolutionView, SESSION_ID_MAX_BYTES,
    SessionBackend, SessionError, SessionIndex, SessionLog, SessionStore, Timestamp, check_links,
    check_session_id, check_sessions, copy_links, open_store, resolve,
};
#[cfg(feature = "postgres")]
pub use sessions::{DEFAULT_CONNECT_TIMEOUT, PgStore};
pub use snapshot::Snapshot;
pub use source::{Position, position};
pub use store::{Store, StoreError, render_new};
pub use tokens::{COUNT_DATE, TokenCounts, Tokenizer, count_tokens, tokenizer_of};
pub use validate::{
    CheckedFile, Report, ValidateOptions, check_file, check_text, cross_file_diagnostics, stem_id,
    validate_paths,
};
pub use watch::Watcher;
