//! A forgiving outline of a persona file's text: which key and which table each byte belongs
//! to. Editor buffers are often half-typed, so this reads line by line and never fails; the
//! verdict on the file comes from the checker, not from here.

use std::ops::Range;

/// A `key = value` line (the value may run over several lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyEntry {
    /// The table the key is in: `""` for the top level, else the dotted table name.
    pub table: String,
    /// The key's last segment (`temperature` in `model.temperature = 1`).
    pub key: String,
    /// Byte range of the whole key as written.
    pub key_span: Range<usize>,
    /// Byte range of the value as written (quotes and brackets included).
    pub value_span: Range<usize>,
}

/// A `[table]` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The table's dotted name.
    pub name: String,
    /// Byte range of the name inside the brackets.
    pub name_span: Range<usize>,
    /// Byte range of the whole header line.
    pub line_span: Range<usize>,
}

/// Every key and header of a text, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outline {
    /// The keys.
    pub entries: Vec<KeyEntry>,
    /// The table headers.
    pub headers: Vec<Header>,
}

impl Outline {
    /// Outlines `text`.
    pub(crate) fn parse(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut out = Outline::default();
        let mut table = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let eol = line_end(bytes, i);
            let start = skip_blank(bytes, i, eol);
            match bytes.get(start) {
                None | Some(b'#' | b'\n' | b'\r') => i = eol + 1,
                Some(b'[') => {
                    let inner_start = start
                        + if bytes.get(start + 1) == Some(&b'[') {
                            2
                        } else {
                            1
                        };
                    let close = text[inner_start..eol]
                        .find(']')
                        .map_or(eol, |c| inner_start + c);
                    let name_span = trim_span(text, inner_start..close);
                    table = unquote_dotted(&text[name_span.clone()]);
                    out.headers.push(Header {
                        name: table.clone(),
                        name_span,
                        line_span: start..eol,
                    });
                    i = eol + 1;
                }
                Some(_) => match find_equals(bytes, start, eol) {
                    None => i = eol + 1,
                    Some(eq) => {
                        let key_span = trim_span(text, start..eq);
                        let dotted = unquote_dotted(&text[key_span.clone()]);
                        let (prefix, key) = dotted.rsplit_once('.').unwrap_or(("", &dotted));
                        let full_table = match (table.is_empty(), prefix.is_empty()) {
                            (true, _) => prefix.to_owned(),
                            (false, true) => table.clone(),
                            (false, false) => format!("{table}.{prefix}"),
                        };
                        let value_start = skip_blank(bytes, eq + 1, eol);
                        let value_end = value_end(bytes, value_start);
                        out.entries.push(KeyEntry {
                            table: full_table,
                            key: key.to_owned(),
                            key_span,
                            value_span: trim_span(text, value_start..value_end),
                        });
                        i = line_end(bytes, value_end.max(start)) + 1;
                    }
                },
            }
        }
        out
    }

    /// The table that a new key typed at `offset` would land in.
    pub(crate) fn table_at(&self, offset: usize) -> &str {
        self.headers
            .iter()
            .rev()
            .find(|h| h.line_span.start <= offset)
            .map_or("", |h| h.name.as_str())
    }

    /// The entry whose key or value holds `offset` (its end included: the cursor after the
    /// last character still belongs to it).
    pub(crate) fn entry_at(&self, offset: usize) -> Option<&KeyEntry> {
        self.entries
            .iter()
            .find(|e| e.key_span.start <= offset && offset <= e.value_span.end.max(e.key_span.end))
    }

    /// The header whose line holds `offset`.
    pub(crate) fn header_at(&self, offset: usize) -> Option<&Header> {
        self.headers
            .iter()
            .find(|h| h.line_span.start <= offset && offset <= h.line_span.end)
    }

    /// The first entry `key` of `table`.
    pub(crate) fn entry(&self, table: &str, key: &str) -> Option<&KeyEntry> {
        self.entries
            .iter()
            .find(|e| e.table == table && e.key == key)
    }

    /// Whether `table` has a header or any key in it.
    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.headers.iter().any(|h| h.name == table)
            || self.entries.iter().any(|e| e.table == table)
    }

    /// The keys written in `table`.
    pub(crate) fn keys_in<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.table == table)
            .map(|e| e.key.as_str())
    }
}

/// The value of a simple one-line string (`"id"` or `'id'`, no escapes), as ids are written.
pub(crate) fn simple_string(raw: &str) -> Option<&str> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))?;
    (!inner.contains(['"', '\'', '\\', '\n'])).then_some(inner)
}

/// The `{{name}}` around `offset` inside the value at `value`: the name and the byte range
/// of the whole placeholder.
pub(crate) fn placeholder_at(
    text: &str,
    value: &Range<usize>,
    offset: usize,
) -> Option<(String, Range<usize>)> {
    let v = &text[value.clone()];
    let mut from = 0;
    while let Some(open) = v[from..].find("{{") {
        let start = from + open;
        let close = v[start + 2..].find("}}").map(|c| start + 2 + c)?;
        let name = v[start + 2..close].trim();
        let span = value.start + start..value.start + close + 2;
        if span.contains(&offset) && is_name(name) {
            return Some((name.to_owned(), span));
        }
        from = start + 2;
    }
    None
}

/// When the text just before `offset` is `{{` then a partly typed name: where the name starts.
pub(crate) fn open_placeholder(text: &str, value: &Range<usize>, offset: usize) -> Option<usize> {
    if offset < value.start || offset > value.end {
        return None;
    }
    let before = &text[value.start..offset];
    let name_start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let head = before[..name_start].trim_end_matches([' ', '\t']);
    // `{{{{` is a literal `{{`, not a placeholder.
    (head.ends_with("{{") && !head.ends_with("{{{{")).then_some(value.start + name_start)
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &bytes[from.min(bytes.len())..]).map_or(bytes.len(), |i| from + i)
}

fn skip_blank(bytes: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

fn trim_span(text: &str, span: Range<usize>) -> Range<usize> {
    let s = &text[span.clone()];
    let start = span.start + (s.len() - s.trim_start().len());
    let end = span.end - (s.len() - s.trim_end().len());
    start..end.max(start)
}

/// `a."b c".d` → `a.b c.d` (quotes dropped, spaces around dots dropped).
fn unquote_dotted(raw: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in raw.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ' | '\t') => {}
            _ => out.push(c),
        }
    }
    out
}

/// The `=` of a key line, outside quoted keys.
fn find_equals(bytes: &[u8], start: usize, eol: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().take(eol).skip(start) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), b) if b == q => quote = None,
            (None, b'=') => return Some(i),
            (None, b'#') => return None,
            _ => {}
        }
    }
    None
}

/// Where a value starting at `i` ends: the end of its line once every string, array and
/// inline table it opens is closed (or the end of the text, for an unclosed one).
fn value_end(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'#' if depth == 0 => return i,
            b'"' | b'\'' => i = string_end(bytes, i),
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'#' => i = line_end(bytes, i),
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The byte after the string that opens at `i` (one-line strings end at their line's end
/// when unclosed; multi-line ones at the end of the text).
fn string_end(bytes: &[u8], i: usize) -> usize {
    let q = bytes[i];
    let basic = q == b'"';
    let multi = bytes.get(i + 1) == Some(&q) && bytes.get(i + 2) == Some(&q);
    let mut j = i + if multi { 3 } else { 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if basic => j += 2,
            b'\n' if !multi => return j,
            b if b == q => {
                if !multi {
                    return j + 1;
                }
                if bytes.get(j + 1) == Some(&q) && bytes.get(j + 2) == Some(&q) {
                    // Up to two more quotes may close the string (`""""` ends with a quote).
                    let mut end = j + 3;
                    while end < bytes.len() && bytes[end] == q && end < j + 5 {
                        end += 1;
                    }
                    return end;
                }
                j += 1;
            }
            _ => j += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "#:schema x\nname = \"A\" # c\nsystem_prompt = \"\"\"\nHi [not] a = b\n{{tone}}\n\"\"\"\naliases = [\n  \"x\",\n]\nmodel.top_p = 1\n\n[vars]\ntone = 'warm'\n";

    #[test]
    fn keys_tables_and_multi_line_values() {
        let o = Outline::parse(TEXT);
        let keys: Vec<(&str, &str)> = o
            .entries
            .iter()
            .map(|e| (e.table.as_str(), e.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("", "name"),
                ("", "system_prompt"),
                ("", "aliases"),
                ("model", "top_p"),
                ("vars", "tone")
            ]
        );
        let prompt = o.entry("", "system_prompt").unwrap();
        assert!(TEXT[prompt.value_span.clone()].ends_with("{{tone}}\n\"\"\""));
        assert_eq!(
            &TEXT[o.entry("", "name").unwrap().value_span.clone()],
            "\"A\""
        );
        assert_eq!(o.table_at(TEXT.find("tone =").unwrap()), "vars");
        assert_eq!(o.table_at(TEXT.find("aliases").unwrap()), "");
        assert!(o.has_table("model") && o.has_table("vars") && !o.has_table("extensions"));
    }

    #[test]
    fn a_half_typed_line_is_skipped() {
        let o = Outline::parse("nam\ndescription = \"d\nicon = \"x\"\n[mod");
        let keys: Vec<&str> = o.keys_in("").collect();
        assert_eq!(keys, ["description", "icon"]);
        assert_eq!(o.headers[0].name, "mod");
    }

    #[test]
    fn placeholders_under_and_before_the_cursor() {
        let text = "p = \"Be {{ tone }} and {{pla\"";
        let value = 4..text.len();
        let at = text.find("tone").unwrap();
        assert_eq!(
            placeholder_at(text, &value, at).map(|(n, _)| n).as_deref(),
            Some("tone")
        );
        assert_eq!(placeholder_at(text, &value, 5), None);
        let end = text.len() - 1;
        assert_eq!(
            open_placeholder(text, &value, end),
            Some(text.find("pla").unwrap())
        );
        assert_eq!(open_placeholder(text, &value, at - 1), Some(at - 1));
        assert_eq!(open_placeholder(text, &value, 6), None);
        let lit = "p = \"{{{{x\"";
        assert_eq!(open_placeholder(lit, &(4..lit.len()), lit.len() - 1), None);
    }

    #[test]
    fn simple_strings() {
        assert_eq!(simple_string("\"base\""), Some("base"));
        assert_eq!(simple_string("'base'"), Some("base"));
        assert_eq!(simple_string("\"ba\\\"se\""), None);
        assert_eq!(simple_string("\"base"), None);
    }
}
