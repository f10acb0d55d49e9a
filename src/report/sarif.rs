//! SARIF 2.1.0, for GitHub code scanning and other static-analysis dashboards.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::diagnostic::{Code, Severity};
use crate::validate::Report;

/// The SARIF 2.1.0 log of `report` as a JSON value: one run, one rule per code, one result
/// per diagnostic. Relative paths are relative to `%SRCROOT%` (the repository root in CI).
#[must_use]
pub fn sarif_log(report: &Report) -> Value {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": {"text": c.description()},
                "defaultConfiguration": {"level": "error"},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(hint) = &d.hint {
                text.push_str(" (hint: ");
                text.push_str(hint);
                text.push(')');
            }
            let mut artifact = json!({"uri": uri(&d.path)});
            if d.path.is_relative() {
                artifact["uriBaseId"] = json!("%SRCROOT%");
            }
            json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0),
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": {"startLine": d.line.max(1), "startColumn": d.column.max(1)},
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "personactl",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

/// Writes the SARIF log of `report`, pretty-printed.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_sarif(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &sarif_log(report))?;
    writeln!(out)
}

/// A relative URI reference with forward slashes and percent-encoding for the few characters
/// that cannot stand in one; absolute paths become `file://` URIs.
fn uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.strip_prefix("./").unwrap_or(&text).to_owned();
    let mut encoded = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            ' ' => encoded.push_str("%20"),
            '%' => encoded.push_str("%25"),
            '#' => encoded.push_str("%23"),
            '?' => encoded.push_str("%3F"),
            _ => encoded.push(ch),
        }
    }
    if path.is_absolute() {
        format!("file://{encoded}")
    } else {
        encoded
    }
}
