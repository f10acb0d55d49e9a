//! Markdown agent files: YAML front matter (`name`, `description`, `model`, anything else)
//! and a body that is the system prompt, as used by Claude Code subagents and VS Code custom
//! agents. The front matter's `model` is `[model] name` both ways; `inherit` (Claude Code: the
//! caller's model) names no model, and is kept as written.
//!
//! Agent runtimes substitute nothing in the body, so every `{{` in it stays literal. Front-
//! matter keys other than `name`, `description` and a mapped `model` are kept in
//! `[extensions.agent_md]` (see [`super::keep`]); persona-only fields travel in a
//! `personactl:` front-matter key.

use serde_json::{Map, Number, Value};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

use super::keep::{Kept, shorten};
use super::macros::{self, Dialect};
use super::{InteropError, Warnings, persona_only, restore_persona_only, yaml};
use crate::persona::Persona;

/// The key in `[extensions]` that holds front-matter keys a persona has no place for.
pub(super) const EXT: &str = "agent_md";

const NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 500;
const PROMPT_MAX: usize = 32_768;
/// The longest `[model] name`, in characters (the schema's limit).
const MODEL_NAME_MAX: usize = 128;

/// The model name a front-matter `model` value gives, if it names one: not blank, not
/// `inherit`, within the name's length limit (trimmed; the original is kept when it differs).
fn model_name_of(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text != "inherit" && text.chars().count() <= MODEL_NAME_MAX)
        .then_some(text)
}

/// `text` is the whole file; `first_line` is the file line its first character is on.
pub(super) fn import(
    text: &str,
    first_line: usize,
    warnings: &mut Warnings,
) -> Result<Persona, InteropError> {
    let (front, body) = split(text)?;
    // The front matter starts on the line after the opening `---`.
    let map = match yaml::load(front, warnings) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(InteropError::FrontMatter(
                "the front matter is not a mapping of keys".into(),
            ));
        }
        Err(e) => {
            return Err(InteropError::FrontMatter(format!(
                "line {}, column {}: {}",
                e.line + first_line,
                e.column,
                e.message
            )));
        }
    };
    let text_of = |k: &str| match map.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let raw_name = text_of("name")
        .filter(|n| !n.trim().is_empty())
        .ok_or(InteropError::MissingField("name"))?;
    let name = shorten(raw_name.trim(), NAME_MAX);
    if name.chars().count() < raw_name.trim().chars().count() {
        warnings.push(format!(
            "the name has {} characters; shortened to {NAME_MAX} (the full name is kept and restored on export)",
            raw_name.chars().count()
        ));
    }
    let raw_description = text_of("description").filter(|d| !d.trim().is_empty());
    let description = match &raw_description {
        None => format!("{name}, imported from an agent file."),
        Some(d) if d.chars().count() <= DESCRIPTION_MAX => d.clone(),
        Some(d) => {
            warnings.push(format!(
                "the description has {} characters; the persona holds the first {DESCRIPTION_MAX} (the full text is kept in [extensions.agent_md] and restored on export)",
                d.chars().count()
            ));
            shorten(d, DESCRIPTION_MAX)
        }
    };
    let lead_len = body.len() - body.trim_start_matches(['\r', '\n']).len();
    let (lead, rest) = body.split_at(lead_len);
    if rest.trim().is_empty() {
        return Err(InteropError::FrontMatter(
            "the body, which is the agent's system prompt, is empty".into(),
        ));
    }
    let full = macros::import(rest, Dialect::Literal);
    let prompt = shorten(&full, PROMPT_MAX);
    if prompt.len() < full.len() {
        warnings.push(format!(
            "the body has {} characters; the persona's system prompt holds the first {PROMPT_MAX} (the full body is kept in [extensions.agent_md] and restored on export)",
            full.chars().count()
        ));
    }
    let mut persona = Persona::new(name, description, "🤖".to_owned(), prompt);
    if let Some(Value::Object(saved)) = map.get("personactl") {
        restore_persona_only(&mut persona, saved);
    }
    let model = model_name_of(map.get("model"));
    if let Some(name) = &model {
        persona.model.get_or_insert_with(Default::default).name = Some(name.clone());
    }
    let mut kept = Kept::default();
    for (key, ours, original) in mapped(&persona, &map, rest) {
        let back = export_field(key, &ours);
        kept.mapped(key, &ours, original.as_ref(), &back);
    }
    for (key, value) in &map {
        let taken = ["name", "description", "personactl"].contains(&key.as_str())
            || (key == "model" && model.is_some());
        if !taken {
            kept.put(key, value);
        }
    }
    let mut head = Map::new();
    if !lead.is_empty() {
        head.insert("body_lead".into(), Value::String(lead.to_owned()));
    }
    if kept != Kept::default() || !head.is_empty() {
        persona.extensions.insert(EXT.into(), kept.into_value(head));
    }
    Ok(persona)
}

/// The mapped fields: key, the persona's value, the source's value. `model` is mapped only
/// when the persona has a model name.
fn mapped(
    persona: &Persona,
    front: &Map<String, Value>,
    body: &str,
) -> Vec<(&'static str, Value, Option<Value>)> {
    let mut fields = vec![
        (
            "name",
            Value::String(persona.name.clone()),
            front.get("name").cloned(),
        ),
        (
            "description",
            Value::String(persona.description.clone()),
            front.get("description").cloned(),
        ),
        (
            "body",
            Value::String(persona.system_prompt.clone()),
            Some(Value::String(body.to_owned())),
        ),
    ];
    if let Some(name) = persona.model.as_ref().and_then(|m| m.name.as_ref()) {
        fields.push((
            "model",
            Value::String(name.clone()),
            front.get("model").cloned(),
        ));
    }
    fields
}

fn export_field(key: &str, ours: &Value) -> Value {
    match (key, ours) {
        ("body", Value::String(s)) => Value::String(macros::export(s, Dialect::Literal)),
        _ => ours.clone(),
    }
}

pub(super) fn export(persona: &Persona) -> String {
    let ext = persona.extensions.get(EXT);
    let is_kept = ext.is_some_and(|e| {
        ["fields", "json", "derived", "body_lead"]
            .iter()
            .any(|k| e.get(k).is_some())
            || e.as_object().is_some_and(Map::is_empty)
    });
    let kept = if is_kept {
        Kept::from_value(ext)
    } else {
        // Personas imported before the kept tables: the keys were the table itself.
        Kept {
            fields: ext.and_then(Value::as_object).cloned().unwrap_or_default(),
            ..Kept::default()
        }
    };
    let field = |key: &str, ours: Value| -> Option<Value> {
        match kept.original(key, &ours) {
            Some(original) => original,
            None => Some(export_field(key, &ours)),
        }
    };
    let mut front = Hash::new();
    let empty = Map::new();
    for (key, ours, _) in mapped(persona, &empty, "") {
        if key != "body"
            && let Some(v) = field(key, ours)
        {
            front.insert(Yaml::String(key.into()), to_yaml(&v));
        }
    }
    let has_model = persona.model.as_ref().is_some_and(|m| m.name.is_some());
    for (k, v) in kept.entries() {
        // A kept `model` is the original of the mapped one (written above when the persona
        // still names a model; dropped with the name), unless it never named a model
        // (`inherit`), which is written back as it was.
        let mapped_model = k == "model" && (has_model || kept.derived.contains_key("model"));
        if !["name", "description", "body"].contains(&k.as_str()) && !mapped_model {
            front.insert(Yaml::String(k), to_yaml(&v));
        }
    }
    let mut extra = persona_only(persona, &[EXT]);
    // The model name travels as the front matter's `model`, not twice.
    if let Some(Value::Object(settings)) = extra.get_mut("model") {
        settings.remove("name");
        if settings.is_empty() {
            extra.remove("model");
        }
    }
    // Tags and a greeting have no place in an agent file either: keep them with the rest.
    if !persona.tags.is_empty() {
        extra.insert("tags".into(), serde_json::json!(persona.tags));
    }
    if let Some(g) = &persona.greeting {
        extra.insert("greeting".into(), Value::String(g.clone()));
    }
    front.insert(
        Yaml::String("personactl".into()),
        to_yaml(&Value::Object(extra)),
    );
    let mut out = String::new();
    // Emitting a tree of plain scalars, arrays and mappings into a String cannot fail.
    let _ = YamlEmitter::new(&mut out).dump(&Yaml::Hash(front));
    let lead = ext
        .and_then(|e| e.get("body_lead"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let body = field("body", Value::String(persona.system_prompt.clone()))
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut text = format!("{out}\n---\n{lead}{body}");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Splits `---\n<front matter>\n---\n<body>`.
fn split(text: &str) -> Result<(&str, &str), InteropError> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(|| InteropError::FrontMatter("the file must start with a `---` line".into()))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(InteropError::FrontMatter(
        "no closing `---` line after the front matter".into(),
    ))
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Yaml::Real(Number::to_string(n)), Yaml::Integer),
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}
