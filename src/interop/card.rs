//! Character cards, every version: V1 (the fields at the top level), V2
//! (`spec: chara_card_v2`) and V3 (`spec: chara_card_v3`) — as JSON, in a PNG, or in a CHARX.
//!
//! Mapped both ways: `name`, `creator_notes` ↔ `description`, `system_prompt`, `first_mes` ↔
//! `greeting`, `tags`. A card with an empty system prompt gets one composed from its
//! description, personality and scenario. Every other field (and every top-level key beside
//! `data`) is kept in `[extensions.card]` (see [`super::keep`]), as is the original of a
//! mapped field the persona cannot hold exactly; export restores them. Persona-only fields
//! travel in `data.extensions.personactl`.

use serde_json::{Map, Value, json};

use super::keep::{Kept, shorten};
use super::macros::{self, Dialect};
use super::{InteropError, Warnings, persona_only, restore_persona_only};
use crate::persona::Persona;

/// The key in `[extensions]` that holds what the persona has no place for.
pub(super) const EXT: &str = "card";
/// Where personas imported before V3 support kept their card fields (read on export).
const LEGACY_EXT: &str = "card_v2";

/// A card spec version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spec {
    /// Fields at the top level, no `spec`.
    V1,
    /// `chara_card_v2`.
    V2,
    /// `chara_card_v3`.
    V3,
}

impl Spec {
    fn name(self) -> &'static str {
        match self {
            Spec::V1 => "v1",
            Spec::V2 => "chara_card_v2",
            Spec::V3 => "chara_card_v3",
        }
    }
}

const NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 500;
const PROMPT_MAX: usize = 32_768;
const GREETING_MAX: usize = 2000;
const TAG_MAX: usize = 32;
const TAGS_MAX: usize = 16;

/// Fields of the V1 format (any of them, with `name`, marks a V1 card).
const V1_FIELDS: [&str; 5] = [
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
];

/// Parses a card's JSON: its spec and the card object.
pub(super) fn parse(json: &[u8]) -> Result<(Spec, Map<String, Value>), InteropError> {
    let card: Value =
        serde_json::from_slice(json).map_err(|e| InteropError::Json(e.to_string()))?;
    let Value::Object(obj) = card else {
        return Err(InteropError::MissingField("spec"));
    };
    let spec = match obj.get("spec") {
        Some(Value::String(s)) if s == "chara_card_v2" => Spec::V2,
        Some(Value::String(s)) if s == "chara_card_v3" => Spec::V3,
        Some(other) => {
            return Err(InteropError::UnsupportedSpec(format!(
                "spec {other}; personactl imports `chara_card_v2`, `chara_card_v3` and V1 cards"
            )));
        }
        None if obj.get("name").is_some_and(Value::is_string)
            && V1_FIELDS.iter().any(|k| obj.contains_key(*k)) =>
        {
            Spec::V1
        }
        None => {
            return Err(InteropError::UnsupportedSpec(
                "no `spec` key and no V1 card fields (`name` with `description`, `first_mes`, …): not a character card".into(),
            ));
        }
    };
    if spec != Spec::V1 && !obj.get("data").is_some_and(Value::is_object) {
        return Err(InteropError::MissingField("data"));
    }
    Ok((spec, obj))
}

/// A card (as [`parse`] gives it) → a persona.
pub(super) fn import(
    spec: Spec,
    obj: &Map<String, Value>,
    warnings: &mut Warnings,
) -> Result<Persona, InteropError> {
    let empty = Map::new();
    let data = if spec == Spec::V1 {
        obj
    } else {
        obj.get("data").and_then(Value::as_object).unwrap_or(&empty)
    };
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("");
    let raw_name = text("name");
    if raw_name.trim().is_empty() {
        return Err(InteropError::MissingField("data.name"));
    }
    let name = shorten(raw_name, NAME_MAX);
    if name.len() < raw_name.len() {
        warnings.push(format!(
            "the name has {} characters; shortened to {NAME_MAX} (the full name is kept and restored on export)",
            raw_name.chars().count()
        ));
    }

    let notes = text("creator_notes");
    let description = if fits(notes, DESCRIPTION_MAX) {
        notes.to_owned()
    } else {
        let first = text("description")
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        if first.trim().is_empty() {
            format!("{name}, imported from a character card.")
        } else {
            shorten(first.trim(), DESCRIPTION_MAX)
        }
    };

    let own_prompt = text("system_prompt");
    let full_prompt = if own_prompt.trim().is_empty() {
        composed_prompt(data)
    } else {
        macros::import(own_prompt, Dialect::Card)
    };
    let system_prompt = shorten(&full_prompt, PROMPT_MAX);
    if system_prompt.len() < full_prompt.len() {
        warnings.push(format!(
            "the system prompt has {} characters; the persona holds the first {PROMPT_MAX} (the card's full text is kept in [extensions.card] and restored on export)",
            full_prompt.chars().count()
        ));
    }

    let mut persona = Persona::new(name, description, "🎭".to_owned(), system_prompt);
    let first_mes = macros::import(text("first_mes"), Dialect::Card);
    if !first_mes.trim().is_empty() {
        let greeting = shorten(&first_mes, GREETING_MAX);
        if greeting.len() < first_mes.len() {
            warnings.push(format!(
                "the greeting (first_mes) has {} characters; the persona holds the first {GREETING_MAX} (the full text is kept and restored on export)",
                first_mes.chars().count()
            ));
        }
        persona.greeting = Some(greeting).filter(|g| !g.trim().is_empty());
    }
    let mut tags: Vec<String> = Vec::new();
    for t in data
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let t = t.trim();
        if fits(t, TAG_MAX) && !tags.iter().any(|x| x == t) && tags.len() < TAGS_MAX {
            tags.push(t.to_owned());
        }
    }
    let given = data
        .get("tags")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if tags.len() < given {
        warnings.push(format!(
            "{} of the card's {given} tags are not persona tags (blank, over {TAG_MAX} characters, repeated, or past {TAGS_MAX}); all are kept for export",
            given - tags.len()
        ));
    }
    persona.tags = tags;
    let card_ext = data.get("extensions").and_then(Value::as_object);
    if let Some(Value::Object(saved)) = card_ext.and_then(|e| e.get("personactl")) {
        restore_persona_only(&mut persona, saved);
    }

    let mut kept = Kept::default();
    let mapped = mapped_fields(&persona);
    for (key, ours) in &mapped {
        kept.mapped(key, ours, data.get(*key), &export_field(key, ours));
    }
    // Export writes every spec field with its empty default: a field equal to it is not kept.
    let empty_defaults = defaults(spec);
    for (key, value) in data {
        if mapped.iter().any(|(k, _)| k == key) {
            continue;
        }
        let value = match (key.as_str(), value) {
            ("extensions", Value::Object(ext)) => {
                let mut others = ext.clone();
                others.remove("personactl");
                Value::Object(others)
            }
            _ => value.clone(),
        };
        if empty_defaults.get(key) != Some(&value) {
            kept.put(key, &value);
        }
    }
    let mut head = Map::new();
    head.insert("spec".into(), Value::String(spec.name().into()));
    if spec != Spec::V1 {
        let mut top = Map::new();
        let mut mirrors = Vec::new();
        for (key, value) in obj {
            if key == "spec" || key == "data" {
                continue;
            }
            let default_version =
                (spec == Spec::V3 && value == "3.0") || (spec == Spec::V2 && value == "2.0");
            if key == "spec_version" && default_version {
                continue;
            }
            if data.get(key) == Some(value) {
                mirrors.push(Value::String(key.clone()));
            } else {
                top.insert(key.clone(), value.clone());
            }
        }
        if !mirrors.is_empty() {
            head.insert("mirrors".into(), Value::Array(mirrors));
        }
        let mut top_kept = Kept::default();
        for (k, v) in &top {
            top_kept.put(k, v);
        }
        if top_kept != Kept::default() {
            head.insert("top".into(), top_kept.into_value(Map::new()));
        }
    }
    // A card that holds nothing the persona lacks (one exported from a persona) leaves no trace.
    if kept != Kept::default() || head.len() > 1 || spec != Spec::V2 {
        persona.extensions.insert(EXT.into(), kept.into_value(head));
    }
    Ok(persona)
}

/// A persona → a card of `spec` (V2 or V3) as JSON.
pub(super) fn export(persona: &Persona, spec: Spec) -> Value {
    let ext = persona
        .extensions
        .get(EXT)
        .or_else(|| persona.extensions.get(LEGACY_EXT));
    let kept = if persona.extensions.contains_key(EXT) {
        Kept::from_value(ext)
    } else {
        // Legacy: the kept fields were the table itself.
        Kept {
            fields: ext.and_then(Value::as_object).cloned().unwrap_or_default(),
            ..Kept::default()
        }
    };
    let mut data = defaults(spec);
    for (k, v) in kept.entries() {
        data.insert(k, v);
    }
    for (key, ours) in mapped_fields(persona) {
        match kept.original(key, &ours) {
            Some(Some(original)) => {
                data.insert(key.to_owned(), original);
            }
            Some(None) => {
                if let Some(d) = defaults(spec).get(key) {
                    data.insert(key.to_owned(), d.clone());
                } else {
                    data.remove(key);
                }
            }
            None => {
                data.insert(key.to_owned(), export_field(key, &ours));
            }
        }
    }
    let mut card_ext = data
        .get("extensions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    card_ext.insert(
        "personactl".into(),
        Value::Object(persona_only(persona, &[EXT, LEGACY_EXT])),
    );
    data.insert("extensions".into(), Value::Object(card_ext));

    let source = ext
        .and_then(|e| e.get("spec"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut card = Map::new();
    card.insert("spec".into(), Value::String(spec.name().into()));
    let version = if spec == Spec::V3 { "3.0" } else { "2.0" };
    card.insert("spec_version".into(), Value::String(version.into()));
    if source == spec.name() {
        let top = Kept::from_value(ext.and_then(|e| e.get("top")));
        for (k, v) in top.entries() {
            card.insert(k, v);
        }
    }
    let mirrors = ext
        .and_then(|e| e.get("mirrors"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for key in mirrors.iter().filter_map(Value::as_str) {
        if let Some(v) = data.get(key) {
            card.insert(key.to_owned(), v.clone());
        }
    }
    card.insert("data".into(), Value::Object(data));
    Value::Object(card)
}

/// The persona values of the mapped card fields, by card field name.
fn mapped_fields(persona: &Persona) -> Vec<(&'static str, Value)> {
    vec![
        ("name", Value::String(persona.name.clone())),
        ("creator_notes", Value::String(persona.description.clone())),
        (
            "system_prompt",
            Value::String(persona.system_prompt.clone()),
        ),
        (
            "first_mes",
            persona.greeting.clone().map_or(Value::Null, Value::String),
        ),
        ("tags", json!(persona.tags)),
    ]
}

/// A mapped persona value as the card field holds it.
fn export_field(key: &str, ours: &Value) -> Value {
    match (key, ours) {
        ("system_prompt" | "first_mes", Value::String(s)) => {
            Value::String(macros::export(s, Dialect::Card))
        }
        ("first_mes", Value::Null) => Value::String(String::new()),
        _ => ours.clone(),
    }
}

/// A spec's fields with their empty defaults.
fn defaults(spec: Spec) -> Map<String, Value> {
    let mut value = json!({
        "name": "",
        "description": "",
        "personality": "",
        "scenario": "",
        "first_mes": "",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [],
        "creator": "",
        "character_version": "",
        "extensions": {},
    });
    if spec == Spec::V3 {
        value["group_only_greetings"] = json!([]);
    }
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A system prompt from the card's character fields, for cards whose own is empty.
fn composed_prompt(data: &Map<String, Value>) -> String {
    let mut parts = vec!["You are {{persona_name}}.".to_owned()];
    for (key, label) in [
        ("description", ""),
        ("personality", "Personality: "),
        ("scenario", "Scenario: "),
    ] {
        if let Some(text) = data
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
        {
            parts.push(format!(
                "{label}{}",
                macros::import(text.trim(), Dialect::Card)
            ));
        }
    }
    parts.join("\n\n")
}

fn fits(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max
}
