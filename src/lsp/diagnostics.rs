//! `validate`'s diagnostics as LSP diagnostics: same code, message, severity and place.

use std::path::Path;

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range,
};
use serde_json::json;

use super::positions::{Encoding, range_of_column};
use super::workspace::{Workspace, path_to_uri};
use crate::{Diagnostic, Severity};

/// The name the diagnostics carry as their source.
pub(crate) const SOURCE: &str = "personactl";

/// The LSP form of `d`, whose file's text is `text` (`None`: the directory, or a file that
/// is not text). The message is `validate`'s message, followed by its hint on a line of its
/// own (`hint: …`), which is what editors show; `data.hint` carries the hint alone.
pub(crate) fn to_lsp(d: &Diagnostic, ws: &Workspace, enc: Encoding) -> lsp_types::Diagnostic {
    let width = d.snippet.as_ref().map_or(1, |s| s.width.max(1));
    let range = place(
        text_of(ws, &d.path).as_deref(),
        d.line,
        d.column,
        width,
        enc,
    );
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|r| {
            Some(DiagnosticRelatedInformation {
                location: Location {
                    uri: path_to_uri(&r.path)?,
                    range: place(text_of(ws, &r.path).as_deref(), r.line, r.column, 1, enc),
                },
                message: r.message.clone(),
            })
        })
        .collect();
    let message = match &d.hint {
        Some(hint) => format!("{}\nhint: {hint}", d.message),
        None => d.message.clone(),
    };
    lsp_types::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_owned())),
        source: Some(SOURCE.to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        data: d.hint.as_ref().map(|h| json!({ "hint": h })),
        ..lsp_types::Diagnostic::default()
    }
}

/// The text positions on `path` are counted in: the checked text, else (a file that is not
/// valid UTF-8, whose diagnostic points at the first bad byte) the file read leniently.
fn text_of<'a>(ws: &'a Workspace, path: &Path) -> Option<std::borrow::Cow<'a, str>> {
    if let Some(text) = ws.text(path) {
        return Some(text.into());
    }
    if !path.is_file() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned().into())
}

fn place(text: Option<&str>, line: usize, column: usize, width: usize, enc: Encoding) -> Range {
    // Without text (the directory itself), the place is the start.
    let (start, end) = range_of_column(text.unwrap_or(""), line, column, width, enc);
    if text.is_none() {
        return Range::default();
    }
    Range::new(start, end)
}

/// The LSP diagnostics for `path` in the latest analysis.
pub(crate) fn for_path(ws: &Workspace, path: &Path, enc: Encoding) -> Vec<lsp_types::Diagnostic> {
    ws.analysis
        .diagnostics
        .get(path)
        .map(|list| list.iter().map(|d| to_lsp(d, ws, enc)).collect())
        .unwrap_or_default()
}
