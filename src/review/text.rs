//! The human rendering of a [`Review`]: a summary line, then each persona that is not
//! unchanged with its fields and diffs; coloured only when asked (on a terminal).

use std::io::{self, Write};

use super::compare::DIFFED;
use super::{ChangeStatus, PersonaChange, Review, one_line, short, whitespace_only};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

/// Writes `review` for people.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_human(out: &mut dyn Write, review: &Review, color: bool) -> io::Result<()> {
    let paint = |code: &'static str| if color { code } else { "" };
    let reset = paint(RESET);
    let s = &review.summary;
    writeln!(
        out,
        "{}{} → {}{}: {} added, {} removed, {} renamed, {} changed, {} invalid, {} unchanged",
        paint(BOLD),
        short(&review.base),
        short(&review.head),
        reset,
        s.added,
        s.removed,
        s.renamed,
        s.changed,
        s.invalid,
        s.unchanged
    )?;
    for p in &review.personas {
        writeln!(out)?;
        write_persona(out, p, color)?;
    }
    Ok(())
}

fn write_persona(out: &mut dyn Write, p: &PersonaChange, color: bool) -> io::Result<()> {
    let paint = |code: &'static str| if color { code } else { "" };
    let reset = paint(RESET);
    let status_color = match p.status {
        ChangeStatus::Added => GREEN,
        ChangeStatus::Removed | ChangeStatus::Invalid => RED,
        ChangeStatus::Renamed => CYAN,
        ChangeStatus::Changed => YELLOW,
    };
    write!(
        out,
        "{}{:<8}{} {}",
        paint(status_color),
        p.status.as_str(),
        reset,
        paint(BOLD)
    )?;
    match &p.renamed_from {
        Some(old) => write!(out, "{old} → {}", p.id)?,
        None => write!(out, "{}", p.id)?,
    }
    write!(out, "{reset}")?;
    if !p.via.is_empty() {
        write!(out, " (via {})", p.via.join(" → "))?;
    }
    writeln!(out)?;
    for f in p
        .fields
        .iter()
        .filter(|f| !DIFFED.contains(&f.field.as_str()))
    {
        writeln!(
            out,
            "    {}: {} → {}",
            f.field,
            one_line(&f.old),
            one_line(&f.new)
        )?;
    }
    for (field, diff) in &p.diff {
        let note = if whitespace_only(p, field) {
            " (whitespace only)"
        } else {
            ""
        };
        writeln!(out, "    {field}{note}:")?;
        for line in diff.lines() {
            let c = if line.starts_with("+++") || line.starts_with("---") {
                paint(BOLD)
            } else if line.starts_with('+') {
                paint(GREEN)
            } else if line.starts_with('-') {
                paint(RED)
            } else if line.starts_with("@@") {
                paint(CYAN)
            } else {
                ""
            };
            // Trailing whitespace is made visible: a whitespace-only change must not look empty.
            let shown = show_trailing(line);
            writeln!(
                out,
                "      {c}{shown}{}",
                if c.is_empty() { "" } else { reset }
            )?;
        }
    }
    for d in &p.diagnostics {
        crate::write_diagnostic(out, d, color)?;
    }
    Ok(())
}

/// `line` with trailing spaces and tabs shown as `·` and `→`
/// (after the diff's one-character prefix).
fn show_trailing(line: &str) -> String {
    let (prefix, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
    let body = rest.trim_end_matches([' ', '\t']);
    let tail: String = rest[body.len()..]
        .chars()
        .map(|c| if c == '\t' { '→' } else { '·' })
        .collect();
    format!("{prefix}{body}{tail}")
}
