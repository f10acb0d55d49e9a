//! SillyTavern Character Card V2 (`{"spec": "chara_card_v2", "spec_version": "2.0", "data": {…}}`).
//!
//! Mapped both ways: `name`, `creator_notes` ↔ `description`, `system_prompt`, `first_mes` ↔
//! `greeting`, `tags`. Every other card field is kept in `extensions.card_v2`, and so is the
//! original of a mapped field the persona cannot hold exactly (an empty system prompt, an
//! over-long greeting, …). Persona-only fields travel in `data.extensions.personactl`.

use serde_json::{Map, Value, json};

use super::{InteropError, persona_only, restore_persona_only, without_nulls};
use crate::persona::Persona;

/// The key in `[extensions]` that holds the card fields a persona has no place for.
const EXT: &str = "card_v2";

pub(super) fn import(json: &[u8]) -> Result<Persona, InteropError> {
    let card: Value =
        serde_json::from_slice(json).map_err(|e| InteropError::Json(e.to_string()))?;
    let obj = card.as_object().ok_or(InteropError::MissingField("spec"))?;
    match obj.get("spec").and_then(Value::as_str) {
        Some("chara_card_v2") => {}
        Some(other) => {
            return Err(InteropError::UnsupportedSpec(format!(
                "spec `{other}`; personactl imports `chara_card_v2`"
            )));
        }
        None => {
            return Err(InteropError::UnsupportedSpec(
                "no `spec` key (a V1 card, or not a card); personactl imports Character Card V2"
                    .into(),
            ));
        }
    }
    let version = obj
        .get("spec_version")
        .and_then(Value::as_str)
        .unwrap_or("");
    if version != "2.0" {
        return Err(InteropError::UnsupportedSpec(format!(
            "spec_version `{version}`; expected `2.0`"
        )));
    }
    let data = obj
        .get("data")
        .and_then(Value::as_object)
        .ok_or(InteropError::MissingField("data"))?;
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let name = text("name");
    if name.trim().is_empty() {
        return Err(InteropError::MissingField("data.name"));
    }

    let notes = text("creator_notes");
    let description = if fits(&notes, 500) {
        notes
    } else {
        let first = text("description")
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_owned();
        if fits(&first, 500) {
            first
        } else {
            format!("{name}, imported from a character card.")
        }
    };
    let prompt = text("system_prompt");
    let system_prompt = if fits(&prompt, 32_768) {
        prompt
    } else {
        composed_prompt(&name, data)
    };
    let mut persona = Persona::new(name, description, "🎭".to_owned(), system_prompt);
    let first_mes = text("first_mes");
    persona.greeting = fits(&first_mes, 2000).then_some(first_mes);
    let mut tags: Vec<String> = Vec::new();
    for t in data
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if fits(t, 32) && !tags.iter().any(|x| x == t) && tags.len() < 16 {
            tags.push(t.to_owned());
        }
    }
    persona.tags = tags;
    let card_ext = data
        .get("extensions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Object(saved)) = card_ext.get("personactl") {
        restore_persona_only(&mut persona, saved);
    }

    // What the persona cannot hold goes to extensions.card_v2: unmapped fields, and the
    // original of any mapped field that export would not reproduce.
    let exported = export_data(&persona);
    let mut keep = Map::new();
    for (key, value) in data {
        // Fields equal to what export produces (mapped values, or V2's empty defaults) need
        // not be kept.
        let keep_it = key != "extensions" && exported.get(key) != Some(value);
        if keep_it && let Some(v) = without_nulls(value.clone()) {
            keep.insert(key.clone(), v);
        }
    }
    let other_ext: Map<String, Value> = card_ext
        .into_iter()
        .filter(|(k, _)| k != "personactl")
        .collect();
    if let Some(v) = without_nulls(Value::Object(other_ext))
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        keep.insert("extensions".into(), v);
    }
    if !keep.is_empty() {
        persona.extensions.insert(EXT.into(), Value::Object(keep));
    }
    Ok(persona)
}

pub(super) fn export(persona: &Persona) -> String {
    let mut data = export_data(persona);
    let saved = persona
        .extensions
        .get(EXT)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut card_ext = saved
        .get("extensions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in saved {
        if k != "extensions" {
            data.insert(k, v);
        }
    }
    card_ext.insert(
        "personactl".into(),
        Value::Object(persona_only(persona, EXT)),
    );
    data.insert("extensions".into(), Value::Object(card_ext));
    let card = json!({"spec": "chara_card_v2", "spec_version": "2.0", "data": data});
    let mut text = serde_json::to_string_pretty(&card).unwrap_or_default();
    text.push('\n');
    text
}

/// The card fields that come from the persona itself, with the V2 defaults for the rest.
fn export_data(persona: &Persona) -> Map<String, Value> {
    let value = json!({
        "name": persona.name,
        "description": "",
        "personality": "",
        "scenario": "",
        "first_mes": persona.greeting.clone().unwrap_or_default(),
        "mes_example": "",
        "creator_notes": persona.description,
        "system_prompt": persona.system_prompt,
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": persona.tags,
        "creator": "",
        "character_version": "",
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A system prompt from the card's character fields, for cards whose own is empty.
fn composed_prompt(name: &str, data: &Map<String, Value>) -> String {
    let mut parts = vec![format!("You are {name}.")];
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
            parts.push(format!("{label}{}", text.trim()));
        }
    }
    let mut prompt = parts.join("\n\n");
    if prompt.chars().count() > 32_768 {
        prompt = prompt.chars().take(32_768).collect();
    }
    prompt
}

fn fits(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max
}
