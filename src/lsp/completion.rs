//! Completion: keys for the table under the cursor, persona ids in `extends` and `aliases`,
//! variables after `{{`.

use std::collections::BTreeSet;
use std::path::Path;

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, MarkupContent,
    MarkupKind, Range, TextEdit,
};

use super::docs::{BUILT_INS, ancestors, extends_of, keys_of};
use super::outline::{Outline, open_placeholder};
use super::positions::{Encoding, position_of};
use super::workspace::Workspace;

/// The completions at byte `offset` of the file at `path`.
pub(crate) fn complete(
    ws: &Workspace,
    path: &Path,
    offset: usize,
    enc: Encoding,
) -> Vec<CompletionItem> {
    let Some(text) = ws.text(path) else {
        return Vec::new();
    };
    let outline = Outline::parse(text);
    let edit = |start: usize, new_text: String| {
        Some(CompletionTextEdit::Edit(TextEdit {
            range: Range::new(
                position_of(text, start, enc),
                position_of(text, offset, enc),
            ),
            new_text,
        }))
    };
    if let Some(entry) = outline.entry_at(offset)
        && entry.value_span.start <= offset
        && entry.table.is_empty()
    {
        let word_start = word_start(text, offset, |c| c.is_ascii_alphanumeric() || c == '-');
        let in_quotes = text[entry.value_span.start..word_start].ends_with(['"', '\'']);
        return match entry.key.as_str() {
            "extends" if in_quotes => ids(ws, path, &ws.ids())
                .map(|(id, detail)| {
                    item(
                        &id,
                        CompletionItemKind::REFERENCE,
                        detail,
                        edit(word_start, id.clone()),
                    )
                })
                .collect(),
            "aliases" if in_quotes => ids(ws, path, &dangling(ws))
                .map(|(id, _)| {
                    item(
                        &id,
                        CompletionItemKind::REFERENCE,
                        "an id another persona extends, but no file defines".into(),
                        edit(word_start, id.clone()),
                    )
                })
                .collect(),
            "system_prompt" | "greeting" => match open_placeholder(text, &entry.value_span, offset)
            {
                Some(start) => {
                    let closed = text[offset..]
                        .trim_start_matches([' ', '\t'])
                        .starts_with("}}");
                    variables(ws, path, text, &outline, entry.key == "system_prompt")
                        .into_iter()
                        .map(|(name, detail)| {
                            let insert = if closed {
                                name.clone()
                            } else {
                                format!("{name}}}}}")
                            };
                            item(
                                &name,
                                CompletionItemKind::VARIABLE,
                                detail,
                                edit(start, insert),
                            )
                        })
                        .collect()
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let word_start = word_start(text, offset, |c| c.is_ascii_alphanumeric() || c == '_');
    if let Some(inside) = before.trim_start().strip_prefix('[') {
        if !inside
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '[')
        {
            return Vec::new();
        }
        return keys_of("")
            .into_iter()
            .filter(|k| k.kind.as_deref() == Some("object") && !outline.has_table(&k.key))
            .map(|k| {
                documented(
                    item(
                        &k.key,
                        CompletionItemKind::MODULE,
                        k.kind.unwrap_or_default(),
                        edit(word_start, k.key.clone()),
                    ),
                    &k.description,
                )
            })
            .collect();
    }
    if !text[line_start..word_start].trim().is_empty() {
        return Vec::new();
    }
    let table = outline.table_at(offset);
    let present: BTreeSet<&str> = outline.keys_in(table).collect();
    if table == "vars" {
        let inherited: BTreeSet<String> = ancestors(ws, path, text, &outline)
            .iter()
            .flat_map(|m| {
                m.outline
                    .keys_in("vars")
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        return undeclared(text, &outline)
            .into_iter()
            .filter(|name| !inherited.contains(name))
            .chain(std::iter::once("user_name".to_owned()))
            .filter(|name| !present.contains(name.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|name| {
                item(
                    &name,
                    CompletionItemKind::VARIABLE,
                    "a variable the prompt uses".into(),
                    edit(word_start, format!("{name} = ")),
                )
            })
            .collect();
    }
    keys_of(table)
        .into_iter()
        .filter(|k| !present.contains(k.key.as_str()))
        // Tables go under their own `[header]`, not between the top-level keys.
        .filter(|k| {
            !(table.is_empty()
                && (k.kind.as_deref() == Some("object") || outline.has_table(&k.key)))
        })
        .map(|k| {
            let insert = format!("{} = ", k.key);
            documented(
                item(
                    &k.key,
                    CompletionItemKind::PROPERTY,
                    k.kind.unwrap_or_default(),
                    edit(word_start, insert),
                ),
                &k.description,
            )
        })
        .collect()
}

fn word_start(text: &str, offset: usize, word: impl Fn(char) -> bool) -> usize {
    text[..offset]
        .rfind(|c: char| !word(c))
        .map_or(0, |i| i + 1)
}

fn item(
    label: &str,
    kind: CompletionItemKind,
    detail: String,
    text_edit: Option<CompletionTextEdit>,
) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail: (!detail.is_empty()).then_some(detail),
        text_edit,
        ..CompletionItem::default()
    }
}

fn documented(mut item: CompletionItem, doc: &str) -> CompletionItem {
    item.documentation = Some(Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: doc.to_owned(),
    }));
    item
}

/// The ids offered, except the file's own, with the persona's name when it is loaded.
fn ids<'a>(
    ws: &'a Workspace,
    path: &Path,
    ids: &'a [String],
) -> impl Iterator<Item = (String, String)> + 'a {
    let own = crate::stem_id(path);
    ids.iter()
        .filter(move |id| Some(*id) != own.as_ref())
        .map(|id| {
            let detail = ws.analysis.catalog.entries.get(id).map(|e| {
                format!(
                    "{} {} — {}",
                    e.persona.icon, e.persona.name, e.persona.description
                )
            });
            (id.clone(), detail.unwrap_or_default())
        })
}

/// Ids that some file extends but no file defines: what a renamed persona keeps as an alias.
fn dangling(ws: &Workspace) -> Vec<String> {
    let defined: BTreeSet<String> = ws.ids().into_iter().collect();
    let mut out = BTreeSet::new();
    for id in &defined {
        for p in ws.paths_with_id(id) {
            let Some(t) = ws.text(p) else { continue };
            if let Some(parent) = extends_of(t, &Outline::parse(t))
                && !defined.contains(parent)
            {
                out.insert(parent.to_owned());
            }
        }
    }
    out.into_iter().collect()
}

/// The variables in scope in a prompt: own `[vars]`, the ancestors', the built-ins, and
/// `parent` in the `system_prompt` of a persona with `extends`.
pub(crate) fn variables(
    ws: &Workspace,
    path: &Path,
    text: &str,
    outline: &Outline,
    system_prompt: bool,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, detail: String| {
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name.to_owned(), detail));
        }
    };
    for e in outline.entries.iter().filter(|e| e.table == "vars") {
        push(
            &e.key,
            format!("[vars] default {}", &text[e.value_span.clone()]),
        );
    }
    for m in ancestors(ws, path, text, outline) {
        let file = m
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for e in m.outline.entries.iter().filter(|e| e.table == "vars") {
            push(
                &e.key,
                format!(
                    "[vars] of {file}: default {}",
                    &m.text[e.value_span.clone()]
                ),
            );
        }
    }
    for (name, detail) in BUILT_INS {
        push(name, detail.to_owned());
    }
    if system_prompt && extends_of(text, outline).is_some() {
        push("parent", "built-in: the parent's system prompt".to_owned());
    }
    out
}

/// Names used as `{{name}}` in the prompts but not declared in `[vars]`.
fn undeclared(text: &str, outline: &Outline) -> Vec<String> {
    let declared: BTreeSet<&str> = outline.keys_in("vars").collect();
    let mut out = Vec::new();
    for key in ["system_prompt", "greeting"] {
        let Some(e) = outline.entry("", key) else {
            continue;
        };
        let v = &text[e.value_span.clone()];
        let mut rest = v;
        while let Some(i) = rest.find("{{") {
            rest = &rest[i + 2..];
            if rest.starts_with("{{") {
                rest = &rest[2..];
                continue;
            }
            if let Some(close) = rest.find("}}") {
                let name = rest[..close].trim();
                let builtin = BUILT_INS.iter().any(|(b, _)| *b == name) || name == "parent";
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && !builtin
                    && !declared.contains(name)
                {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}
