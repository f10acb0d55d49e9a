//! Import and export of other persona formats: character cards (V1, V2, V3; JSON, PNG, CHARX),
//! Markdown agent files with YAML front matter (Claude Code subagents, VS Code custom agents),
//! Open WebUI model presets, and (export only) LibreChat `modelSpecs`.
//!
//! Mapping rule: every field the target can hold is mapped; everything else travels in
//! `[extensions]` (`extensions.card`, `extensions.agent_md`, `extensions.open_webui`, see
//! [`keep`] for the layout) on import, and in the target's own extension point
//! (`data.extensions.personactl`, a `personactl:` front-matter key, `meta.personactl`) on
//! export, so that export after import gives the source back. Content over a persona limit is
//! shortened in the persona, with a warning, and kept whole for export. Import functions are
//! pure: they read bytes and return personas; writing is the caller's.

mod agent_md;
mod card;
mod charx;
mod keep;
mod macros;
mod open_webui;
mod png;
mod yaml;

use serde_json::{Map, Value};

use crate::persona::{ID_MAX_LEN, Persona};

pub use charx::{MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_RATIO, MAX_TOTAL_BYTES};
pub use yaml::{MAX_BYTES as MAX_YAML_BYTES, MAX_NODES as MAX_YAML_NODES};

/// The largest file [`import`] reads (PNG cards carry an image, CHARX archives assets).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// Warnings about what an import read leniently or shortened (nothing is ever lost silently).
pub(crate) type Warnings = Vec<String>;

/// The `[extensions]` key where a persona records what it was imported from.
pub const IMPORT_EXT: &str = "import";

/// An external persona format, as detected on import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A V1 character card (the fields at the top level, no `spec`).
    CardV1,
    /// A Character Card V2 (`spec: chara_card_v2`), as JSON.
    CardV2,
    /// A Character Card V3 (`spec: chara_card_v3`), as JSON.
    CardV3,
    /// A card inside a PNG image (`ccv3` or `chara` text chunk).
    CardPng,
    /// A CHARX archive (zip: `card.json` and assets).
    Charx,
    /// Markdown with YAML front matter (`name`, `description`; body = system prompt).
    AgentMd,
    /// An Open WebUI model preset (its JSON export).
    OpenWebUi,
}

impl Format {
    /// A short name, as recorded in `[extensions.import] format`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::CardV1 => "card-v1",
            Format::CardV2 => "card-v2",
            Format::CardV3 => "card-v3",
            Format::CardPng => "card-png",
            Format::Charx => "charx",
            Format::AgentMd => "agent-md",
            Format::OpenWebUi => "open-webui",
        }
    }
}

/// A format [`export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Character Card V2 JSON.
    CardV2,
    /// Character Card V3 JSON.
    CardV3,
    /// A PNG with a V2 card (`chara` chunk).
    CardV2Png,
    /// A PNG with a V3 card (`ccv3` chunk, and a V2 `chara` chunk for older readers).
    CardV3Png,
    /// Markdown with YAML front matter.
    AgentMd,
    /// An Open WebUI model preset (JSON, a list of one model, as its import expects).
    OpenWebUi,
    /// A LibreChat `modelSpecs` block (YAML) with one spec.
    LibreChat,
}

impl Target {
    /// The file extensions an output file of this target may have.
    #[must_use]
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Target::CardV2 | Target::CardV3 | Target::OpenWebUi => &["json"],
            Target::CardV2Png | Target::CardV3Png => &["png"],
            Target::AgentMd => &["md", "markdown"],
            Target::LibreChat => &["yaml", "yml"],
        }
    }
}

/// Why a file could not be imported or a persona exported. Nothing is written in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    /// The content is none of the known formats.
    #[error(
        "not a recognised persona format: expected a character card (V1/V2/V3 JSON, PNG or CHARX), an Open WebUI model export, or a Markdown agent file with `---` front matter"
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
    /// A CHARX archive that is broken or over a limit.
    #[error("CHARX: {0}")]
    Charx(String),
    /// Malformed front matter.
    #[error("invalid front matter: {0}")]
    FrontMatter(String),
}

/// A file of an imported persona that is not part of its TOML (a card's image, a CHARX
/// asset), to be written beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// A safe relative path (plain components joined by `/`).
    pub path: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// The file name of the image a PNG card was read from, among its assets.
pub const CARD_IMAGE: &str = "card.png";

/// An imported persona, with the id derived from its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The id derived from the name (kebab-case); callers de-duplicate it.
    pub id: String,
    /// The persona (not yet validated: the store validates before writing).
    pub persona: Persona,
    /// The format it came from.
    pub format: Format,
    /// What was shortened or read leniently (full content is kept for export).
    pub warnings: Vec<String>,
    /// Files that belong to the persona (written beside it by the caller).
    pub assets: Vec<Asset>,
    /// SHA-256 (hex) of the source file.
    pub source_sha256: String,
}

/// Imports one file's content, detecting its format from the content. A file holding several
/// personas (an Open WebUI export of many models) gives its first; see [`import_all`].
///
/// # Errors
///
/// [`InteropError`] for content that is not a persona of a known format.
pub fn import(bytes: &[u8]) -> Result<Imported, InteropError> {
    import_all(bytes)?
        .into_iter()
        .next()
        .ok_or(InteropError::NotRecognized)
}

/// Imports every persona in one file's content (one, except for an Open WebUI export of
/// several models), detecting its format from the content.
///
/// # Errors
///
/// [`InteropError`] for content that is not a persona of a known format.
pub fn import_all(bytes: &[u8]) -> Result<Vec<Imported>, InteropError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(InteropError::TooLarge(bytes.len()));
    }
    let hash = keep::source_sha256(bytes);
    let mut warnings = Vec::new();
    if png::is_png(bytes) {
        let (json, _) = png::card_json(bytes)?;
        let (spec, obj) = card::parse(&json)?;
        let persona = card::import(spec, &obj, &mut warnings)?;
        let assets = vec![Asset {
            path: CARD_IMAGE.into(),
            bytes: png::image_without_card(bytes)?,
        }];
        return Ok(vec![imported(
            persona,
            Format::CardPng,
            warnings,
            assets,
            hash,
        )]);
    }
    if charx::is_zip(bytes) {
        let (json, assets) = charx::read(bytes)?;
        let (spec, obj) = card::parse(&json)?;
        let persona = card::import(spec, &obj, &mut warnings)?;
        return Ok(vec![imported(
            persona,
            Format::Charx,
            warnings,
            assets,
            hash,
        )]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| InteropError::NotRecognized)?;
    let without_bom = text.trim_start_matches('\u{feff}');
    let trimmed = without_bom.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value =
            serde_json::from_str(trimmed).map_err(|e| InteropError::Json(e.to_string()))?;
        let models: Vec<&Value> = match &value {
            Value::Array(items) if !items.is_empty() && items.iter().all(open_webui::is_model) => {
                items.iter().collect()
            }
            v if open_webui::is_model(v) => vec![v],
            _ => Vec::new(),
        };
        if !models.is_empty() {
            let mut out = Vec::new();
            for m in models {
                let mut warnings = Vec::new();
                let (id, persona) = open_webui::import(m, &mut warnings)?;
                let mut one = imported(
                    persona,
                    Format::OpenWebUi,
                    warnings,
                    Vec::new(),
                    hash.clone(),
                );
                let from_id = id_from_name(&id);
                if !from_id.starts_with("persona-") {
                    one.id = from_id;
                }
                out.push(one);
            }
            return Ok(out);
        }
        let (spec, obj) = card::parse(trimmed.as_bytes())?;
        let persona = card::import(spec, &obj, &mut warnings)?;
        let format = match spec {
            card::Spec::V1 => Format::CardV1,
            card::Spec::V2 => Format::CardV2,
            card::Spec::V3 => Format::CardV3,
        };
        Ok(vec![imported(persona, format, warnings, Vec::new(), hash)])
    } else if trimmed.starts_with("---") {
        // The line of the file the opening `---` is on (blank lines before it are skipped).
        let skipped = &without_bom[..without_bom.len() - trimmed.len()];
        let first_line = skipped.matches('\n').count() + 1;
        let persona = agent_md::import(trimmed, first_line, &mut warnings)?;
        Ok(vec![imported(
            persona,
            Format::AgentMd,
            warnings,
            Vec::new(),
            hash,
        )])
    } else {
        Err(InteropError::NotRecognized)
    }
}

/// Exports a persona (`id` is its id) as the bytes of a `target` file. `image` is the PNG a
/// card export writes its card into (a blank 1×1 image when `None`).
///
/// # Errors
///
/// [`InteropError::Png`] when `image` is not a PNG.
pub fn export(
    id: &str,
    persona: &Persona,
    target: Target,
    image: Option<&[u8]>,
) -> Result<Vec<u8>, InteropError> {
    let json = |v: &Value| {
        let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
        text.push('\n');
        text
    };
    Ok(match target {
        Target::CardV2 => json(&card::export(persona, card::Spec::V2)).into_bytes(),
        Target::CardV3 => json(&card::export(persona, card::Spec::V3)).into_bytes(),
        Target::CardV2Png => {
            let v2 = card::export(persona, card::Spec::V2).to_string();
            png::with_cards(image, &[("chara", &v2)])?
        }
        Target::CardV3Png => {
            let v3 = card::export(persona, card::Spec::V3).to_string();
            let v2 = card::export(persona, card::Spec::V2).to_string();
            png::with_cards(image, &[("ccv3", &v3), ("chara", &v2)])?
        }
        Target::AgentMd => agent_md::export(persona).into_bytes(),
        Target::OpenWebUi => {
            json(&Value::Array(vec![open_webui::export(id, persona)])).into_bytes()
        }
        Target::LibreChat => open_webui::librechat(&[(id, persona)]).into_bytes(),
    })
}

/// The model name a persona carries for export (Open WebUI `base_model_id`, LibreChat
/// `preset.model`), if any.
#[must_use]
pub fn model_name(persona: &Persona) -> Option<String> {
    open_webui::model_name(persona)
}

fn imported(
    persona: Persona,
    format: Format,
    warnings: Warnings,
    assets: Vec<Asset>,
    source_sha256: String,
) -> Imported {
    Imported {
        id: id_from_name(&persona.name),
        persona,
        format,
        warnings,
        assets,
        source_sha256,
    }
}

/// A persona id from a display name in any script: transliterated to ASCII (`代理` →
/// `dai-li`, `Ünïcødé` → `unicode`), lowercase letters and digits, other runs become one
/// hyphen, at most 64 characters. When nothing is left (a name of emoji or symbols only), an
/// id from a hash of the name: `persona-` and 8 hex digits.
///
/// ```
/// assert_eq!(personas::id_from_name("Dr. Ada Lovelace!"), "dr-ada-lovelace");
/// assert_eq!(personas::id_from_name("代理"), "dai-li");
/// assert_eq!(personas::id_from_name("Ünïcødé"), "unicode");
/// assert!(personas::id_from_name("\u{e000}").starts_with("persona-"));
/// ```
#[must_use]
pub fn id_from_name(name: &str) -> String {
    let ascii = deunicode::deunicode_with_tofu(name, " ");
    let mut id = String::new();
    for c in ascii.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.truncate(ID_MAX_LEN);
    let id = id.trim_matches('-').to_owned();
    if id.is_empty() {
        format!("persona-{}", &keep::source_sha256(name.as_bytes())[..8])
    } else {
        id
    }
}

/// The persona-only fields a foreign format cannot hold, as a JSON object (empty ones left
/// out), for the target's extension point; `skip` names extensions keys not to include
/// (those holding the target's own fields; the import record is never included).
fn persona_only(persona: &Persona, skip: &[&str]) -> Map<String, Value> {
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
    if !persona.vars.is_empty() {
        put("vars", serde_json::json!(persona.vars));
    }
    let others: Map<String, Value> = persona
        .extensions
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()) && *k != IMPORT_EXT)
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
    if saved.contains_key("starters") {
        persona.starters = strings(saved.get("starters"));
    }
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
    if let Some(m) = saved.get("model") {
        persona.model = serde_json::from_value(m.clone()).ok();
    }
    if let Some(vars) = saved
        .get("vars")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
    {
        persona.vars = vars;
    }
    if let Some(Value::Object(ext)) = saved.get("extensions") {
        for (k, v) in ext {
            persona.extensions.insert(k.clone(), v.clone());
        }
    }
}
