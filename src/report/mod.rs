//! The output formats of a validation [`Report`]: human, JSON, GitHub workflow commands, SARIF.

mod github;
mod human;
mod sarif;

use std::io::{self, Write};

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::validate::Report;

pub use github::write_github;
pub use human::{write_diagnostic, write_human};
pub use sarif::{sarif_log, write_sarif};

/// The §4 JSON document: `{"ok", "files", "diagnostics"}`.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Whether no errors were found.
    pub ok: bool,
    /// How many files were checked.
    pub files: usize,
    /// Every diagnostic.
    pub diagnostics: &'a [Diagnostic],
}

/// Writes `report` as one JSON document and a newline.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_json(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let doc = JsonReport {
        ok: report.is_ok(),
        files: report.files,
        diagnostics: &report.diagnostics,
    };
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
