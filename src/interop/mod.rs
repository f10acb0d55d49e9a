//! Import and export of other persona formats: SillyTavern Character Card V2 (JSON, or inside
//! a PNG's `chara` chunk) and Markdown agent files with YAML front matter (Claude Code
//! subagents, VS Code custom agents).
//!
//! Mapping rule: every field the target can hold is mapped; everything else travels in
//! `[extensions]` (`extensions.card_v2`, `extensions.agent_md`) on import, and in the target's
//! own extension point (`data.extensions.personactl`, a `personactl:` front-matter key) on
//! export, so that export after import loses nothing the source had.

mod agent_md;
mod card_v2;
mod png;

use serde_json::{Map, Value};

use crate::persona::{ID_MAX_LEN, Persona};

/// The largest file [`import`] reads (PNG cards carry an image).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// An external persona format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// SillyTavern Character Card V2 (`spec: chara_card_v2`), as JSON.
    CardV2,
    /// A Character Card V2 inside a PNG image's `chara` text chunk.
    CardV2Png,
    /// Markdown with YAML front matter (`name`, `description`; body = system prompt).
    AgentMd,
}

/// Why a file could not be imported or a persona exported. Nothing is written in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    /// The content is none of the known formats.
    #[error(
        "not a recognised persona format: expected a Character Card V2 (JSON or PNG) or a Markdown agent file with `---` front matter"
    )]
    NotRecognized,
    /// The file is larger than [`MAX_IMPORT_BYTES`].
    #[error("the file is {0} bytes; imports are limited to {MAX_IMPORT_BYTES} bytes")]
    TooLarge(usize),
    /// Malformed JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A card of another spec or version.
    #[error("unsupported card: {0}")]
    UnsupportedSpec(String),
    /// A required field is missing or has the wrong type.
    #[error("missing or invalid `{0}`")]
    MissingField(&'static str),
    /// A PNG without a card, or a broken PNG.
    #[error("{0}")]
    Png(String),
    /// Malformed front matter.
    #[error("invalid front matter: {0}")]
    FrontMatter(String),
}

/// An imported persona, with the id derived from its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The id derived from the name (kebab-case); callers de-duplicate it.
    pub id: String,
    /// The persona (not yet validated: the store validates before writing).
    pub persona: Persona,
    /// The format it came from.
    pub format: Format,
}

/// Imports one file's content, detecting its format from the content.
///
/// # Errors
///
/// [`InteropError`] for content that is not a persona of a known format.
pub fn import(bytes: &[u8]) -> Result<Imported, InteropError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(InteropError::TooLarge(bytes.len()));
    }
    if png::is_png(bytes) {
        let json = png::card_json(bytes)?;
        let persona = card_v2::import(&json)?;
        return Ok(imported(persona, Format::CardV2Png));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| InteropError::NotRecognized)?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        Ok(imported(
            card_v2::import(trimmed.as_bytes())?,
            Format::CardV2,
        ))
    } else if trimmed.starts_with("---") {
        Ok(imported(agent_md::import(trimmed)?, Format::AgentMd))
    } else {
        Err(InteropError::NotRecognized)
    }
}

/// Exports a persona as text in `format` (`CardV2Png` is not an export format: it exports
/// as card JSON).
#[must_use]
pub fn export(persona: &Persona, format: Format) -> String {
    match format {
        Format::CardV2 | Format::CardV2Png => card_v2::export(persona),
        Format::AgentMd => agent_md::export(persona),
    }
}

fn imported(persona: Persona, format: Format) -> Imported {
    Imported {
        id: id_from_name(&persona.name),
        persona,
        format,
    }
}

/// A persona id from a display name: lowercase ASCII letters and digits, other runs become
/// one hyphen, at most 64 characters; `persona` when nothing is left.
///
/// ```
/// assert_eq!(personas::id_from_name("Dr. Ada Lovelace!"), "dr-ada-lovelace");
/// assert_eq!(personas::id_from_name("✨"), "persona");
/// ```
#[must_use]
pub fn id_from_name(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.truncate(ID_MAX_LEN);
    let id = id.trim_matches('-').to_owned();
    if id.is_empty() {
        "persona".to_owned()
    } else {
        id
    }
}

/// The persona-only fields a foreign format cannot hold, as a JSON object (empty ones left
/// out), for the target's extension point; `skip` names an extensions key not to include
/// (the one holding the target's own fields).
fn persona_only(persona: &Persona, skip: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        if !(v.is_null() || v == Value::Bool(false) || v.as_array().is_some_and(Vec::is_empty)) {
            out.insert(k.to_owned(), v);
        }
    };
    put("icon", Value::String(persona.icon.clone()));
    put("starters", serde_json::json!(persona.starters));
    put("hidden", Value::Bool(persona.hidden));
    put("order", serde_json::json!(persona.order));
    put("aliases", serde_json::json!(persona.aliases));
    put(
        "model",
        serde_json::to_value(&persona.model).unwrap_or(Value::Null),
    );
    let others: Map<String, Value> = persona
        .extensions
        .iter()
        .filter(|(k, _)| *k != skip)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !others.is_empty() {
        put("extensions", Value::Object(others));
    }
    out
}

/// Restores what [`persona_only`] saved.
fn restore_persona_only(persona: &mut Persona, saved: &Map<String, Value>) {
    if let Some(icon) = saved.get("icon").and_then(Value::as_str) {
        icon.clone_into(&mut persona.icon);
    }
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    persona.starters = strings(saved.get("starters"));
    if saved.contains_key("tags") {
        persona.tags = strings(saved.get("tags"));
    }
    if let Some(greeting) = saved.get("greeting").and_then(Value::as_str) {
        persona.greeting = Some(greeting.to_owned());
    }
    persona.aliases = strings(saved.get("aliases"));
    persona.hidden = saved
        .get("hidden")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    persona.order = saved
        .get("order")
        .and_then(Value::as_i64)
        .and_then(|o| i32::try_from(o).ok());
    persona.model = saved
        .get("model")
        .and_then(|m| serde_json::from_value(m.clone()).ok());
    if let Some(Value::Object(ext)) = saved.get("extensions") {
        for (k, v) in ext {
            persona.extensions.insert(k.clone(), v.clone());
        }
    }
}

/// Drops JSON nulls, which TOML cannot hold.
fn without_nulls(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(without_nulls).collect(),
        )),
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| without_nulls(v).map(|v| (k, v)))
                .collect(),
        )),
        other => Some(other),
    }
}
