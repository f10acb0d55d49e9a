//! Go to definition: an `extends` value → the parent's file; `{{var}}` → the `[vars]` entry
//! that declares it, in this file or the nearest ancestor that does.

use std::path::Path;

use lsp_types::{Location, Range};

use super::docs::ancestors;
use super::outline::{Outline, placeholder_at, simple_string};
use super::positions::{Encoding, position_of};
use super::workspace::{Workspace, path_to_uri};

/// Where the thing at byte `offset` of the file at `path` is defined.
pub(crate) fn definition(
    ws: &Workspace,
    path: &Path,
    offset: usize,
    enc: Encoding,
) -> Option<Location> {
    let text = ws.text(path)?;
    let outline = Outline::parse(text);
    let entry = outline.entry_at(offset)?;
    if !entry.table.is_empty() || offset < entry.value_span.start {
        return None;
    }
    match entry.key.as_str() {
        "extends" => {
            let id = simple_string(&text[entry.value_span.clone()])?;
            let parent = ws.paths_with_id(id).next()?;
            Some(Location {
                uri: path_to_uri(parent)?,
                range: Range::default(),
            })
        }
        "system_prompt" | "greeting" => {
            let (name, _) = placeholder_at(text, &entry.value_span, offset)?;
            let declared = |t: &str, o: &Outline| {
                o.entries
                    .iter()
                    .find(|e| e.table == "vars" && e.key == name)
                    .map(|e| {
                        Range::new(
                            position_of(t, e.key_span.start, enc),
                            position_of(t, e.key_span.end, enc),
                        )
                    })
            };
            if let Some(range) = declared(text, &outline) {
                return Some(Location {
                    uri: path_to_uri(path)?,
                    range,
                });
            }
            ancestors(ws, path, text, &outline)
                .into_iter()
                .find_map(|m| {
                    let range = declared(&m.text, &m.outline)?;
                    Some(Location {
                        uri: path_to_uri(&m.path)?,
                        range,
                    })
                })
        }
        _ => None,
    }
}
