//! A parsed TOML document that keeps the source position of every key and value.
//!
//! This is the first step of validation: file text → [`Document`]. The document can be turned
//! into a JSON instance for the schema ([`Document::to_json`]) and asked where a JSON instance
//! path points in the source ([`Document::locate`]).

use std::ops::Range;

use serde_json::{Map, Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// How deep tables and arrays may nest before a file is refused (the TOML parser itself stops
/// far earlier on its own; this guards the recursive walks below all the same).
const MAX_DEPTH: usize = 128;

/// A parsed TOML document borrowing its source text.
pub(crate) struct Document<'a> {
    root: Spanned<DeTable<'a>>,
}

/// The first syntax error of a document.
pub(crate) struct SyntaxError {
    pub span: Range<usize>,
    pub message: String,
}

/// One step of a JSON instance path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'p> {
    /// A table key.
    Key(&'p str),
    /// An array index.
    Index(usize),
}

/// Where a path points: the key (for table entries) and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
    /// How many segments of the path were found (the rest did not exist).
    pub depth: usize,
}

impl<'a> Document<'a> {
    /// Parses `text`; on failure returns only the first syntax error, since the errors a parser
    /// reports after recovering from the first are mostly consequences of it.
    pub fn parse(text: &'a str) -> Result<Self, SyntaxError> {
        let (root, errors) = DeTable::parse_recoverable(text);
        match errors.into_iter().next() {
            None => Ok(Document { root }),
            Some(error) => {
                let span = error.span().unwrap_or(0..0);
                Err(SyntaxError {
                    span,
                    message: first_line(error.message()).to_owned(),
                })
            }
        }
    }

    /// The top-level table.
    pub fn root(&self) -> &DeTable<'a> {
        self.root.get_ref()
    }

    /// Converts the document into the JSON instance the schema validates. Datetimes become
    /// RFC 3339 strings; non-finite floats become strings and integers that overflow `i64` floats, so
    /// that the schema reports them as the wrong type instead of them vanishing.
    ///
    /// Fails with the span of a value nested deeper than the limit.
    pub fn to_json(&self) -> Result<Value, Range<usize>> {
        table_to_json(self.root.get_ref(), 0)
    }

    /// Walks `path` from the root and returns the deepest node it reaches.
    pub fn locate<'p>(&self, path: impl IntoIterator<Item = Segment<'p>>) -> Located {
        // The root table's own span covers the document; a problem with the root (a missing
        // key) is reported at the start of the file.
        let mut located = Located {
            key: None,
            value: 0..0,
            depth: 0,
        };
        let mut table: Option<&DeTable<'a>> = Some(self.root.get_ref());
        let mut array: Option<&[Spanned<DeValue<'a>>]> = None;
        for segment in path {
            let next = match (segment, table, array) {
                (Segment::Key(k), Some(t), _) => t
                    .get_key_value(k)
                    .map(|(key, value)| (Some(key.span()), value)),
                (Segment::Index(i), _, Some(items)) => items.get(i).map(|value| (None, value)),
                _ => None,
            };
            let Some((key, value)) = next else { break };
            located = Located {
                key,
                value: value.span(),
                depth: located.depth + 1,
            };
            table = value.get_ref().as_table();
            array = value.get_ref().as_array().map(|a| &a[..]);
        }
        located
    }

    /// The TOML value at `path`, if it exists.
    pub fn value_at<'p>(&self, path: &[Segment<'p>]) -> Option<&DeValue<'a>> {
        let (first, rest) = path.split_first()?;
        let Segment::Key(k) = first else { return None };
        let mut value = self.root.get_ref().get(*k)?.get_ref();
        for segment in rest {
            value = match segment {
                Segment::Key(k) => value.as_table()?.get(*k)?.get_ref(),
                Segment::Index(i) => value.as_array()?.get(*i)?.get_ref(),
            };
        }
        Some(value)
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message).trim()
}

fn table_to_json(table: &DeTable<'_>, depth: usize) -> Result<Value, Range<usize>> {
    let mut map = Map::new();
    for (key, value) in table.iter() {
        map.insert(key.get_ref().to_string(), value_to_json(value, depth + 1)?);
    }
    Ok(Value::Object(map))
}

fn value_to_json(value: &Spanned<DeValue<'_>>, depth: usize) -> Result<Value, Range<usize>> {
    if depth > MAX_DEPTH {
        return Err(value.span());
    }
    Ok(match value.get_ref() {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Number(n.into()),
            // Too big for i64: keep it a number so that range checks speak of it.
            Err(_) => i128::from_str_radix(i.as_str(), i.radix())
                .ok()
                .and_then(|n| Number::from_f64(n as f64))
                .map_or_else(|| Value::String(i.to_string()), Value::Number),
        },
        DeValue::Float(f) => float_to_json(f.as_str()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| value_to_json(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => table_to_json(t, depth)?,
    })
}

fn float_to_json(raw: &str) -> Value {
    let cleaned: String = raw.chars().filter(|&c| c != '_').collect();
    cleaned
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(raw.to_owned()), Value::Number)
}

/// The TOML name of a value's type, as users know it.
pub(crate) fn toml_type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::position;

    fn pos_of(text: &str, path: &[Segment<'_>]) -> (usize, usize) {
        let doc = Document::parse(text).ok().expect("test input parses");
        let located = doc.locate(path.iter().copied());
        let p = position(text, located.key.unwrap_or(located.value).start);
        (p.line, p.column)
    }

    #[test]
    fn nested_table_key() {
        let text = "name = \"a\"\n\n[model]\ntemperature = 3.5\n";
        assert_eq!(
            pos_of(text, &[Segment::Key("model"), Segment::Key("temperature")]),
            (4, 1)
        );
    }

    #[test]
    fn array_of_strings_item() {
        let text = "tags = [\"a\", \"b\",\n  \"c\"]\n";
        assert_eq!(
            pos_of(text, &[Segment::Key("tags"), Segment::Index(2)]),
            (2, 3)
        );
    }

    #[test]
    fn inline_table_value() {
        let text = "model = { top_p = 7, temperature = 1 }\n";
        assert_eq!(
            pos_of(text, &[Segment::Key("model"), Segment::Key("top_p")]),
            (1, 11)
        );
    }

    #[test]
    fn crlf_file() {
        let text = "name = \"a\"\r\n[model]\r\ntemperature = 9\r\n";
        assert_eq!(
            pos_of(text, &[Segment::Key("model"), Segment::Key("temperature")]),
            (3, 1)
        );
    }

    #[test]
    fn multibyte_characters_before_the_error() {
        // "model = { a = \"" is 15 characters, then two 4-byte emoji, then `", ` : top_p is
        // the 21st character although it is the 27th byte.
        let text = "name = \"Ünïcødé\"\nmodel = { a = \"🧭🧭\", top_p = 9 }\n";
        assert_eq!(
            pos_of(text, &[Segment::Key("model"), Segment::Key("top_p")]),
            (2, 21)
        );
    }

    #[test]
    fn missing_path_stops_at_deepest_existing_node() {
        let text = "[model]\ntemperature = 1\n";
        let doc = Document::parse(text).ok().expect("parses");
        let located = doc.locate([Segment::Key("model"), Segment::Key("nope")]);
        assert_eq!(located.depth, 1);
        assert_eq!(position(text, located.value.start).line, 1);
    }

    #[test]
    fn datetimes_become_rfc3339_strings() {
        let doc = Document::parse("at = 1979-05-27T07:32:00Z\n")
            .ok()
            .expect("parses");
        let json = doc.to_json().expect("shallow");
        assert_eq!(json["at"], Value::String("1979-05-27T07:32:00Z".into()));
    }

    #[test]
    fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
        let text = format!("a = {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
        assert!(Document::parse(&text).is_err());
    }
}
