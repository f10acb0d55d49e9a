//! The TOML side of the store: new files laid out like hand-written ones, and in-place edits
//! with `toml_edit` that touch only what changed.

use std::path::Path;

use serde_json::{Map, Value};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike};

use super::StoreError;
use crate::document::Document;
use crate::persona::Persona;
use crate::schema::{SCHEMA_HEADER, allowed_keys, key_type};
use crate::violations::closest;

/// The order keys are written in a new file: identity first, the long prompt last, then tables.
const KEY_ORDER: &[&str] = &[
    "schema_version",
    "id",
    "extends",
    "name",
    "description",
    "icon",
    "tags",
    "order",
    "hidden",
    "aliases",
    "greeting",
    "starters",
    "system_prompt",
    "model",
    "vars",
    "extensions",
];

/// The text of a new persona file: the `#:schema` line (for a file `depth` folders below the
/// personas directory), then the keys in a reader's order, multi-line strings as `"""`.
#[must_use]
pub fn render_new(persona: &Persona, depth: usize) -> String {
    render_value(&serde_json::to_value(persona).unwrap_or(Value::Null), depth)
}

/// [`render_new`] for a persona given as a JSON object, valid or not (an API body): known keys
/// in a reader's order, then any others; `null`s are left out (TOML has no null).
#[must_use]
pub fn render_value(fields: &Value, depth: usize) -> String {
    let mut doc = DocumentMut::new();
    if let Value::Object(map) = fields {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by_key(|k| KEY_ORDER.iter().position(|o| o == k).unwrap_or(usize::MAX));
        // Top-level tables must follow the plain keys, or the keys would land in the table.
        keys.sort_by_key(|k| map[*k].is_object());
        for key in keys {
            if let Some(item) = to_item(&map[key], true) {
                doc.insert(key, item);
            }
        }
    }
    let header = if depth == 0 {
        SCHEMA_HEADER.to_owned()
    } else {
        SCHEMA_HEADER.replacen("../", &"../".repeat(depth + 1), 1)
    };
    format!("{header}\n{doc}")
}

/// A JSON value that TOML cannot hold: writing it would change it (a `null` in a list, which
/// would vanish; an integer past the 64-bit signed range, which would become a float).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pointer}`: {problem}")]
pub struct NotToml {
    /// Where the value is, as a JSON pointer (`/extensions/list/1`).
    pub pointer: String,
    /// What TOML cannot hold.
    pub problem: &'static str,
}

impl NotToml {
    /// The refusal as the store reports an invalid persona: one diagnostic for the file at
    /// `path` that would have been written.
    pub(super) fn into_store_error(self, path: &Path) -> StoreError {
        let message = self.to_string();
        StoreError::Invalid {
            diagnostics: vec![
                crate::diagnostic::Diagnostic::file_error(
                    path,
                    crate::diagnostic::Code::SchemaType,
                    message,
                )
                .with_hint(
                    "TOML has no null and no integers past ±9223372036854775807: remove the item, or send the number as a string",
                ),
            ],
        }
    }
}

/// Checks that every value of `value` can be written as TOML unchanged. A `null` member of
/// an object (not inside a list) means "leave the key out" and is allowed; a `null` inside a
/// list and an integer outside `i64` are refused.
///
/// # Errors
///
/// [`NotToml`] for the first value that cannot be written, with its JSON pointer.
pub fn check_representable(value: &Value) -> Result<(), NotToml> {
    fn walk(value: &Value, pointer: &mut String, in_list: bool) -> Result<(), NotToml> {
        match value {
            Value::Null if in_list => Err(NotToml {
                pointer: pointer.clone(),
                problem: "TOML cannot hold null (it would be dropped from the list)",
            }),
            Value::Number(n) if n.is_u64() && n.as_i64().is_none() => Err(NotToml {
                pointer: pointer.clone(),
                problem: "the integer is larger than TOML's 64-bit signed integers",
            }),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    walk(item, pointer, true)?;
                    pointer.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(v, pointer, in_list)?;
                    pointer.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(value, &mut String::new(), false)
}

/// The persona the document holds now, as JSON (`Null` if it does not parse).
pub(super) fn current_json(doc: &DocumentMut) -> Value {
    Document::parse(&doc.to_string())
        .ok()
        .and_then(|d| d.to_json().ok())
        .unwrap_or(Value::Null)
}

/// Parses an existing file for editing.
pub(super) fn parse(path: &Path, text: &str) -> Result<DocumentMut, StoreError> {
    text.parse::<DocumentMut>()
        .map_err(|_| StoreError::Invalid {
            diagnostics: crate::validate::check_text(path, text).diagnostics,
        })
}

/// Makes `doc` hold `new` (a persona as JSON), changing only what differs from what it holds.
pub(super) fn apply(doc: &mut DocumentMut, new: &Value) {
    let old = Document::parse(&doc.to_string())
        .ok()
        .and_then(|d| d.to_json().ok())
        .unwrap_or(Value::Null);
    let empty = Map::new();
    let (Some(new), old) = (new.as_object(), old.as_object().unwrap_or(&empty)) else {
        return;
    };
    apply_table(doc.as_table_mut(), old, new, true);
}

fn apply_table(
    table: &mut dyn TableLike,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    root: bool,
) {
    let gone: Vec<String> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    for key in gone {
        table.remove(&key);
    }
    for (key, value) in new {
        if old.get(key).is_some_and(|o| same(o, value)) {
            continue;
        }
        let empty = Map::new();
        let old_sub = old.get(key).and_then(Value::as_object).unwrap_or(&empty);
        match (value, table.get_mut(key)) {
            (Value::Object(sub), Some(item)) if item.is_table_like() => {
                if let Some(t) = item.as_table_like_mut() {
                    apply_table(t, old_sub, sub, false);
                }
            }
            (_, Some(item)) => replace(item, value),
            (_, None) => {
                if let Some(item) = to_item(value, root) {
                    table.insert(key, item);
                }
            }
        }
    }
}

/// Sets the value at `path` to `raw`, parsed to the key's type.
pub(super) fn set(doc: &mut DocumentMut, path: &[&str], raw: &str) -> Result<(), StoreError> {
    let value = parse_for(path, raw);
    let (last, parents) = path.split_last().ok_or_else(|| unknown(path))?;
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for (depth, key) in parents.iter().enumerate() {
        let item = table.entry(key).or_insert_with(|| {
            if depth == 0 {
                Item::Table(Table::new())
            } else {
                Item::Value(InlineTable::new().into())
            }
        });
        table = item
            .as_table_like_mut()
            .ok_or_else(|| StoreError::UnknownKey {
                key: path.join("."),
                hint: Some(format!("`{}` is not a table", parents[..=depth].join("."))),
            })?;
    }
    match table.get_mut(last) {
        Some(item) => replace(item, &value),
        None => {
            if let Some(item) = to_item(&value, false) {
                table.insert(last, item);
            }
        }
    }
    Ok(())
}

/// Removes the key at `path`, if present.
pub(super) fn unset(doc: &mut DocumentMut, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for key in parents {
        match table.get_mut(key).and_then(Item::as_table_like_mut) {
            Some(t) => table = t,
            None => return,
        }
    }
    table.remove(last);
}

/// The edit of a rename: the old id joins `aliases`; an `id` key follows the new id.
pub(super) fn renamed(doc: &mut DocumentMut, old: &str, new: &str) {
    if let Some(item) = doc.get_mut("id") {
        replace(item, &Value::String(new.to_owned()));
    }
    let aliases = doc
        .entry("aliases")
        .or_insert_with(|| Item::Value(Array::new().into()));
    if let Some(array) = aliases.as_array_mut() {
        array.retain(|v| v.as_str() != Some(new));
        if !array.iter().any(|v| v.as_str() == Some(old)) {
            array.push(old);
        }
    }
}

/// Refuses keys the format does not know (with a hint), before anything is read.
pub(super) fn check_settable(path: &[&str]) -> Result<(), StoreError> {
    match path {
        ["extensions", _, ..] => Ok(()),
        [key]
            if allowed_keys(&[]).iter().any(|k| k == key)
                && *key != "extensions"
                && *key != "model" =>
        {
            Ok(())
        }
        ["model", key] if allowed_keys(&["model"]).iter().any(|k| k == key) => Ok(()),
        _ => Err(unknown(path)),
    }
}

fn unknown(path: &[&str]) -> StoreError {
    // A table named as if it were a key: say so, and which keys it has.
    if key_type(path).as_deref() == Some("object") {
        let name = path.join(".");
        let keys = allowed_keys(path);
        let hint = if keys.is_empty() {
            format!("`{name}` is a table: set one of its keys, `{name}.NAME`")
        } else {
            let list: Vec<String> = keys.iter().map(|k| format!("`{name}.{k}`")).collect();
            format!(
                "`{name}` is a table: set one of its keys: {}",
                list.join(", ")
            )
        };
        return StoreError::UnknownKey {
            key: name,
            hint: Some(hint),
        };
    }
    let top = allowed_keys(&[]);
    if let Some(first) = path.first().filter(|f| !top.iter().any(|k| k == *f)) {
        let hint = closest(first, &top).map(|s| {
            let mut fixed = path.to_vec();
            fixed[0] = &s;
            format!("did you mean `{}`?", fixed.join("."))
        });
        return StoreError::UnknownKey {
            key: path.join("."),
            hint,
        };
    }
    let table: Vec<&str> = path
        .iter()
        .take(path.len().saturating_sub(1))
        .copied()
        .collect();
    let allowed = allowed_keys(&table);
    let hint = path.last().and_then(|k| closest(k, &allowed)).map(|s| {
        format!(
            "did you mean `{}`?",
            if table.is_empty() {
                s
            } else {
                format!("{}.{s}", table.join("."))
            }
        )
    });
    StoreError::UnknownKey {
        key: path.join("."),
        hint,
    }
}

/// `raw` as a value of the key's type: strings as written, the rest parsed as TOML (falling
/// back to a string, which validation then reports as the wrong type).
fn parse_for(path: &[&str], raw: &str) -> Value {
    if key_type(path).as_deref() == Some("string") {
        return Value::String(raw.to_owned());
    }
    let wrapped = format!("v = {raw}");
    Document::parse(&wrapped)
        .ok()
        .and_then(|d| d.to_json().ok())
        .and_then(|mut j| j.get_mut("v").map(Value::take))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// Replaces the value in `item`, keeping the comments around it.
fn replace(item: &mut Item, value: &Value) {
    let Some(mut new) = to_value(value) else {
        *item = Item::None;
        return;
    };
    if let Some(old) = item.as_value() {
        *new.decor_mut() = old.decor().clone();
    }
    if item.is_table() {
        if let Some(t) = to_item(value, true) {
            *item = t;
        }
        return;
    }
    *item = Item::Value(new);
}

/// A JSON value as a TOML item: at the top level, tables become `[table]` sections.
fn to_item(value: &Value, top_level: bool) -> Option<Item> {
    match value {
        Value::Object(map) if top_level => {
            let mut table = Table::new();
            for (k, v) in map {
                if let Some(v) = to_value(v) {
                    table.insert(k, Item::Value(v));
                }
            }
            Some(Item::Table(table))
        }
        other => to_value(other).map(Item::Value),
    }
}

fn to_value(value: &Value) -> Option<toml_edit::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            let mut array = Array::new();
            for v in items.iter().filter_map(to_value) {
                array.push(v);
            }
            array.into()
        }
        Value::Object(map) => {
            let mut table = InlineTable::new();
            for (k, v) in map {
                if let Some(v) = to_value(v) {
                    table.insert(k, v);
                }
            }
            table.into()
        }
    })
}

/// JSON equality where `1` and `1.0` are the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
