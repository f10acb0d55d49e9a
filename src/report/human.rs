//! Compiler-style diagnostics: `path:line:col: error[code]: message`, the line, a caret, a hint.

use std::io::{self, Write};

use crate::diagnostic::{Diagnostic, Severity};
use crate::validate::Report;

use super::plural;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const CYAN: &str = "\x1b[1;36m";

struct Paint {
    on: bool,
}

impl Paint {
    fn p<'a>(&self, style: &'a str) -> &'a str {
        if self.on { style } else { "" }
    }
}

/// Writes every diagnostic of `report`, then the closing summary
/// (`N files checked, M errors in K files`). `color` adds ANSI colours.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_human(out: &mut dyn Write, report: &Report, color: bool) -> io::Result<()> {
    for d in &report.diagnostics {
        write_diagnostic(out, d, color)?;
        writeln!(out)?;
    }
    let errors = report.error_count();
    let warnings = report.diagnostics.len() - errors;
    write!(
        out,
        "{}, {} in {}",
        plural(report.files, "file checked", "files checked"),
        plural(errors, "error", "errors"),
        plural(report.files_with_errors(), "file", "files"),
    )?;
    if warnings > 0 {
        write!(out, ", {}", plural(warnings, "warning", "warnings"))?;
    }
    writeln!(out)
}

/// Writes one diagnostic: the heading line, the source line with a caret, related places and
/// the hint.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_diagnostic(out: &mut dyn Write, d: &Diagnostic, color: bool) -> io::Result<()> {
    let c = Paint { on: color };
    let (label, style) = match d.severity {
        Severity::Error => ("error", RED),
        Severity::Warning => ("warning", YELLOW),
    };
    writeln!(
        out,
        "{}{}:{}:{}{}: {}{label}[{}]{}: {}{}{}",
        c.p(BOLD),
        d.path.display(),
        d.line,
        d.column,
        c.p(RESET),
        c.p(style),
        d.code,
        c.p(RESET),
        c.p(BOLD),
        d.message,
        c.p(RESET),
    )?;
    let gutter = d.line.to_string().len();
    let pad = " ".repeat(gutter);
    if let Some(snippet) = &d.snippet {
        let mut line = snippet.line_text.replace('\t', " ");
        let mut lead_chars = d.column.saturating_sub(1 + snippet.omitted_before);
        if snippet.omitted_before > 0 {
            line.insert(0, '…');
            lead_chars += 1;
        }
        let lead: String = line.chars().take(lead_chars).map(|_| ' ').collect();
        writeln!(out, "{pad} {}|{}", c.p(BLUE), c.p(RESET))?;
        writeln!(out, "{}{} |{} {line}", c.p(BLUE), d.line, c.p(RESET))?;
        writeln!(
            out,
            "{pad} {}|{} {lead}{}{}{}",
            c.p(BLUE),
            c.p(RESET),
            c.p(style),
            "^".repeat(snippet.width),
            c.p(RESET)
        )?;
    }
    for r in &d.related {
        writeln!(
            out,
            "{pad} {}={} note: {}: {}:{}:{}",
            c.p(BLUE),
            c.p(RESET),
            r.message,
            r.path.display(),
            r.line,
            r.column
        )?;
    }
    if let Some(hint) = &d.hint {
        writeln!(
            out,
            "{pad} {}={} {}hint{}: {hint}",
            c.p(BLUE),
            c.p(RESET),
            c.p(CYAN),
            c.p(RESET)
        )?;
    }
    Ok(())
}
