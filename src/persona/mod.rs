//! The persona model: the Rust types behind every persona file.
//!
//! [`Persona`] is the resolved persona a chat service uses. The file format itself is
//! [`PersonaFile`](crate::PersonaFile): its doc comments and `#[schemars]` limits (and those of
//! [`ModelSettings`] here) become the JSON Schema in `schema/persona.schema.json`, which editors
//! and `personactl validate` both enforce.

pub(crate) mod defaults;
pub(crate) mod explain;
pub(crate) mod file;
pub(crate) mod vars;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The grammar of a persona id: lowercase kebab-case.
pub const ID_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";
/// The longest id allowed, in characters.
pub const ID_MAX_LEN: usize = 64;
/// The `schema_version` this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
/// The pattern that makes a string "not blank": it holds a non-whitespace character.
pub(crate) const NOT_BLANK: &str = r"\S";

/// A chat persona, complete: what a chat service uses. A file without `extends` holds one
/// as written; a file with `extends` ([`PersonaFile`](crate::PersonaFile)) becomes one once
/// its family is resolved (see [`Catalog`](crate::Catalog) and the registry).
///
/// Required keys: `name`, `description`, `icon`, `system_prompt`. Every other key is optional.
/// Unknown keys are errors, so that a typo is never silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Version of the persona format this file is written for. The current version is 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,

    /// The persona's id. Optional: the id is the file name without `.toml`; when this key is
    /// present it must equal the file name. Lowercase kebab-case, at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,

    /// Display name shown in persona pickers, e.g. "Coach". 1–64 characters, not blank.
    pub name: String,

    /// One or two sentences saying what the persona is for. 1–500 characters, not blank.
    pub description: String,

    /// An emoji, or a short reference to an image (a path or URL). 1–256 characters, not blank.
    pub icon: String,

    /// The system prompt sent to the model. 1–32,768 characters, not blank.
    pub system_prompt: String,

    /// Free-form labels for filtering and search. At most 16, unique, each 1–32 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,

    /// The first message shown to the user when a chat starts. 1–2,000 characters, not blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,

    /// Suggested first messages a user can pick. At most 8, unique, each 1–300 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starters: Vec<String>,

    /// A hidden persona can be used (by id, or by sessions linked to it) but is not listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,

    /// Position in persona pickers: lower comes first; ties are broken by id.
    /// An integer from -10,000 to 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,

    /// Former ids of this persona, so that renaming it does not orphan chat sessions linked to
    /// the old id. At most 32, unique, each a valid id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,

    /// Model parameters for this persona.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSettings>,

    /// Prompt variables and their default values: `{{name}}` in `system_prompt` or `greeting`
    /// is replaced by the caller's value, or else by this default (see
    /// [`Persona::render`](crate::Persona::render)).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,

    /// A free-form table for other tools. personactl never interprets it and keeps it intact
    /// on every rewrite.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// Sampling parameters passed to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Sampling temperature, from 0 to 2. Higher is more varied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,

    /// Nucleus sampling: the probability mass to sample from, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f64>,

    /// The most tokens the model may generate in one reply, from 1 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_tokens: Option<u32>,

    /// The model a chat tool should use for this persona: a free-form id such as
    /// `gpt-4o-mini`. 1–128 characters, not blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"\S"))]
    pub name: Option<String>,

    /// The tokenizer that counts this persona's tokens: `o200k_base` or `cl100k_base`. When
    /// absent, the one `name` implies (`gpt-4` and `gpt-3.5` models use `cl100k_base`),
    /// else `o200k_base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::tokens::tokenizer_schema")]
    pub tokenizer: Option<crate::tokens::Tokenizer>,

    /// A budget: the most tokens the rendered system prompt may have (variables at their
    /// defaults), from 1 to 1,000,000. A prompt over it is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_prompt_tokens: Option<u32>,
}

impl Persona {
    /// A persona with the four required fields set, `schema_version = 1`, and nothing else.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        icon: impl Into<String>,
        system_prompt: impl Into<String>,
    ) -> Self {
        Persona {
            schema_version: Some(SCHEMA_VERSION),
            id: None,
            name: name.into(),
            description: description.into(),
            icon: icon.into(),
            system_prompt: system_prompt.into(),
            tags: Vec::new(),
            greeting: None,
            starters: Vec::new(),
            hidden: false,
            order: None,
            aliases: Vec::new(),
            model: None,
            vars: BTreeMap::new(),
            extensions: BTreeMap::new(),
        }
    }

    /// Whether the persona appears in listings (`hidden` personas are usable but not listed).
    #[must_use]
    pub fn is_listed(&self) -> bool {
        !self.hidden
    }
}

/// Whether `id` follows the persona id grammar: lowercase kebab-case, 1–64 characters.
///
/// ```
/// assert!(personas::is_valid_id("story-teller"));
/// assert!(!personas::is_valid_id("Story_Teller"));
/// assert!(!personas::is_valid_id("../etc/passwd"));
/// ```
#[must_use]
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= ID_MAX_LEN
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}
