//! Markdown agent files: YAML front matter (`name`, `description`, `model`, anything else) and
//! a body that is the system prompt, as used by Claude Code subagents and VS Code custom agents.
//! `model` is `[model] name` both ways.

use serde_json::{Map, Number, Value};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use super::{InteropError, persona_only, restore_persona_only, without_nulls};
use crate::persona::Persona;

/// The key in `[extensions]` that holds front-matter keys a persona has no place for.
const EXT: &str = "agent_md";

/// The longest `[model] name`, in characters (as the schema says).
const MODEL_NAME_MAX: usize = 128;

pub(super) fn import(text: &str) -> Result<Persona, InteropError> {
    let (front, body) = split(text)?;
    let docs =
        YamlLoader::load_from_str(front).map_err(|e| InteropError::FrontMatter(e.to_string()))?;
    let map = match docs.into_iter().next() {
        Some(Yaml::Hash(h)) => h,
        _ => {
            return Err(InteropError::FrontMatter(
                "the front matter is not a mapping of keys".into(),
            ));
        }
    };
    let get = |k: &str| map.get(&Yaml::String(k.to_owned()));
    let name = get("name")
        .and_then(Yaml::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or(InteropError::MissingField("name"))?;
    let description = get("description")
        .and_then(Yaml::as_str)
        .filter(|d| !d.trim().is_empty())
        .map_or_else(
            || format!("{name}, imported from an agent file."),
            str::to_owned,
        );
    let prompt = body.trim_start_matches(['\r', '\n']);
    if prompt.trim().is_empty() {
        return Err(InteropError::FrontMatter(
            "the body, which is the agent's system prompt, is empty".into(),
        ));
    }
    let mut persona = Persona::new(
        name.to_owned(),
        description,
        "🤖".to_owned(),
        prompt.to_owned(),
    );
    if let Some(Value::Object(saved)) = get("personactl").map(to_json) {
        restore_persona_only(&mut persona, &saved);
    }
    // `model` is the model id; `inherit` (the caller's model) names none, and stays as written.
    let model = get("model")
        .and_then(Yaml::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty() && *m != "inherit" && m.chars().count() <= MODEL_NAME_MAX);
    if let Some(m) = model {
        persona.model.get_or_insert_with(Default::default).name = Some(m.to_owned());
    }
    let mut keep = Map::new();
    for (k, v) in &map {
        let key = yaml_key(k);
        let taken = if model.is_some() {
            ["name", "description", "personactl", "model"].as_slice()
        } else {
            ["name", "description", "personactl"].as_slice()
        };
        if !taken.contains(&key.as_str())
            && let Some(v) = without_nulls(to_json(v))
        {
            keep.insert(key, v);
        }
    }
    if !keep.is_empty() {
        persona.extensions.insert(EXT.into(), Value::Object(keep));
    }
    Ok(persona)
}

pub(super) fn export(persona: &Persona) -> String {
    let mut front = Hash::new();
    front.insert(
        Yaml::String("name".into()),
        Yaml::String(persona.name.clone()),
    );
    front.insert(
        Yaml::String("description".into()),
        Yaml::String(persona.description.clone()),
    );
    if let Some(Value::Object(saved)) = persona.extensions.get(EXT) {
        for (k, v) in saved {
            front.insert(Yaml::String(k.clone()), to_yaml(v));
        }
    }
    let model = persona.model.as_ref().and_then(|m| m.name.as_deref());
    if let Some(m) = model {
        front.insert(Yaml::String("model".into()), Yaml::String(m.to_owned()));
    }
    let mut extra = persona_only(persona, EXT);
    // The model id travels as `model`, not twice.
    if let Some(Value::Object(saved)) = extra.get_mut("model") {
        saved.remove("name");
        if saved.is_empty() {
            extra.remove("model");
        }
    }
    let mut extra_yaml = to_yaml(&Value::Object(extra));
    // Tags and a greeting have no place in an agent file either: keep them with the rest.
    if let Yaml::Hash(h) = &mut extra_yaml {
        if !persona.tags.is_empty() {
            h.insert(
                Yaml::String("tags".into()),
                to_yaml(&serde_json::json!(persona.tags)),
            );
        }
        if let Some(g) = &persona.greeting {
            h.insert(Yaml::String("greeting".into()), Yaml::String(g.clone()));
        }
    }
    front.insert(Yaml::String("personactl".into()), extra_yaml);
    let mut out = String::new();
    // Emitting a tree of plain scalars, arrays and mappings into a String cannot fail.
    let _ = YamlEmitter::new(&mut out).dump(&Yaml::Hash(front));
    let body = persona.system_prompt.trim_start_matches(['\r', '\n']);
    let mut text = format!("{out}\n---\n{body}");
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

fn yaml_key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => "~".into(),
    }
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(s.clone()), Value::Number),
        Yaml::Integer(i) => Value::Number((*i).into()),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(h.iter().map(|(k, v)| (yaml_key(k), to_json(v))).collect()),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Yaml::Real(n.to_string()), Yaml::Integer),
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}
