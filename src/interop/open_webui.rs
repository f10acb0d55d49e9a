//! Open WebUI model presets (its workspace export: one model object, or a list of them), and
//! export to a LibreChat `modelSpecs` list.
//!
//! Open WebUI ↔ persona: `name`; `params.system` ↔ `system_prompt`; `params.temperature`,
//! `params.top_p`, `params.max_tokens` ↔ `[model]`; `meta.description` ↔ `description`;
//! `meta.profile_image_url` ↔ `icon`; `meta.suggestion_prompts[].content` ↔ `starters`;
//! `meta.tags[].name` ↔ `tags`; `base_model_id` ↔ `[model] name` (see [`MODEL_NAME_KEY`]).
//! The id becomes the persona id. Everything else is kept in `[extensions.open_webui]`, and
//! the persona's other settings (`[model] tokenizer`, `max_prompt_tokens`, …) travel in
//! `meta.personactl`.

use serde_json::{Map, Value, json};

use super::keep::{Kept, shorten};
use super::macros::{self, Dialect};
use super::{InteropError, Warnings, persona_only, restore_persona_only};
use crate::persona::{ModelSettings, Persona};

/// The key in `[extensions]` that holds what the persona has no place for.
pub(super) const EXT: &str = "open_webui";

/// Open WebUI's field for the model a preset runs on: `[model] name`, both ways. Personas
/// imported before `[model] name` existed hold it as `[extensions.open_webui] base_model_id`,
/// which [`model_name`] still reads.
pub(super) const MODEL_NAME_KEY: &str = "base_model_id";

/// The longest `[model] name`, in characters (the schema's limit).
const MODEL_NAME_MAX: usize = 128;

/// The persona's model name, if it has one: `[model] name`, else the one an older import
/// kept in the extension point.
pub(super) fn model_name(persona: &Persona) -> Option<String> {
    persona
        .model
        .as_ref()
        .and_then(|m| m.name.clone())
        .or_else(|| {
            persona
                .extensions
                .get(EXT)
                .and_then(|e| e.get(MODEL_NAME_KEY))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

/// The model name a preset's `base_model_id` gives: a string within the name's limits
/// (`null`, blank or too long names none; the original is kept in the extension point).
fn model_name_of(value: Option<&Value>) -> Option<String> {
    let name = value?.as_str()?;
    (!name.trim().is_empty() && name.chars().count() <= MODEL_NAME_MAX).then(|| name.to_owned())
}

/// Whether a JSON value looks like an Open WebUI model preset.
pub(super) fn is_model(value: &Value) -> bool {
    value.get("id").is_some_and(Value::is_string)
        && value.get("name").is_some_and(Value::is_string)
        && (value.get("params").is_some_and(Value::is_object)
            || value.get("meta").is_some_and(Value::is_object))
}

/// The paths of the mapped fields, and the persona's value of each.
fn mapped(persona: &Persona) -> Vec<(&'static str, Value)> {
    let model = persona.model.clone().unwrap_or_default();
    vec![
        ("name", Value::String(persona.name.clone())),
        (
            "params.system",
            Value::String(persona.system_prompt.clone()),
        ),
        ("params.temperature", json!(model.temperature)),
        ("params.top_p", json!(model.top_p)),
        ("params.max_tokens", json!(model.max_tokens)),
        (MODEL_NAME_KEY, json!(model.name)),
        (
            "meta.description",
            Value::String(persona.description.clone()),
        ),
        (
            "meta.profile_image_url",
            Value::String(persona.icon.clone()),
        ),
        (
            "meta.suggestion_prompts",
            Value::Array(
                persona
                    .starters
                    .iter()
                    .map(|s| json!({"content": s}))
                    .collect(),
            ),
        ),
        (
            "meta.tags",
            Value::Array(persona.tags.iter().map(|t| json!({"name": t})).collect()),
        ),
    ]
}

fn export_field(key: &str, ours: &Value) -> Value {
    match (key, ours) {
        ("params.system", Value::String(s)) => Value::String(macros::export(s, Dialect::OpenWebUi)),
        _ => ours.clone(),
    }
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn remove(v: &mut Value, path: &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut at = v;
    for p in parts {
        match at.get_mut(p) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(map) = at.as_object_mut() {
        map.remove(last);
    }
}

fn set(v: &mut Value, path: &str, value: Value) {
    let mut at = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        if i + 1 == parts.len() {
            map.insert((*p).to_owned(), value);
            return;
        }
        at = map
            .entry((*p).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// One model object → a persona (and the id it asks for).
pub(super) fn import(
    model: &Value,
    warnings: &mut Warnings,
) -> Result<(String, Persona), InteropError> {
    let text = |path: &str| get(model, path).and_then(Value::as_str).unwrap_or("");
    let id = text("id").to_owned();
    let raw_name = text("name");
    if raw_name.trim().is_empty() {
        return Err(InteropError::MissingField("name"));
    }
    let name = shorten(raw_name.trim(), 64);
    let notes = text("meta.description");
    let description = if !notes.trim().is_empty() && notes.chars().count() <= 500 {
        notes.to_owned()
    } else if notes.trim().is_empty() {
        format!("{name}, imported from Open WebUI.")
    } else {
        warnings.push(format!(
            "the description has {} characters; the persona holds the first 500 (the full text is kept and restored on export)",
            notes.chars().count()
        ));
        shorten(notes, 500)
    };
    let system = macros::import(text("params.system"), Dialect::OpenWebUi);
    let prompt = if system.trim().is_empty() {
        format!("You are {{{{persona_name}}}}. {description}")
    } else {
        let short = shorten(&system, 32_768);
        if short.len() < system.len() {
            warnings.push(format!(
                "the system prompt has {} characters; the persona holds the first 32768 (the full text is kept and restored on export)",
                system.chars().count()
            ));
        }
        short
    };
    let image = text("meta.profile_image_url");
    let icon = if !image.trim().is_empty() && image.chars().count() <= 256 {
        image.to_owned()
    } else {
        "🤖".to_owned()
    };
    let mut persona = Persona::new(name, description, icon, prompt);
    let number = |path: &str| get(model, path).and_then(Value::as_f64);
    let settings = ModelSettings {
        temperature: number("params.temperature").filter(|t| (0.0..=2.0).contains(t)),
        top_p: number("params.top_p").filter(|t| (0.0..=1.0).contains(t)),
        max_tokens: get(model, "params.max_tokens")
            .and_then(Value::as_u64)
            .filter(|t| (1..=1_000_000).contains(t))
            .and_then(|t| u32::try_from(t).ok()),
        name: model_name_of(model.get(MODEL_NAME_KEY)),
        ..ModelSettings::default()
    };
    let mut starters: Vec<String> = Vec::new();
    for s in get(model, "meta.suggestion_prompts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("content").and_then(Value::as_str))
    {
        if !s.trim().is_empty()
            && s.chars().count() <= 300
            && starters.len() < 8
            && !starters.iter().any(|x| x == s)
        {
            starters.push(s.to_owned());
        }
    }
    persona.starters = starters;
    let mut tags: Vec<String> = Vec::new();
    for t in get(model, "meta.tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
    {
        if !t.trim().is_empty()
            && t.chars().count() <= 32
            && tags.len() < 16
            && !tags.iter().any(|x| x == t)
        {
            tags.push(t.to_owned());
        }
    }
    persona.tags = tags;
    if let Some(Value::Object(saved)) = get(model, "meta.personactl") {
        restore_persona_only(&mut persona, saved);
    }
    // The mapped settings come from the preset; `meta.personactl` holds only the others.
    let restored = persona.model.take().unwrap_or_default();
    let settings = ModelSettings {
        tokenizer: restored.tokenizer,
        max_prompt_tokens: restored.max_prompt_tokens,
        ..settings
    };
    if settings != ModelSettings::default() {
        persona.model = Some(settings);
    }

    let mut kept = Kept::default();
    let mut rest = model.clone();
    remove(&mut rest, "meta.personactl");
    for (path, ours) in mapped(&persona) {
        let original = get(model, path).cloned();
        let back = export_field(path, &ours);
        // An absent number and `null` both mean "not set".
        let same_unset = back.is_null() && original.as_ref().is_none_or(Value::is_null);
        if !same_unset {
            kept.mapped(path, &ours, original.as_ref(), &back);
        }
        remove(&mut rest, path);
    }
    kept.put("model", &rest);
    persona
        .extensions
        .insert(EXT.into(), kept.into_value(Map::new()));
    Ok((id, persona))
}

/// A persona → an Open WebUI model object.
pub(super) fn export(id: &str, persona: &Persona) -> Value {
    let ext = persona.extensions.get(EXT);
    let kept = Kept::from_value(ext);
    let mut model = kept
        .get("model")
        .unwrap_or_else(|| json!({"id": id, "params": {}, "meta": {}, "is_active": true}));
    for (path, ours) in mapped(persona) {
        match kept.original(path, &ours) {
            Some(Some(original)) => set(&mut model, path, original),
            Some(None) => remove(&mut model, path),
            None => {
                let v = export_field(path, &ours);
                if v.is_null() {
                    remove(&mut model, path);
                } else {
                    set(&mut model, path, v);
                }
            }
        }
    }
    let legacy = persona
        .extensions
        .get(EXT)
        .and_then(|e| e.get(MODEL_NAME_KEY));
    if let (None, Some(base)) = (persona.model.as_ref().and_then(|m| m.name.as_ref()), legacy) {
        set(&mut model, MODEL_NAME_KEY, base.clone());
    }
    let mut extra = persona_only(persona, &[EXT]);
    // Mapped above: not repeated in the extension point.
    for key in ["icon", "starters"] {
        extra.remove(key);
    }
    if let Some(Value::Object(settings)) = extra.get_mut("model") {
        for key in ["temperature", "top_p", "max_tokens", "name"] {
            settings.remove(key);
        }
        if settings.is_empty() {
            extra.remove("model");
        }
    }
    if !extra.is_empty() {
        set(&mut model, "meta.personactl", Value::Object(extra));
    }
    model
}

/// Personas → a LibreChat `modelSpecs` block (YAML), one spec per persona.
pub(super) fn librechat(personas: &[(&str, &Persona)]) -> String {
    use yaml_rust2::yaml::Hash;
    use yaml_rust2::{Yaml, YamlEmitter};
    let s = |v: &str| Yaml::String(v.to_owned());
    let mut list = Vec::new();
    for (id, p) in personas {
        let mut preset = Hash::new();
        preset.insert(s("endpoint"), s("openAI"));
        if let Some(model) = model_name(p) {
            preset.insert(s("model"), s(&model));
        }
        preset.insert(s("modelLabel"), s(&p.name));
        preset.insert(
            s("promptPrefix"),
            s(&macros::export_named(
                &p.system_prompt,
                Dialect::LibreChat,
                &p.name,
            )),
        );
        if let Some(g) = &p.greeting {
            preset.insert(
                s("greeting"),
                s(&macros::export_named(g, Dialect::LibreChat, &p.name)),
            );
        }
        if let Some(m) = &p.model {
            if let Some(t) = m.temperature {
                preset.insert(s("temperature"), Yaml::Real(t.to_string()));
            }
            if let Some(t) = m.top_p {
                preset.insert(s("top_p"), Yaml::Real(t.to_string()));
            }
            if let Some(t) = m.max_tokens {
                preset.insert(s("max_tokens"), Yaml::Integer(i64::from(t)));
            }
        }
        let mut spec = Hash::new();
        spec.insert(s("name"), s(id));
        spec.insert(s("label"), s(&p.name));
        spec.insert(s("description"), s(&p.description));
        if p.icon.contains('/') {
            spec.insert(s("iconURL"), s(&p.icon));
        }
        if let Some(order) = p.order {
            spec.insert(s("order"), Yaml::Integer(i64::from(order)));
        }
        spec.insert(s("preset"), Yaml::Hash(preset));
        list.push(Yaml::Hash(spec));
    }
    let mut specs = Hash::new();
    specs.insert(s("list"), Yaml::Array(list));
    let mut root = Hash::new();
    root.insert(s("modelSpecs"), Yaml::Hash(specs));
    let mut out = String::new();
    // Emitting strings, numbers and mappings into a String cannot fail.
    let _ = YamlEmitter::new(&mut out).dump(&Yaml::Hash(root));
    out.push('\n');
    out
}
