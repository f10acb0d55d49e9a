//! [`PersonaFile`]: what one persona file may hold, and the inheritance rules that merge a
//! file into its parent's resolved [`Persona`].
//!
//! The JSON Schema is generated from this type: a file is checked on its own, so editors keep
//! working. `name`, `description`, `icon` and `system_prompt` are required **unless** the file
//! has `extends`, which the schema says with `if {required: [extends]} else {required: […]}`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::persona::{ModelSettings, Persona};
use crate::placeholders::{Token, scan};

/// The keys a file without `extends` must have.
pub(crate) const REQUIRED_KEYS: [&str; 4] = ["name", "description", "icon", "system_prompt"];

/// The grammar of a variable name in `[vars]`.
pub const VAR_NAME_PATTERN: &str = "^[a-z_][a-z0-9_]*$";

/// Whether `name` follows [`VAR_NAME_PATTERN`] and is at most 64 characters.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Built-in variables that a file may not declare: their values come from the persona
/// (`persona_name`), the caller's clock (`date`) or the parent (`parent`).
/// How a persona that `extends` another combines one of its top-level keys with its
/// parent's. The one statement of the inheritance rules: [`PersonaFile::merge_onto`] applies
/// them (a unit test holds it to this table) and `explain` reports origins by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inheritance {
    /// The child's value replaces the parent's; absent, the parent's is kept (arrays are
    /// replaced whole; `system_prompt` may include the parent's with `{{parent}}`).
    Override,
    /// A table merged key by key: the child's keys win, the parent's others stay
    /// (`extensions` recursively).
    Merge,
    /// Never inherited: the child's own value, or none.
    Own,
}

/// The inheritance rule of a top-level key.
#[must_use]
pub fn inheritance(key: &str) -> Inheritance {
    match key {
        "id" | "hidden" | "order" | "aliases" => Inheritance::Own,
        "model" | "vars" | "extensions" => Inheritance::Merge,
        _ => Inheritance::Override,
    }
}

pub(crate) const RESERVED_VARS: [&str; 3] = ["persona_name", "date", "parent"];

/// A persona file as written: a [`Persona`] whose required keys may come from a parent.
///
/// Required keys: `name`, `description`, `icon`, `system_prompt`, unless `extends` names a
/// parent persona to inherit them from. Every other key is optional. Unknown keys are errors,
/// so that a typo is never silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Persona", transform = required_unless_extends)]
pub struct PersonaFile {
    /// Version of the persona format this file is written for. The current version is 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1))]
    pub schema_version: Option<u32>,

    /// The persona's id. Optional: the id is the file name without `.toml`; when this key is
    /// present it must equal the file name. Lowercase kebab-case, at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub id: Option<String>,

    /// The id of a parent persona to inherit from. Keys this file leaves out come from the
    /// parent; tables (`model`, `vars`, `extensions`) merge key by key; `hidden`, `order` and
    /// `aliases` are never inherited. `{{parent}}` in `system_prompt` is the parent's prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub extends: Option<String>,

    /// Display name shown in persona pickers, e.g. "Coach". 1–64 characters, not blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"\S"))]
    pub name: Option<String>,

    /// One or two sentences saying what the persona is for. 1–500 characters, not blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 500), regex(pattern = r"\S"))]
    pub description: Option<String>,

    /// An emoji, or a short reference to an image (a path or URL). 1–256 characters, not blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    pub icon: Option<String>,

    /// The system prompt sent to the model. 1–32,768 characters, not blank. May use
    /// `{{variables}}`; `{{{{` writes a literal `{{`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32768), regex(pattern = r"\S"))]
    pub system_prompt: Option<String>,

    /// Free-form labels for filtering and search. At most 16, unique, each 1–32 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 16),
        extend("uniqueItems" = true),
        inner(length(min = 1, max = 32), regex(pattern = r"\S"))
    )]
    pub tags: Option<Vec<String>>,

    /// The first message shown to the user when a chat starts. 1–2,000 characters, not blank.
    /// May use `{{variables}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000), regex(pattern = r"\S"))]
    pub greeting: Option<String>,

    /// Suggested first messages a user can pick. At most 8, unique, each 1–300 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 8),
        extend("uniqueItems" = true),
        inner(length(min = 1, max = 300), regex(pattern = r"\S"))
    )]
    pub starters: Option<Vec<String>>,

    /// A hidden persona can be used (by id, or by sessions linked to it) but is not listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,

    /// Position in persona pickers: lower comes first; ties are broken by id.
    /// An integer from -10,000 to 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -10000, max = 10000))]
    pub order: Option<i32>,

    /// Former ids of this persona, so that renaming it does not orphan chat sessions linked to
    /// the old id. At most 32, unique, each a valid id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        extend("uniqueItems" = true),
        inner(length(min = 1, max = 64), regex(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))
    )]
    pub aliases: Vec<String>,

    /// Model parameters for this persona.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSettings>,

    /// Prompt variables and their default values: `{{name}}` in `system_prompt` or `greeting`
    /// becomes the caller's value, or else this default. At most 64; names are lowercase
    /// letters, digits and `_`; values at most 4,000 characters (empty allowed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,

    /// A free-form table for other tools. personactl never interprets it and keeps it intact
    /// on every rewrite.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
}

/// The schema transform: "required unless `extends`", and the limits of `[vars]`.
fn required_unless_extends(schema: &mut schemars::Schema) {
    schema.insert("if".into(), json!({"required": ["extends"]}));
    schema.insert("else".into(), json!({"required": REQUIRED_KEYS}));
    if let Some(vars) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("vars"))
        .and_then(Value::as_object_mut)
    {
        vars.insert("maxProperties".into(), json!(64));
        vars.insert(
            "propertyNames".into(),
            json!({"pattern": VAR_NAME_PATTERN, "maxLength": 64}),
        );
        vars.insert(
            "additionalProperties".into(),
            json!({"type": "string", "maxLength": 4000}),
        );
    }
}

impl PersonaFile {
    /// The complete persona this file defines on its own: `None` when it has `extends` (it
    /// needs its parent) or lacks a required key.
    #[must_use]
    pub fn standalone(&self) -> Option<Persona> {
        if self.extends.is_some() {
            return None;
        }
        let mut p = Persona::new(
            self.name.clone()?,
            self.description.clone()?,
            self.icon.clone()?,
            self.system_prompt.clone()?,
        );
        self.apply_own(&mut p);
        Some(p)
    }

    /// This file resolved on top of its parent's resolved persona: scalars override, tables
    /// merge key by key, arrays replace; `hidden`, `order`, `aliases` and `id` are never
    /// inherited; `{{parent}}` in `system_prompt` becomes the parent's prompt.
    #[must_use]
    pub fn merge_onto(&self, parent: &Persona) -> Persona {
        let mut p = parent.clone();
        if let Some(v) = &self.name {
            p.name.clone_from(v);
        }
        if let Some(v) = &self.description {
            p.description.clone_from(v);
        }
        if let Some(v) = &self.icon {
            p.icon.clone_from(v);
        }
        if let Some(v) = &self.system_prompt {
            p.system_prompt = substitute_parent(v, &parent.system_prompt);
        }
        if let Some(v) = &self.greeting {
            p.greeting = Some(v.clone());
        }
        if let Some(v) = &self.tags {
            p.tags.clone_from(v);
        }
        if let Some(v) = &self.starters {
            p.starters.clone_from(v);
        }
        if let Some(m) = &self.model {
            let mut merged = p.model.take().unwrap_or_default();
            merged.temperature = m.temperature.or(merged.temperature);
            merged.top_p = m.top_p.or(merged.top_p);
            merged.max_tokens = m.max_tokens.or(merged.max_tokens);
            if m.name.is_some() {
                merged.name.clone_from(&m.name);
            }
            merged.tokenizer = m.tokenizer.or(merged.tokenizer);
            merged.max_prompt_tokens = m.max_prompt_tokens.or(merged.max_prompt_tokens);
            p.model = Some(merged);
        }
        for (k, v) in &self.vars {
            p.vars.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.extensions {
            match p.extensions.get_mut(k) {
                Some(existing) => merge_json(existing, v),
                None => {
                    p.extensions.insert(k.clone(), v.clone());
                }
            }
        }
        p.hidden = false;
        p.order = None;
        p.aliases = Vec::new();
        p.id = None;
        self.apply_own(&mut p);
        p
    }

    /// The keys that are always the file's own.
    fn apply_own(&self, p: &mut Persona) {
        if self.schema_version.is_some() {
            p.schema_version = self.schema_version;
        }
        p.id.clone_from(&self.id);
        p.hidden = self.hidden;
        p.order = self.order;
        p.aliases.clone_from(&self.aliases);
        if self.extends.is_none() {
            p.tags = self.tags.clone().unwrap_or_default();
            p.greeting.clone_from(&self.greeting);
            p.starters = self.starters.clone().unwrap_or_default();
            p.model.clone_from(&self.model);
            p.vars.clone_from(&self.vars);
            p.extensions.clone_from(&self.extensions);
        }
    }
}

/// Tables merge key by key (recursively); anything else is replaced.
fn merge_json(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `child` with every `{{parent}}` replaced by `parent` (other placeholders and escapes are
/// kept for rendering).
pub(crate) fn substitute_parent(child: &str, parent: &str) -> String {
    let tokens = scan(child);
    if !tokens.iter().any(|t| t.name() == Some("parent")) {
        return child.to_owned();
    }
    let mut out = String::with_capacity(child.len() + parent.len());
    let mut at = 0;
    for t in tokens {
        if let Token::Var { name, span } = &t
            && name == "parent"
        {
            out.push_str(&child[at..span.start]);
            out.push_str(parent);
            at = span.end;
        }
    }
    out.push_str(&child[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> PersonaFile {
        toml::from_str(toml_text).expect("test file parses")
    }

    #[test]
    fn merge_rules_field_by_field() {
        let base = file(
            r#"
name = "Base"
description = "d"
icon = "i"
system_prompt = "base prompt"
tags = ["a", "b"]
greeting = "hi"
starters = ["s1"]
hidden = true
order = 5
aliases = ["old-base"]
model = { temperature = 0.5, max_tokens = 100 }
vars = { tone = "warm", place = "here" }
extensions = { ui = { accent = "teal", size = 2 }, other = [1, 2] }
"#,
        )
        .standalone()
        .expect("complete");
        let child = file(
            r#"
extends = "base"
name = "Child"
system_prompt = "{{parent}} and more"
tags = []
model = { temperature = 1.0 }
vars = { tone = "dry" }
extensions = { ui = { accent = "red" }, other = [3] }
"#,
        );
        let p = child.merge_onto(&base);
        assert_eq!(p.name, "Child");
        assert_eq!(p.description, "d");
        assert_eq!(p.icon, "i");
        assert_eq!(p.system_prompt, "base prompt and more");
        assert!(p.tags.is_empty(), "arrays replace, even with an empty one");
        assert_eq!(p.starters, ["s1"]);
        assert_eq!(p.greeting.as_deref(), Some("hi"));
        assert!(!p.hidden);
        assert_eq!(p.order, None);
        assert!(p.aliases.is_empty());
        let m = p.model.expect("merged");
        assert_eq!((m.temperature, m.max_tokens), (Some(1.0), Some(100)));
        assert_eq!(p.vars["tone"], "dry");
        assert_eq!(p.vars["place"], "here");
        assert_eq!(p.extensions["ui"], json!({"accent": "red", "size": 2}));
        assert_eq!(p.extensions["other"], json!([3]));
    }

    /// `merge_onto` follows [`inheritance`] for every key of the format: a child that sets
    /// nothing inherits exactly the keys the table says are inherited.
    #[test]
    fn merge_follows_the_inheritance_table_for_every_key() {
        let base = file(
            r#"
id = "base"
schema_version = 1
name = "Base"
description = "d"
icon = "i"
system_prompt = "base prompt"
tags = ["a"]
greeting = "hi"
starters = ["s1"]
hidden = true
order = 5
aliases = ["old-base"]
model = { temperature = 0.5 }
vars = { tone = "warm" }
extensions = { ui = { accent = "teal" } }
"#,
        )
        .standalone()
        .expect("complete");
        let merged = file("extends = \"base\"\n").merge_onto(&base);
        let (base, merged) = (
            serde_json::to_value(&base).expect("serialises"),
            serde_json::to_value(&merged).expect("serialises"),
        );
        let schema = crate::schema::persona_schema();
        let keys = schema["properties"].as_object().expect("properties");
        for key in keys
            .keys()
            .filter(|k| !matches!(k.as_str(), "extends" | "schema_version"))
        {
            let inherited = merged.get(key) == base.get(key);
            match inheritance(key) {
                Inheritance::Own => assert!(!inherited, "`{key}` is own-only but was inherited"),
                Inheritance::Override | Inheritance::Merge => {
                    assert!(
                        inherited,
                        "`{key}` should be inherited: {:?}",
                        merged.get(key)
                    );
                }
            }
        }
    }

    #[test]
    fn a_prompt_without_parent_replaces_it_and_escapes_stay() {
        assert_eq!(substitute_parent("new", "old"), "new");
        assert_eq!(
            substitute_parent("{{{{parent}} {{ parent }}", "P"),
            "{{{{parent}} P"
        );
    }
}
