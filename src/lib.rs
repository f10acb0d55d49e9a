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
//!
//! # Map
//!
//! Data flows one way, each stage handing the next a value:
//!
//! ```text
//! bytes ──▶ document with spans ──▶ persona + diagnostics ──▶ catalog ──▶ snapshot
//!  (check::load)  (check::document)    (check::validate,          (check)     (registry)
//!                                       check::violations)
//! ```
//!
//! - [`check`]: the one check pipeline every verdict goes through (`validate`, the registry's
//!   load and hot reload, every write of the [`Store`], the tools built on them), over a
//!   [`check::Tree`] of files from disk, overlays or anywhere else. Inside: discovery and
//!   safe reading (`load`), the spanned TOML document (`document`), line:column positions
//!   (`source`), the generated schema and its violations (`schema`, `violations`), the rules
//!   of one file and across files (`validate`), families (`family`), and the resolved
//!   [`Catalog`] (`catalog`).
//! - `persona`: the format's types ([`Persona`], [`PersonaFile`] and its inheritance rules),
//!   prompt variables and rendering ([`Vars`]), the shipped defaults, [`explain`].
//! - `registry`: the hot-reloading [`Registry`], its immutable [`Snapshot`]s (their maps in
//!   shards that generations share), the incremental reload, file watching and its
//!   [`Event`]s.
//! - `tokens`: token counts identical to tiktoken's (`o200k_base`, `cl100k_base`), with a
//!   hand-written pre-tokenizer for ASCII text, and the prompt budget rule.
//! - `report`: the human, JSON, GitHub and SARIF renderings of diagnostics.
//! - `store`: validated, atomic, comment-preserving writes of persona files ([`Store`]).
//! - `sessions`: the sessions index (a file or PostgreSQL) behind [`SessionStore`].
//! - `interop`: import and export of other tools' formats; [`server`]: the HTTP API.
//! - `git` and `review`: persona files read from git commits and the work tree ([`GitRepo`]),
//!   and the resolved personas compared across revisions ([`diff`], [`log`]).
#![deny(missing_docs)]

pub mod check;
mod diagnostic;
mod error;
mod git;
mod interop;
pub mod lsp;
mod persona;
mod registry;
mod report;
mod review;
pub mod server;
mod sessions;
mod store;

// Short crate-internal names for modules inside the stages above.
use check::{
    bounded, catalog, document, family as resolve, load, schema, source, validate, violations,
};
use persona::{defaults, explain, file as persona_file, vars as placeholders};
use registry::{batch, events, reload, snapshot, watch};
use report as render;
mod tokens;

pub use catalog::{Catalog, Entry, Lookup, revision};
pub use defaults::{DEFAULT_PERSONA_ID, DEFAULT_PERSONAS, InitEntry, init};
pub use diagnostic::{Code, Diagnostic, Related, Severity, Snippet};
pub use error::Error;
pub use events::{Event, Status};
pub use explain::{Ancestor, Explanation, Origin, explain};
pub use interop::{
    Asset, CARD_IMAGE, Format, IMPORT_EXT, Imported, InteropError, MAX_ENTRIES, MAX_ENTRY_BYTES,
    MAX_IMPORT_BYTES, MAX_RATIO, MAX_TOTAL_BYTES, MAX_YAML_BYTES, MAX_YAML_NODES, Target, export,
    id_from_name, import, import_all, model_name,
};
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
pub use sessions::{DEFAULT_CONNECT_TIMEOUT, PgStore, REVISION_LEASE};
pub use sessions::{Pinned, PinnedView, Policy, Stale, Unpinned, Upgrade, stale, upgrade};
pub use snapshot::Snapshot;
pub use source::{Position, position};
pub use store::{
    Applied, NotToml, Store, StoreError, WriteOp, check_representable, render_new, render_value,
};
pub use tokens::{COUNT_DATE, TokenCounts, Tokenizer, count_tokens, tokenizer_of};
pub use validate::{
    CheckedFile, Report, ValidateOptions, check_file, check_text, cross_file_diagnostics, stem_id,
    validate_paths,
};
pub use watch::Watcher;
// Review in git: `diff`, `log`, `show --at`.
pub use git::{CommitId, CommitInfo, GitError, GitRepo, SourceFile, TreeId};
pub use review::{
    ChangeStatus, FieldChange, FileFacts, Head, LogEntry, LogOptions, Memo, PersonaChange, Review,
    Side, Summary, check_sources, compare, diff, log, write_human as write_review_human,
    write_json as write_review_json, write_markdown as write_review_markdown,
};
