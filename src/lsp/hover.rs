//! Hover: a key's documentation; on `extends`, the parent; on `system_prompt`, the prompt as
//! the model receives it.

use std::fmt::Write as _;
use std::path::Path;

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind, Range};

use super::completion::variables;
use super::docs::key_doc;
use super::outline::{Outline, placeholder_at, simple_string};
use super::positions::{Encoding, position_of};
use super::workspace::Workspace;
use crate::{Persona, Vars};

/// How many lines of the rendered prompt a hover shows.
const PROMPT_LINES: usize = 20;

/// The hover at byte `offset` of the file at `path`.
pub(crate) fn hover(ws: &Workspace, path: &Path, offset: usize, enc: Encoding) -> Option<Hover> {
    let text = ws.text(path)?;
    let outline = Outline::parse(text);
    let reply = |value: String, span: &std::ops::Range<usize>| Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: Some(Range::new(
            position_of(text, span.start, enc),
            position_of(text, span.end, enc),
        )),
    };
    if let Some(h) = outline.header_at(offset) {
        return key_doc("", &h.name)
            .map(|doc| reply(format!("**[{}]**\n\n{doc}", h.name), &h.name_span));
    }
    let entry = outline.entry_at(offset)?;
    let on_key = offset <= entry.key_span.end;
    let top = entry.table.is_empty();
    if !on_key && top && entry.key == "extends" {
        let id = simple_string(&text[entry.value_span.clone()])?;
        return Some(reply(parent_card(ws, id), &entry.value_span));
    }
    if !on_key
        && top
        && matches!(entry.key.as_str(), "system_prompt" | "greeting")
        && let Some((name, span)) = placeholder_at(text, &entry.value_span, offset)
    {
        let scope = variables(ws, path, text, &outline, entry.key == "system_prompt");
        let detail = scope.into_iter().find(|(n, _)| *n == name).map_or_else(
            || "not declared: add it under `[vars]`".to_owned(),
            |(_, d)| d,
        );
        return Some(reply(format!("`{{{{{name}}}}}`: {detail}"), &span));
    }
    let mut value = String::new();
    if on_key && let Some(doc) = key_doc(&entry.table, &entry.key) {
        let _ = write!(value, "**{}**\n\n{doc}", entry.key);
    }
    if top && entry.key == "system_prompt" {
        if !value.is_empty() {
            value.push_str("\n\n---\n\n");
        }
        value.push_str(&rendered_prompt(ws, path));
    }
    let span = if on_key {
        &entry.key_span
    } else {
        &entry.value_span
    };
    (!value.is_empty()).then(|| reply(value, span))
}

/// The parent's name, description and file.
fn parent_card(ws: &Workspace, id: &str) -> String {
    let file = ws.paths_with_id(id).next();
    match (ws.analysis.catalog.entries.get(id), file) {
        (Some(e), _) => format!(
            "{} **{}** (`{id}`)\n\n{}\n\nfile: `{}`",
            e.persona.icon,
            e.persona.name,
            e.persona.description,
            e.path.display()
        ),
        (None, Some(p)) => format!("`{id}`: {} (not valid: see its diagnostics)", p.display()),
        (None, None) => format!("no persona `{id}` in {}", ws.dir.display()),
    }
}

/// The file's persona, resolved, with its prompt rendered with today's date and the defaults.
fn rendered_prompt(ws: &Workspace, path: &Path) -> String {
    let Some(entry) = ws
        .analysis
        .catalog
        .entries
        .values()
        .find(|e| e.path == path)
    else {
        return "The rendered prompt shows once the persona and its family are valid.".to_owned();
    };
    let persona: &Persona = &entry.persona;
    let mut vars = Vars::today();
    if !persona.vars.contains_key("user_name") {
        // Shown as a placeholder: the caller supplies it.
        vars.set("user_name", "{{user_name}}");
    }
    let rendered = match persona.render(&vars) {
        Ok(r) => r.system_prompt,
        Err(e) => return format!("The prompt does not render: {e}"),
    };
    let lines: Vec<&str> = rendered.lines().collect();
    let mut out = format!(
        "**Rendered prompt** ({} lines, {} characters)\n\n```text\n",
        lines.len(),
        rendered.chars().count()
    );
    for line in lines.iter().take(PROMPT_LINES) {
        out.push_str(line);
        out.push('\n');
    }
    if lines.len() > PROMPT_LINES {
        out.push_str("…\n");
    }
    out.push_str("```");
    // The count `list`, `show` and the HTTP API give (variables at their defaults, the date
    // fixed), so that the editor and CI agree on a budget.
    let counts = crate::tokens::count_tokens(persona);
    out.push_str(&format!(
        "\n\n**Tokens**: {} ({})",
        counts.system_prompt, counts.tokenizer
    ));
    if let Some(max) = persona.model.as_ref().and_then(|m| m.max_prompt_tokens) {
        out.push_str(&format!(" of a budget of {max}"));
    }
    out
}
