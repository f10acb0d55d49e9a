//! Schema violations → diagnostics in the user's terms, at the offending key or value.

use std::path::Path;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde_json::Value;

use crate::bounded::Bounded;
use crate::diagnostic::{Code, Diagnostic};
use crate::document::{Document, Segment, toml_type_name};
use crate::persona::NOT_BLANK;
use crate::schema::allowed_keys;

/// One violation, lifted out of the validator's types.
struct Violation {
    path: Vec<OwnedSegment>,
    kind: ValidationErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedSegment {
    Key(String),
    Index(usize),
}

impl OwnedSegment {
    fn borrow(&self) -> Segment<'_> {
        match self {
            OwnedSegment::Key(k) => Segment::Key(k),
            OwnedSegment::Index(i) => Segment::Index(*i),
        }
    }
}

/// Validates `instance` against the persona schema and returns one diagnostic per problem,
/// each reserved in `sink` (past its cap a problem is counted there, not built).
pub(crate) fn schema_diagnostics(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    instance: &Value,
    sink: &mut Bounded<'_>,
) -> Vec<Diagnostic> {
    let validator = crate::schema::validator();
    if validator.is_valid(instance) {
        return Vec::new();
    }
    let violations: Vec<Violation> = validator
        .iter_errors(instance)
        .map(|e| {
            let path = e
                .instance_path()
                .iter()
                .map(|s| match s {
                    LocationSegment::Property(p) => OwnedSegment::Key(p.into_owned()),
                    LocationSegment::Index(i) => OwnedSegment::Index(i),
                })
                .collect();
            Violation {
                path,
                kind: e.into_parts().kind,
            }
        })
        .collect();

    // "Did you mean" pairs: unknown key → the allowed key it is close to. A required key that
    // one of them stands for is not reported missing as well (one defect, one diagnostic).
    let mut out = Vec::new();
    let mut meant: Vec<(Vec<OwnedSegment>, String)> = Vec::new();
    for v in &violations {
        if let ValidationErrorKind::AdditionalProperties { unexpected } = &v.kind {
            let table: Vec<&str> = keys_of(&v.path);
            let allowed = allowed_keys(&table);
            // In file order, so that the ones listed (before the cap) are the first ones.
            let mut keys: Vec<(usize, &String)> = unexpected
                .iter()
                .map(|key| {
                    let mut segs: Vec<Segment<'_>> =
                        v.path.iter().map(OwnedSegment::borrow).collect();
                    segs.push(Segment::Key(key));
                    let located = doc.locate(segs);
                    (located.key.unwrap_or(located.value).start, key)
                })
                .collect();
            keys.sort_by_key(|(offset, _)| *offset);
            for (offset, key) in keys {
                let suggestion = closest(key, &allowed);
                if let Some(s) = &suggestion {
                    meant.push((v.path.clone(), s.clone()));
                }
                if !sink.reserve(Code::SchemaUnknownKey, offset) {
                    continue;
                }
                let mut key_path = v.path.clone();
                key_path.push(OwnedSegment::Key(key.clone()));
                let mut d = at(path, text, doc, &key_path, Code::SchemaUnknownKey, true);
                d.message = format!("unknown key `{}`", dotted(&key_path));
                d.hint = Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed keys here: {}", allowed.join(", ")),
                });
                out.push(d);
            }
        }
    }
    for v in &violations {
        if let Some(d) = translate(path, text, doc, v, &meant, sink) {
            out.push(d);
        }
    }
    out.sort_by_key(|d| (d.line, d.column));
    out.dedup_by(|a, b| {
        a.line == b.line && a.column == b.column && a.code == b.code && a.message == b.message
    });
    out
}

fn translate(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    v: &Violation,
    meant: &[(Vec<OwnedSegment>, String)],
    sink: &mut Bounded<'_>,
) -> Option<Diagnostic> {
    let name = dotted(&v.path);
    let found = || {
        let segs: Vec<Segment<'_>> = v.path.iter().map(OwnedSegment::borrow).collect();
        doc.value_at(&segs).map_or("nothing", toml_type_name)
    };
    let (code, message, hint, on_key) = match &v.kind {
        ValidationErrorKind::AdditionalProperties { .. } => return None,
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            if meant.iter().any(|(table, s)| *table == v.path && s == key) {
                return None;
            }
            let full = if name.is_empty() { key.to_owned() } else { format!("{name}.{key}") };
            let table = if name.is_empty() { "the file".to_owned() } else { format!("table `{name}`") };
            (Code::SchemaRequired, format!("missing required key `{full}`"), Some(format!("add `{key} = …` to {table}")), false)
        }
        ValidationErrorKind::Type { .. } if matches!(doc.value_at(&v.path.iter().map(OwnedSegment::borrow).collect::<Vec<_>>()), Some(toml::de::DeValue::Float(_))) => {
            (Code::SchemaType, format!("`{name}` must be a finite number, found {}", number_text(doc, v)), None, false)
        }
        ValidationErrorKind::Type { kind } => {
            let expected = expected_type(&format!("{kind:?}"));
            (Code::SchemaType, format!("`{name}` must be {expected}, found {}", found()), None, false)
        }
        ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
            if name == "schema_version" {
                return version(path, text, doc, v, sink);
            }
            (Code::SchemaRange, format!("`{name}` {} is above the maximum {}", number_text(doc, v), limit_text(limit)), None, false)
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
            if name == "schema_version" {
                return version(path, text, doc, v, sink);
            }
            (Code::SchemaRange, format!("`{name}` {} is below the minimum {}", number_text(doc, v), limit_text(limit)), None, false)
        }
        ValidationErrorKind::MinLength { limit } => {
            let msg = if *limit == 1 {
                format!("`{name}` must not be empty")
            } else {
                format!("`{name}` is shorter than {limit} characters")
            };
            (Code::SchemaLength, msg, None, false)
        }
        ValidationErrorKind::MaxLength { limit } => {
            let len = string_len(doc, v);
            (Code::SchemaLength, format!("`{name}` is {len} characters long; the maximum is {limit}"), None, false)
        }
        ValidationErrorKind::Pattern { pattern } if pattern == NOT_BLANK => {
            if string_len(doc, v) == 0 {
                return None; // an empty string is already reported by `minLength`
            }
            (Code::SchemaBlank, format!("`{name}` must not be blank"), None, false)
        }
        ValidationErrorKind::Pattern { .. } => (
            Code::SchemaPattern,
            format!("`{name}` is not a valid persona id"),
            Some("ids are lowercase kebab-case: letters a-z, digits and single hyphens, e.g. `story-teller`".to_owned()),
            false,
        ),
        ValidationErrorKind::MaxItems { limit } => {
            (Code::SchemaItems, format!("`{name}` has more than {limit} items"), None, false)
        }
        ValidationErrorKind::MinItems { limit } => {
            (Code::SchemaItems, format!("`{name}` needs at least {limit} items"), None, false)
        }
        ValidationErrorKind::UniqueItems => {
            let mut d = duplicate_item(path, text, doc, v, sink)?;
            d.message = format!("`{name}` lists the same item twice");
            return Some(d);
        }
        ValidationErrorKind::PropertyNames { .. } => {
            // Point at the first key that is not a variable name.
            let segs: Vec<Segment<'_>> = v.path.iter().map(OwnedSegment::borrow).collect();
            let bad = doc.value_at(&segs).and_then(|t| t.as_table()).and_then(|t| {
                t.iter()
                    .map(|(k, _)| k.get_ref().to_string())
                    .find(|k| !crate::persona_file::is_var_name(k))
            });
            let mut target = v.path.clone();
            if let Some(k) = &bad {
                target.push(OwnedSegment::Key(k.clone()));
            }
            let mut d = at_in(sink, path, text, doc, &target, Code::SchemaPattern, true)?;
            d.message = format!(
                "`{}` is not a valid variable name",
                bad.map_or_else(|| name.clone(), |k| format!("{name}.{k}"))
            );
            d.hint = Some("variable names are lowercase letters, digits and `_`, starting with a letter or `_`, at most 64 characters".to_owned());
            return Some(d);
        }
        ValidationErrorKind::Enum { options } => {
            let choices: Vec<String> = options.as_array().into_iter().flatten().map(ToString::to_string).collect();
            (Code::SchemaInvalid, format!("`{name}` must be one of {}", choices.join(", ")), None, false)
        }
        other => (Code::SchemaInvalid, format!("`{name}`: {}", other.keyword()), None, false),
    };
    let mut d = at_in(sink, path, text, doc, &v.path, code, on_key)?;
    d.message = message;
    d.hint = hint;
    Some(d)
}

/// A value the schema accepts but the Rust types do not: TOML tells integers from floats
/// (`max_tokens = 512.0`), JSON Schema does not.
pub(crate) fn type_diagnostic(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> Diagnostic {
    let segs: Vec<OwnedSegment> = error
        .path()
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(OwnedSegment::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(OwnedSegment::Index(*index)),
            _ => None,
        })
        .collect();
    let name = dotted(&segs);
    let borrowed: Vec<Segment<'_>> = segs.iter().map(OwnedSegment::borrow).collect();
    let found = doc.value_at(&borrowed).map_or("nothing", toml_type_name);
    let inner = error.inner().to_string();
    let message = if inner.contains("expected u") || inner.contains("expected i") {
        format!("`{name}` must be an integer, found {found}")
    } else {
        format!("`{name}`: {inner}")
    };
    let mut d = at(path, text, doc, &segs, Code::SchemaType, false);
    d.message = message;
    d
}

fn version(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    v: &Violation,
    sink: &mut Bounded<'_>,
) -> Option<Diagnostic> {
    let mut d = at_in(sink, path, text, doc, &v.path, Code::SchemaVersion, false)?;
    d.message = format!(
        "unsupported schema_version {}; this personactl reads version {}",
        number_text(doc, v),
        crate::persona::SCHEMA_VERSION
    );
    d.hint = Some("upgrade personactl, or set `schema_version = 1`".to_owned());
    Some(d)
}

/// For a `uniqueItems` violation: point at the first item that repeats an earlier one.
fn duplicate_item(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    v: &Violation,
    sink: &mut Bounded<'_>,
) -> Option<Diagnostic> {
    let segs: Vec<Segment<'_>> = v.path.iter().map(OwnedSegment::borrow).collect();
    let mut target = v.path.clone();
    if let Some(items) = doc.value_at(&segs).and_then(|a| a.as_array()) {
        // The first repeat, in one pass (a long list must not cost the square of its length).
        let mut seen = std::collections::HashSet::new();
        if let Some(i) = items
            .iter()
            .map(|i| i.get_ref().as_str())
            .position(|s| s.is_some_and(|s| !seen.insert(s)))
        {
            target.push(OwnedSegment::Index(i));
        }
    }
    at_in(sink, path, text, doc, &target, Code::SchemaUnique, false)
}

/// [`at`], when `sink` still has room for a diagnostic of `code` (else it only counts it).
fn at_in(
    sink: &mut Bounded<'_>,
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    segs: &[OwnedSegment],
    code: Code,
    on_key: bool,
) -> Option<Diagnostic> {
    let located = doc.locate(segs.iter().map(OwnedSegment::borrow));
    let span = match located.key {
        Some(key) if on_key => key,
        _ => located.value,
    };
    sink.reserve(code, span.start)
        .then(|| Diagnostic::at(path, text, &span, code, String::new()))
}

/// A diagnostic located at `segs`: at its key when `on_key` (unknown keys), else at its value.
/// A table that lacks a key is itself the value: `[model]`, `model = {`, or the file start.
fn at(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    segs: &[OwnedSegment],
    code: Code,
    on_key: bool,
) -> Diagnostic {
    let located = doc.locate(segs.iter().map(OwnedSegment::borrow));
    let span = match located.key {
        Some(key) if on_key => key,
        _ => located.value,
    };
    Diagnostic::at(path, text, &span, code, String::new())
}

fn keys_of(path: &[OwnedSegment]) -> Vec<&str> {
    path.iter()
        .filter_map(|s| match s {
            OwnedSegment::Key(k) => Some(k.as_str()),
            OwnedSegment::Index(_) => None,
        })
        .collect()
}

/// `model.temperature`, `tags[2]`.
fn dotted(path: &[OwnedSegment]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            OwnedSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            OwnedSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The allowed key closest to `key`, when it is close enough to be a likely typo.
///
/// Keys that cannot be close (lengths or letters too different) are ruled out before the
/// edit distance is computed, so that a file of a hundred thousand unknown keys costs little.
pub(crate) fn closest(key: &str, allowed: &[String]) -> Option<String> {
    let lower = key.to_lowercase();
    let chars = lower.chars().count();
    let mut bag = None;
    allowed
        .iter()
        .filter(|a| {
            let limit = (a.len() / 3).max(1);
            // Each edit changes the length by at most one and the letter counts by at most two.
            chars.abs_diff(a.chars().count()) <= limit
                && bag_distance(
                    bag.get_or_insert_with(|| letter_bag(&lower)),
                    &letter_bag(a),
                ) <= 2 * limit
        })
        .map(|a| (strsim::damerau_levenshtein(&lower, a), a))
        .filter(|(d, a)| *d <= (a.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.clone())
}

/// How often the characters of `s` occur, in 32 buckets (characters that share a bucket
/// count as one: the distance between two bags stays a lower bound of the edit distance).
fn letter_bag(s: &str) -> [i32; 32] {
    let mut bag = [0i32; 32];
    for c in s.chars() {
        bag[(c as usize) & 31] += 1;
    }
    bag
}

fn bag_distance(a: &[i32; 32], b: &[i32; 32]) -> usize {
    let mut sum = 0;
    for i in 0..32 {
        sum += (a[i] - b[i]).unsigned_abs() as usize;
    }
    sum
}

fn expected_type(debug: &str) -> &'static str {
    let d = debug.to_lowercase();
    if d.contains("integer") {
        "an integer"
    } else if d.contains("number") {
        "a number"
    } else if d.contains("string") {
        "a string"
    } else if d.contains("boolean") {
        "a boolean (true or false)"
    } else if d.contains("array") {
        "an array"
    } else if d.contains("object") {
        "a table"
    } else {
        "another type"
    }
}

fn number_text(doc: &Document<'_>, v: &Violation) -> String {
    let segs: Vec<Segment<'_>> = v.path.iter().map(OwnedSegment::borrow).collect();
    match doc.value_at(&segs) {
        Some(toml::de::DeValue::Integer(i)) => i.to_string(),
        Some(toml::de::DeValue::Float(f)) => f.as_str().to_owned(),
        _ => "value".to_owned(),
    }
}

/// A schema limit as a person writes it: `2`, not `2.0`.
fn limit_text(limit: &Value) -> String {
    match limit.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => limit.to_string(),
    }
}

fn string_len(doc: &Document<'_>, v: &Violation) -> usize {
    let segs: Vec<Segment<'_>> = v.path.iter().map(OwnedSegment::borrow).collect();
    doc.value_at(&segs)
        .and_then(|s| s.as_str())
        .map_or(0, |s| s.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_typos_get_a_suggestion() {
        let allowed: Vec<String> = ["name", "system_prompt", "temperature"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            closest("system_promt", &allowed).as_deref(),
            Some("system_prompt")
        );
        assert_eq!(closest("Name", &allowed).as_deref(), Some("name"));
        assert_eq!(closest("colour", &allowed), None);
    }

    #[test]
    fn paths_read_like_toml_keys() {
        let p = [
            OwnedSegment::Key("model".into()),
            OwnedSegment::Key("top_p".into()),
        ];
        assert_eq!(dotted(&p), "model.top_p");
        let p = [OwnedSegment::Key("tags".into()), OwnedSegment::Index(3)];
        assert_eq!(dotted(&p), "tags[3]");
    }
}
