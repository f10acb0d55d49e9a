//! [`explain`]: where each field of a resolved persona comes from (file, line, own or
//! inherited through which parents).

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;
use toml::de::DeValue;

use crate::catalog::{Catalog, Entry};
use crate::document::{Document, Segment};
use crate::load::read_source;
use crate::persona_file::{Inheritance, inheritance};
use crate::placeholders::scan;
use crate::source::position;

/// One link of a persona's family: the persona itself first, then its parent, and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ancestor {
    /// The persona id.
    pub id: String,
    /// Its file.
    #[serde(serialize_with = "crate::events::lossy")]
    pub path: PathBuf,
}

/// Where one final field was set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    /// The field, dotted for keys of merged tables: `name`, `model.temperature`, `vars.tone`.
    pub key: String,
    /// The final value.
    pub value: Value,
    /// The persona whose file sets it.
    pub from: String,
    /// That file.
    #[serde(serialize_with = "crate::events::lossy")]
    pub path: PathBuf,
    /// 1-based line of the key in that file.
    pub line: usize,
    /// 1-based column of the key.
    pub column: usize,
    /// Whether the persona's own file sets it (`false`: inherited).
    pub own: bool,
    /// The personas between this one and `from`, nearest first (empty for a direct parent).
    pub through: Vec<String>,
    /// For `system_prompt`: the ancestors whose prompts it includes with `{{parent}}`,
    /// nearest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
}

/// Every field of a resolved persona and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The persona id.
    pub id: String,
    /// The family, the persona itself first.
    pub chain: Vec<Ancestor>,
    /// The fields, in the persona's key order.
    pub fields: Vec<Origin>,
    /// What the rendered system prompt and greeting cost, in tokens.
    pub tokens: crate::tokens::TokenCounts,
}

struct Link {
    id: String,
    path: PathBuf,
    text: String,
}

/// Explains the resolved persona `id` of `catalog` (by id or alias). `None` when the
/// catalog has no such persona, or a file of its family can no longer be read.
#[must_use]
pub fn explain(catalog: &Catalog, id: &str) -> Option<Explanation> {
    let entry = catalog.find(id)?;
    let mut links: Vec<Link> = Vec::new();
    let mut next: Option<&Entry> = Some(entry);
    while let Some(e) = next {
        if links.iter().any(|l| l.id == e.id) {
            break; // a cycle cannot resolve; guards against a file changed since the load
        }
        let text = read_source(&e.path).ok()?;
        let parent = Document::parse(&text).ok().and_then(|doc| {
            doc.root()
                .get("extends")
                .and_then(|v| v.get_ref().as_str().map(str::to_owned))
        });
        links.push(Link {
            id: e.id.clone(),
            path: e.path.clone(),
            text,
        });
        next = parent.and_then(|p| catalog.entries.get(&p));
    }
    let docs: Vec<Document<'_>> = links
        .iter()
        .map(|l| Document::parse(&l.text).ok())
        .collect::<Option<_>>()?;
    let final_value = serde_json::to_value(&*entry.persona).ok()?;
    let mut fields = Vec::new();
    for (key, value) in final_value.as_object()? {
        let nested = inheritance(key) == Inheritance::Merge;
        let subkeys: Vec<(Option<&String>, &Value)> = match value.as_object() {
            Some(table) if nested => table.iter().map(|(k, v)| (Some(k), v)).collect(),
            _ => vec![(None, value)],
        };
        for (sub, v) in subkeys {
            let path: Vec<Segment<'_>> = std::iter::once(Segment::Key(key))
                .chain(sub.map(|s| Segment::Key(s)))
                .collect();
            let depth = if inheritance(key) == Inheritance::Own {
                1
            } else {
                links.len()
            };
            let Some(at) =
                (0..depth).find(|&i| docs[i].locate(path.iter().copied()).depth == path.len())
            else {
                continue;
            };
            let located = docs[at].locate(path.iter().copied());
            let p = position(&links[at].text, located.key.unwrap_or(located.value).start);
            let includes = if key == "system_prompt" {
                includes_parents(&docs[at..], &links[at..])
            } else {
                Vec::new()
            };
            fields.push(Origin {
                key: sub.map_or_else(|| key.clone(), |s| format!("{key}.{s}")),
                value: v.clone(),
                from: links[at].id.clone(),
                path: links[at].path.clone(),
                line: p.line,
                column: p.column,
                own: at == 0,
                through: links[1..at.max(1)].iter().map(|l| l.id.clone()).collect(),
                includes,
            });
        }
    }
    Some(Explanation {
        tokens: crate::tokens::count_tokens(&entry.persona),
        id: entry.id.clone(),
        chain: links
            .iter()
            .map(|l| Ancestor {
                id: l.id.clone(),
                path: l.path.clone(),
            })
            .collect(),
        fields,
    })
}

/// The ancestors whose prompts a `system_prompt` pulls in through `{{parent}}`, level by
/// level: each includes the prompt of the nearest ancestor above it that sets one.
fn includes_parents(docs: &[Document<'_>], links: &[Link]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let uses_parent = docs[i]
            .root()
            .get("system_prompt")
            .and_then(|v| match v.get_ref() {
                DeValue::String(s) => Some(scan(s).iter().any(|t| t.name() == Some("parent"))),
                _ => None,
            })
            .unwrap_or(false);
        if !uses_parent {
            return out;
        }
        let Some(j) = (i + 1..docs.len()).find(|&j| docs[j].root().get("system_prompt").is_some())
        else {
            return out;
        };
        out.push(links[j].id.clone());
        i = j;
    }
}
