//! The Markdown rendering of a [`Review`], made for a pull-request comment or
//! `$GITHUB_STEP_SUMMARY`: a summary table, then one collapsible section per persona.

use std::io::{self, Write};

use super::compare::DIFFED;
use super::{PersonaChange, Review, one_line, short, whitespace_only};

/// Writes `review` as GitHub-flavoured Markdown.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_markdown(out: &mut dyn Write, review: &Review) -> io::Result<()> {
    let s = &review.summary;
    writeln!(
        out,
        "### Personas: `{}` → {}\n",
        short(&review.base),
        match review.head.as_str() {
            "worktree" => "the work tree".to_owned(),
            other => format!("`{}`", short(other)),
        }
    )?;
    writeln!(
        out,
        "| added | removed | renamed | changed | invalid | unchanged |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        s.added, s.removed, s.renamed, s.changed, s.invalid, s.unchanged
    )?;
    if review.personas.is_empty() {
        writeln!(out, "\nNo persona changed.")?;
    }
    for p in &review.personas {
        writeln!(out)?;
        write_persona(out, p)?;
    }
    Ok(())
}

fn write_persona(out: &mut dyn Write, p: &PersonaChange) -> io::Result<()> {
    let name = match &p.renamed_from {
        Some(old) => format!("<code>{}</code> → <code>{}</code>", html(old), html(&p.id)),
        None => format!("<code>{}</code>", html(&p.id)),
    };
    let via = if p.via.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = p
            .via
            .iter()
            .map(|v| format!("<code>{}</code>", html(v)))
            .collect();
        format!(" via {}", list.join(" → "))
    };
    writeln!(
        out,
        "<details><summary><b>{}</b> {name}{via}</summary>\n",
        p.status.as_str()
    )?;
    let fields: Vec<_> = p
        .fields
        .iter()
        .filter(|f| !DIFFED.contains(&f.field.as_str()))
        .collect();
    if !fields.is_empty() {
        writeln!(out, "| field | old | new |")?;
        writeln!(out, "|---|---|---|")?;
        for f in fields {
            writeln!(
                out,
                "| `{}` | {} | {} |",
                f.field,
                cell(&one_line(&f.old)),
                cell(&one_line(&f.new))
            )?;
        }
        writeln!(out)?;
    }
    for (field, diff) in &p.diff {
        let note = if whitespace_only(p, field) {
            " (whitespace only)"
        } else {
            ""
        };
        let fence = fence(diff);
        writeln!(
            out,
            "`{field}`{note}:\n\n{fence}diff\n{}{fence}\n",
            ensure_newline(diff)
        )?;
    }
    for d in &p.diagnostics {
        writeln!(
            out,
            "- `{}:{}:{}` {} `{}`: {}",
            d.path.display(),
            d.line,
            d.column,
            d.severity.as_str(),
            d.code,
            html(&d.message)
        )?;
    }
    if !p.diagnostics.is_empty() {
        writeln!(out)?;
    }
    writeln!(out, "</details>")
}

/// A code fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat(longest.max(2) + 1)
}

fn ensure_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// A value in a table cell: inline code, with `|` escaped and long values cut.
fn cell(value: &str) -> String {
    const MAX: usize = 120;
    let mut v: String = value.chars().take(MAX).collect();
    if value.chars().count() > MAX {
        v.push('…');
    }
    format!("<code>{}</code>", html(&v).replace('|', "&#124;"))
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
