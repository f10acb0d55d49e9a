//! The JSON Schema of a persona file: generated from [`PersonaFile`](crate::PersonaFile), compiled once.
//!
//! The committed `schema/persona.schema.json` is exactly [`schema_text`]; a test and
//! `personactl schema --check` fail when the two drift apart.

use std::sync::OnceLock;

use serde_json::Value;

use crate::persona_file::PersonaFile;

/// Where the schema lives, relative to the personas directory (the `#:schema` line of every
/// persona file points here).
pub const SCHEMA_RELATIVE_PATH: &str = "../schema/persona.schema.json";

/// The first line of every persona file personactl writes.
pub const SCHEMA_HEADER: &str = "#:schema ../schema/persona.schema.json";

/// The persona JSON Schema (draft 2020-12) as a JSON value.
#[must_use]
pub fn persona_schema() -> Value {
    let mut schema = schemars::schema_for!(PersonaFile).to_value();
    tidy(&mut schema);
    schema
}

/// The persona JSON Schema as committed: pretty-printed, with a trailing newline.
#[must_use]
pub fn schema_text() -> String {
    // Serialising a `serde_json::Value` cannot fail: its map keys are always strings.
    let mut text = serde_json::to_string_pretty(&persona_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The compiled validator, built on first use and shared by every thread.
pub(crate) fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // The schema is generated from our own types and covered by tests; it always compiles.
        jsonschema::validator_for(cached_schema()).expect("the generated persona schema compiles")
    })
}

/// The keys a table at `path` may hold, read from the schema (for "did you mean" hints).
pub(crate) fn allowed_keys(path: &[&str]) -> Vec<String> {
    let root = cached_schema();
    let mut node = root;
    for key in path {
        node = resolve(root, node);
        match node.get("properties").and_then(|p| p.get(*key)) {
            Some(next) => node = next,
            None => return Vec::new(),
        }
    }
    resolve(root, node)
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

/// The JSON type (`"string"`, `"integer"`, …) the schema gives the key at `path`, if known.
pub(crate) fn key_type(path: &[&str]) -> Option<String> {
    let root = cached_schema();
    let mut node = root;
    for key in path {
        node = resolve(root, node).get("properties")?.get(*key)?;
    }
    resolve(root, node).get("type")?.as_str().map(str::to_owned)
}

/// The schema value, generated once.
fn cached_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(persona_schema)
}

/// Follows a local `$ref` (`#/$defs/Name`), if the node is one.
fn resolve<'v>(root: &'v Value, node: &'v Value) -> &'v Value {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
        .unwrap_or(node)
}

/// Makes the generated schema say what a TOML file can hold: TOML has no null, so optional
/// keys are "absent or of this type", not "this type or null"; and Rust's integer-width
/// `format`s mean nothing to editors.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(options)) = map.get("anyOf") {
                let non_null: Vec<Value> = options
                    .iter()
                    .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && options.len() == 2 {
                    map.remove("anyOf");
                    if let Value::Object(inner) = &non_null[0] {
                        for (k, v) in inner {
                            map.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            if map.get("format").and_then(Value::as_str).is_some_and(|f| {
                ["int", "uint", "float", "double"]
                    .iter()
                    .any(|p| f.starts_with(p))
            }) {
                map.remove("format");
            }
            map.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keys_are_the_persona_fields() {
        let keys = allowed_keys(&[]);
        assert!(keys.contains(&"system_prompt".to_owned()));
        assert!(keys.contains(&"model".to_owned()));
    }

    #[test]
    fn model_keys_come_through_the_ref() {
        let mut keys = allowed_keys(&["model"]);
        keys.sort();
        assert_eq!(
            keys,
            [
                "max_prompt_tokens",
                "max_tokens",
                "name",
                "temperature",
                "tokenizer",
                "top_p"
            ]
        );
    }

    #[test]
    fn no_null_types_reach_the_schema() {
        assert!(!schema_text().contains("\"null\""));
    }
}
