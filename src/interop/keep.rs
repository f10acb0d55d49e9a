//! What a persona cannot hold, kept losslessly in its extension point.
//!
//! A format's extension (`[extensions.card]`, `[extensions.agent_md]`, …) has three tables:
//!
//! - `fields`: source fields as TOML values (unmapped fields, and the original of a mapped
//!   field the persona could not hold exactly);
//! - `json`: the same for a value TOML cannot hold (it contains a JSON `null`, or an integer
//!   beyond 64 bits): the value's JSON text, parsed back on export exactly as it was;
//! - `derived`: for each mapped field whose original is kept, a digest of the persona value
//!   import derived from it. On export, a field the persona still has unchanged (same digest)
//!   gives back the original; a field edited since gives the edited value.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::placeholders::scan;

/// The kept parts of one source, built on import and read on export.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Kept {
    pub fields: Map<String, Value>,
    pub json: Map<String, Value>,
    pub derived: Map<String, Value>,
}

impl Kept {
    /// Keeps `value` under `key`, as TOML if TOML can hold it, else as JSON text.
    pub fn put(&mut self, key: &str, value: &Value) {
        if toml_safe(value) {
            self.fields.insert(key.to_owned(), value.clone());
        } else {
            self.json
                .insert(key.to_owned(), Value::String(value.to_string()));
        }
    }

    /// The kept value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.fields.get(key).cloned().or_else(|| {
            self.json
                .get(key)
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str(t).ok())
        })
    }

    /// Every kept key with its value, `fields` then `json`.
    pub fn entries(&self) -> Vec<(String, Value)> {
        let mut keys: Vec<&String> = self.fields.keys().chain(self.json.keys()).collect();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| self.get(k).map(|v| (k.clone(), v)))
            .collect()
    }

    /// Records that the mapped field `key` (persona value `ours`) came from `original`
    /// (`None`: the source had no such field), when exporting `ours` would not give it back.
    pub fn mapped(&mut self, key: &str, ours: &Value, original: Option<&Value>, back: &Value) {
        if original == Some(back) {
            return;
        }
        if let Some(original) = original {
            self.put(key, original);
        }
        self.derived
            .insert(key.to_owned(), Value::String(digest(ours)));
    }

    /// On export, for the mapped field `key` whose persona value is `ours`: `Some(original)`
    /// when the field is unchanged since import and its original was kept (`Some(None)`: the
    /// source had none), `None` when the persona's value is the one to export.
    pub fn original(&self, key: &str, ours: &Value) -> Option<Option<Value>> {
        let d = self.derived.get(key)?.as_str()?;
        (d == digest(ours)).then(|| self.get(key))
    }

    /// The extension table, or `None` when nothing is kept.
    pub fn into_value(self, mut head: Map<String, Value>) -> Value {
        for (name, table) in [
            ("fields", self.fields),
            ("json", self.json),
            ("derived", self.derived),
        ] {
            if !table.is_empty() {
                head.insert(name.to_owned(), Value::Object(table));
            }
        }
        Value::Object(head)
    }

    /// Reads what [`Kept::into_value`] wrote.
    pub fn from_value(ext: Option<&Value>) -> Kept {
        let table = |k: &str| {
            ext.and_then(|e| e.get(k))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        Kept {
            fields: table("fields"),
            json: table("json"),
            derived: table("derived"),
        }
    }
}

/// Whether a persona file (TOML) can hold `value` exactly.
pub(super) fn toml_safe(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Number(n) => n.is_i64() || n.is_f64(),
        Value::Array(items) => items.iter().all(toml_safe),
        Value::Object(map) => map.values().all(toml_safe),
        Value::Bool(_) | Value::String(_) => true,
    }
}

/// A short digest of a JSON value (16 hex digits of its SHA-256).
pub(super) fn digest(value: &Value) -> String {
    let hash = Sha256::digest(value.to_string().as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a source file, in hex.
pub(super) fn source_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `text` cut to at most `max` characters, never inside a `{{…}}` placeholder or escape.
pub(super) fn shorten(text: &str, max: usize) -> String {
    let Some((mut cut, _)) = text.char_indices().nth(max) else {
        return text.to_owned();
    };
    if let Some(token) = scan(text).into_iter().find(|t| {
        let span = t.span();
        span.start < cut && cut < span.end
    }) {
        // A token starts with `{`, an ASCII byte: a character boundary.
        cut = token.span().start;
    }
    text[..cut].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placeholders::Token;

    #[test]
    fn shorten_never_splits_a_placeholder() {
        let text = "ab{{persona_name}}cd{{{{ef";
        for max in 0..text.len() + 2 {
            let short = shorten(text, max);
            assert!(short.chars().count() <= max, "{max}: {short}");
            assert!(text.starts_with(&short));
            assert!(
                scan(&short)
                    .iter()
                    .all(|t| !matches!(t, Token::Malformed { .. })),
                "{max}: {short}"
            );
        }
        assert_eq!(shorten("日本語です", 3), "日本語");
    }

    #[test]
    fn nulls_are_kept_as_json_text() {
        let mut kept = Kept::default();
        let v = serde_json::json!({"entries": [null, {"a": null}, 1]});
        kept.put("book", &v);
        kept.put("plain", &serde_json::json!([1, "x"]));
        assert!(kept.json.contains_key("book") && kept.fields.contains_key("plain"));
        assert_eq!(kept.get("book"), Some(v));
    }
}
