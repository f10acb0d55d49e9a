//! YAML front matter as real agent files write it, read into JSON values with a budget.
//!
//! - The tree is built from `yaml-rust2`'s events here, not by its loader, so that alias
//!   expansion is counted: a document that would grow past [`MAX_NODES`] values or
//!   [`MAX_BYTES`] bytes of text (a "billion laughs" bomb) is refused before it is built.
//! - Two constructs that PyYAML and the agent runtimes read but a strict YAML 1.2 parser
//!   refuses are retried after a rewrite that keeps their meaning: a flow list or mapping whose
//!   continuation lines are not indented (`tools: [a,\nb]`), and a plain value holding `: `
//!   (`description: Use it when: …`), which is read as plain text, with a warning.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The most values (scalars, lists, mappings) a front matter may expand to.
pub const MAX_NODES: usize = 100_000;
/// The most bytes of text (keys and scalars) a front matter may expand to.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A front-matter error at a line and column of the front matter (both 1-based).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Loads the first document of `text` as a JSON value. Warnings say what was read leniently.
pub(super) fn load(text: &str, warnings: &mut Vec<String>) -> Result<Value, YamlError> {
    let first = match strict(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if first.message.starts_with("the front matter expands") {
        return Err(first);
    }
    let mut candidate = text.to_owned();
    let mut notes = Vec::new();
    if let Some(fixed) = indent_flow_continuations(&candidate) {
        candidate = fixed;
        notes.push(None);
    }
    if let Ok(v) = strict(&candidate) {
        return Ok(v);
    }
    if let Some((fixed, keys)) = quote_colon_values(&candidate) {
        candidate = fixed;
        notes.extend(keys.into_iter().map(Some));
    }
    match strict(&candidate) {
        Ok(v) => {
            for key in notes.into_iter().flatten() {
                warnings.push(format!(
                    "the value of `{key}` holds an unquoted `: `, which YAML does not allow; read as plain text, as agent runtimes do"
                ));
            }
            Ok(v)
        }
        Err(_) => Err(first),
    }
}

fn strict(text: &str) -> Result<Value, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let scanned = parser.load(&mut builder, false);
    if let Some(e) = builder.error {
        return Err(e);
    }
    if let Err(e) = scanned {
        return Err(YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        });
    }
    Ok(builder.root.unwrap_or(Value::Null))
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, (Value, usize, usize)>,
    root: Option<Value>,
    nodes: usize,
    bytes: usize,
    error: Option<YamlError>,
    done: bool,
}

impl Builder {
    fn charge(&mut self, nodes: usize, bytes: usize, mark: Marker) -> bool {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES || self.bytes > MAX_BYTES {
            self.error = Some(YamlError {
                line: mark.line(),
                column: mark.col() + 1,
                message: format!(
                    "the front matter expands to more than {MAX_NODES} values or {MAX_BYTES} bytes (aliases repeating aliases: a YAML bomb?); refused"
                ),
            });
            return false;
        }
        true
    }

    /// Adds a finished value to the collection being built (or makes it the root).
    fn push(&mut self, value: Value, anchor: usize, cost: (usize, usize)) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), cost.0, cost.1));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => *key = Some(key_text(&value)),
                Some(k) => {
                    map.insert(k, value);
                }
            },
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
                self.done = true;
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() || self.done {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let bytes = text.len();
                if self.charge(1, bytes, mark) {
                    let value = scalar(text, style, tag.as_ref());
                    self.push(value, anchor, (1, bytes));
                }
            }
            Event::SequenceStart(anchor, _) if self.charge(1, 0, mark) => {
                self.stack.push(Frame::Seq(Vec::new(), anchor));
            }
            Event::MappingStart(anchor, _) if self.charge(1, 0, mark) => {
                self.stack.push(Frame::Map(Map::new(), None, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, a)) => (Value::Array(items), a),
                    Some(Frame::Map(map, _, a)) => (Value::Object(map), a),
                    None => return,
                };
                // A collection's cost is only needed if an alias copies it.
                let cost = if anchor > 0 { size(&value) } else { (0, 0) };
                self.push(value, anchor, cost);
            }
            Event::Alias(id) => {
                let Some((value, nodes, bytes)) = self.anchors.get(&id).cloned() else {
                    return;
                };
                if self.charge(nodes, bytes, mark) {
                    self.push(value, 0, (nodes, bytes));
                }
            }
            _ => {}
        }
    }
}

/// Values and text bytes in a value.
fn size(value: &Value) -> (usize, usize) {
    match value {
        Value::String(s) => (1, s.len()),
        Value::Array(items) => items
            .iter()
            .map(size)
            .fold((1, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let (n, b) = size(v);
                (n, b + k.len())
            })
            .fold((1, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        _ => (1, 0),
    }
}

fn key_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "~".to_owned(),
        other => other.to_string(),
    }
}

fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str") {
        return Value::String(text);
    }
    match yaml_rust2::Yaml::from_str(&text) {
        yaml_rust2::Yaml::Null => Value::Null,
        yaml_rust2::Yaml::Boolean(b) => Value::Bool(b),
        yaml_rust2::Yaml::Integer(i) => Value::Number(i.into()),
        yaml_rust2::Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::String(text), Value::Number),
        _ => Value::String(text),
    }
}

/// Indents the lines that continue a flow collection (`[`, `{`) opened on an earlier line
/// one column deeper than that line, as YAML 1.2 requires and PyYAML does not. `None` when
/// nothing changes.
fn indent_flow_continuations(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut opener_indent = 0;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if depth > 0 && indent <= opener_indent && !line.trim().is_empty() {
            out.push_str(&" ".repeat(opener_indent + 1 - indent));
            changed = true;
        }
        if depth == 0 {
            opener_indent = indent;
        }
        out.push_str(line);
        let mut prev = ' ';
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '#' && prev.is_whitespace() => break,
                None if depth > 0 && (c == '\'' || c == '"') => quote = Some(c),
                None if (c == '[' || c == '{')
                    && (depth > 0 || matches!(prev, ' ' | '\t' | ':' | '-')) =>
                {
                    depth += 1;
                }
                None if (c == ']' || c == '}') && depth > 0 => depth -= 1,
                None => {}
            }
            prev = c;
        }
    }
    changed.then_some(out)
}

/// Quotes top-level plain values that hold `: ` (with their indented continuation lines).
/// Returns the new text and the keys changed, or `None` when there is nothing to change.
fn quote_colon_values(text: &str) -> Option<(String, Vec<String>)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len() + 64);
    let mut keys = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let plain_value = top_level_plain(line);
        let Some((key, value)) = plain_value else {
            out.push_str(line);
            i += 1;
            continue;
        };
        let mut j = i + 1;
        let mut parts = vec![value.trim_end().to_owned()];
        while j < lines.len()
            && (lines[j].starts_with([' ', '\t']) || lines[j].trim().is_empty())
            && lines[j..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.starts_with([' ', '\t']))
        {
            parts.push(lines[j].trim().to_owned());
            j += 1;
        }
        let joined = parts.join("\n");
        if joined.contains(": ") || joined.ends_with(':') {
            let ending = if lines[j - 1].ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            // Single-quoted continuation lines are indented like the plain ones were.
            let body = joined
                .replace('\'', "''")
                .replace('\n', &format!("{ending}  "));
            out.push_str(&format!("{key}: '{body}'{ending}"));
            keys.push(key.to_owned());
        } else {
            for l in &lines[i..j] {
                out.push_str(l);
            }
        }
        i = j;
    }
    (!keys.is_empty()).then_some((out, keys))
}

/// `key: value` at column 0 with a plain (unquoted, not a collection or block) value.
fn top_level_plain(line: &str) -> Option<(&str, &str)> {
    if line.starts_with([' ', '\t', '#', '-', '\'', '"', '[', '{', '?']) {
        return None;
    }
    let colon = line.find(": ")?;
    let key = &line[..colon];
    if key.contains(['#', '\'', '"']) {
        return None;
    }
    let value = line[colon + 2..].trim_start();
    if value.is_empty()
        || value.starts_with([
            '\'', '"', '[', '{', '|', '>', '&', '*', '!', '#', '%', '@', '`',
        ])
    {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flow_lists_over_lines_as_pyyaml_reads_them() {
        let mut w = Vec::new();
        for text in [
            "name: a\ntools: [Read,\nGrep]\n",
            "name: a\ntools: [\n  Read,\n  Grep\n]\n",
            "name: a\ntools:\n  [Read,\n  Grep]\n",
        ] {
            assert_eq!(
                load(text, &mut w).unwrap(),
                json!({"name": "a", "tools": ["Read", "Grep"]}),
                "{text}"
            );
        }
        assert!(w.is_empty());
    }

    #[test]
    fn unquoted_colons_are_read_as_text_with_a_warning() {
        let mut w = Vec::new();
        let v = load(
            "name: a\ndescription: Use when: the user asks\n  and it's late: really\nmodel: x\n",
            &mut w,
        )
        .unwrap();
        assert_eq!(
            v["description"],
            "Use when: the user asks and it's late: really"
        );
        assert_eq!(v["model"], "x");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("`description`"), "{w:?}");
    }

    #[test]
    fn aliases_expand_within_the_budget_and_a_bomb_is_refused() {
        let mut w = Vec::new();
        let v = load("a: &a [x, y]\nb: *a\n", &mut w).unwrap();
        assert_eq!(v["b"], json!(["x", "y"]));
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            bomb.push_str(&format!("{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        let err = load(&bomb, &mut w).unwrap_err();
        assert!(err.message.contains("YAML bomb"), "{err:?}");
    }

    #[test]
    fn errors_have_one_based_lines() {
        let err = load("name: a\ndescription: [unclosed\n", &mut Vec::new()).unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
