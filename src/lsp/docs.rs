//! What the editor features know about a file: the keys a table may hold with the schema's
//! documentation, and the file's ancestors (through `extends`) as the texts are now.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::outline::{Outline, simple_string};
use super::workspace::Workspace;

/// The built-in variables, always in scope.
pub(crate) const BUILT_INS: [(&str, &str); 3] = [
    ("persona_name", "built-in: the persona's `name`"),
    (
        "date",
        "built-in: today's date (YYYY-MM-DD), from the caller's clock",
    ),
    (
        "user_name",
        "built-in: the user's name, from the caller (or a `[vars]` default)",
    ),
];

/// One key a table may hold.
#[derive(Debug, Clone)]
pub(crate) struct KeyDoc {
    /// The key.
    pub key: String,
    /// Its description in the schema.
    pub description: String,
    /// Its JSON type in the schema (`string`, `object`, …), when the schema names one.
    pub kind: Option<String>,
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(crate::persona_schema)
}

/// The schema node of a table: `""` the top level, `model` the model settings.
fn table_schema(table: &str) -> Option<&'static Value> {
    let root = schema();
    match table {
        "" => Some(root),
        "model" => {
            let reference = root["properties"]["model"]["$ref"].as_str()?;
            let name = reference.strip_prefix("#/$defs/")?;
            root["$defs"].get(name)
        }
        _ => None,
    }
}

/// The keys the schema lets `table` hold, in the schema's order.
pub(crate) fn keys_of(table: &str) -> Vec<KeyDoc> {
    let Some(props) = table_schema(table).and_then(|t| t["properties"].as_object()) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(key, p)| KeyDoc {
            key: key.clone(),
            description: describe(p),
            kind: p["type"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| p.get("$ref").map(|_| "object".to_owned())),
        })
        .collect()
}

/// The documentation of `key` in `table`; for a `[vars]` entry, the description of `vars`.
pub(crate) fn key_doc(table: &str, key: &str) -> Option<String> {
    if table == "vars" {
        return keys_of("")
            .into_iter()
            .find(|k| k.key == "vars")
            .map(|k| k.description);
    }
    keys_of(table)
        .into_iter()
        .find(|k| k.key == key)
        .map(|k| k.description)
}

fn describe(p: &Value) -> String {
    p["description"].as_str().unwrap_or_default().to_owned()
}

/// A file of the family: its path, text and outline.
#[derive(Debug)]
pub(crate) struct Member {
    /// The file.
    pub path: PathBuf,
    /// Its text as the check sees it.
    pub text: String,
    /// Its outline.
    pub outline: Outline,
}

/// The parent `extends` names in an outline, if written as a plain string.
pub(crate) fn extends_of<'a>(text: &'a str, outline: &Outline) -> Option<&'a str> {
    let e = outline.entry("", "extends")?;
    simple_string(&text[e.value_span.clone()])
}

/// The ancestors of the file at `path` whose text and outline are given, nearest first, as
/// the texts are now (also when the family is broken: a missing parent ends the chain, a
/// cycle stops at the first file seen twice).
pub(crate) fn ancestors(ws: &Workspace, path: &Path, text: &str, outline: &Outline) -> Vec<Member> {
    let mut out: Vec<Member> = Vec::new();
    let mut parent = extends_of(text, outline).map(str::to_owned);
    while let Some(id) = parent.take() {
        let Some(p) = ws.paths_with_id(&id).next() else {
            break;
        };
        if p == path || out.iter().any(|m| m.path == p) || out.len() >= 64 {
            break;
        }
        let Some(t) = ws.text(p) else { break };
        let o = Outline::parse(t);
        parent = extends_of(t, &o).map(str::to_owned);
        out.push(Member {
            path: p.to_path_buf(),
            text: t.to_owned(),
            outline: o,
        });
    }
    out
}
