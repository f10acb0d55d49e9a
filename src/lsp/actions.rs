//! Code actions: apply an unknown key's "did you mean" hint; add the `#:schema` line.

use std::collections::HashMap;
use std::path::Path;

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Position, Range, TextEdit, WorkspaceEdit,
};

use super::diagnostics::to_lsp;
use super::positions::Encoding;
use super::workspace::{Workspace, path_to_uri};
use crate::{Code, SCHEMA_HEADER};

/// The code actions for `range` of the file at `path`.
pub(crate) fn actions(
    ws: &Workspace,
    path: &Path,
    range: Range,
    enc: Encoding,
) -> Vec<CodeActionOrCommand> {
    let (Some(text), Some(uri)) = (ws.text(path), path_to_uri(path)) else {
        return Vec::new();
    };
    let edit = |range: Range, new_text: String| WorkspaceEdit {
        changes: Some(HashMap::from([(
            uri.clone(),
            vec![TextEdit { range, new_text }],
        )])),
        ..WorkspaceEdit::default()
    };
    let mut out = Vec::new();
    for d in ws.analysis.diagnostics.get(path).into_iter().flatten() {
        if d.code != Code::SchemaUnknownKey {
            continue;
        }
        let Some(suggestion) = d.hint.as_deref().and_then(meant) else {
            continue;
        };
        let lsp = to_lsp(d, ws, enc);
        if !overlaps(lsp.range, range) {
            continue;
        }
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("Replace with `{suggestion}`"),
            kind: Some(CodeActionKind::QUICKFIX),
            edit: Some(edit(lsp.range, suggestion.to_owned())),
            diagnostics: Some(vec![lsp]),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    if !text.lines().any(|l| l.starts_with("#:schema")) {
        let header = schema_header(&ws.dir, path);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: "Add the `#:schema` line".to_owned(),
            kind: Some(CodeActionKind::SOURCE),
            edit: Some(edit(
                Range::new(Position::new(0, 0), Position::new(0, 0)),
                format!("{header}\n"),
            )),
            ..CodeAction::default()
        }));
    }
    out
}

/// `did you mean `x`?` → `x`.
fn meant(hint: &str) -> Option<&str> {
    hint.strip_prefix("did you mean `")?.strip_suffix("`?")
}

/// The `#:schema` line for a file: the schema beside the personas directory, relative to the
/// file's own folder (as `personactl new` writes it).
fn schema_header(dir: &Path, path: &Path) -> String {
    let depth = path
        .parent()
        .and_then(|p| p.strip_prefix(dir).ok())
        .map_or(0, |rel| rel.components().count());
    SCHEMA_HEADER.replacen("../", &"../".repeat(depth + 1), 1)
}

fn overlaps(a: Range, b: Range) -> bool {
    a.start <= b.end && b.start <= a.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_line_climbs_out_of_sub_folders() {
        let dir = Path::new("/p/personas");
        assert_eq!(schema_header(dir, &dir.join("a.toml")), SCHEMA_HEADER);
        assert_eq!(
            schema_header(dir, &dir.join("x/y/a.toml")),
            "#:schema ../../../schema/persona.schema.json"
        );
    }

    #[test]
    fn the_hint_names_the_key() {
        assert_eq!(
            meant("did you mean `system_prompt`?"),
            Some("system_prompt")
        );
        assert_eq!(meant("allowed keys here: a, b"), None);
    }
}
