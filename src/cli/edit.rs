//! `personactl edit`: open `$EDITOR` on a copy, validate on save, re-open with the problems on
//! top while it is invalid (like `kubectl edit`). An invalid file is never written.

use std::path::Path;
use std::process::Command;

use personas::check_text;

use super::{Cli, CmdResult, Failure, Outcome, print, store_failure};

/// Every line of the comment block that lists the problems of an invalid edit starts with
/// this; the block is removed before the text is validated or written.
const BLOCK: &str = "#| ";

/// Arguments of `edit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id.
    id: String,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let store = super::store(cli);
    let path = store
        .path_of(&args.id)
        .map_err(|e| store_failure(e, false))?
        .ok_or_else(|| Failure::invalid(format!("no persona `{}`", args.id)))?;
    let original = super::read::file_text(&path, super::read::MAX_TEXT_BYTES)?;
    // Before the editor opens: a folder that cannot be written would lose the whole edit.
    let folder = path.parent().unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".personactl-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(|e| {
            Failure::new(format!(
                "{} cannot be written ({e}); not opening the editor",
                folder.display()
            ))
        })?;
    let scratch = tempfile::tempdir()?;
    let copy = scratch.path().join(format!("{}.toml", args.id));
    std::fs::write(&copy, &original)?;
    let mut last_invalid: Option<String> = None;
    loop {
        open_editor(&copy)?;
        let text = strip_block(&super::read::file_text(&copy, super::read::MAX_TEXT_BYTES)?);
        if text.trim().is_empty() {
            return Err(Failure::invalid(
                "edit cancelled: the file was emptied; nothing written",
            ));
        }
        if text == original {
            print(|out| writeln!(out, "no changes to {}", path.display()))?;
            return Ok(Outcome::Success);
        }
        if last_invalid.as_deref() == Some(text.as_str()) {
            return Err(Failure::invalid(format!(
                "edit cancelled: saved again without fixing the problems; {} is unchanged",
                path.display()
            )));
        }
        let checked = check_text(&path, &text);
        if checked.is_valid() {
            // Only over the text the editor started from: a change made meanwhile (a `set`,
            // another editor) is never overwritten; the edit is kept for the user.
            match store.write_text_if_unchanged(&args.id, &text, &original) {
                Ok(_) => {}
                Err(personas::StoreError::Changed { path }) => {
                    let kept = scratch.keep().join(format!("{}.toml", args.id));
                    std::fs::write(&kept, &text)?;
                    return Err(Failure::invalid(format!(
                        "{} changed while the editor was open (another command or editor wrote it); nothing written. Your edit is kept in {}",
                        path.display(),
                        kept.display()
                    )));
                }
                Err(e) => return Err(store_failure(e, true)),
            }
            print(|out| writeln!(out, "updated {}", path.display()))?;
            return Ok(Outcome::Success);
        }
        // Line numbers as the user will see them: below the block.
        let shift = checked.diagnostics.len() + 2;
        let mut block = format!(
            "{BLOCK}This edit is not valid and was not saved. Fix it and save, or empty the file to cancel.\n{BLOCK}Problems (lines as in this file; these lines are removed when you save):\n"
        );
        for d in &checked.diagnostics {
            block.push_str(&format!(
                "{BLOCK}  line {}, column {}: error[{}]: {}\n",
                d.line + shift,
                d.column,
                d.code,
                d.message
            ));
        }
        std::fs::write(&copy, format!("{block}{text}"))?;
        last_invalid = Some(text);
    }
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi`, on `file` through the shell (so `code --wait`
/// works), and waits for it.
fn open_editor(file: &Path) -> Result<(), Failure> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_owned());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("personactl-edit")
        .arg(file)
        .status()
        .map_err(|e| Failure::new(format!("cannot run the editor `{editor}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "the editor `{editor}` failed ({status}); nothing written"
        )))
    }
}

fn strip_block(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with(BLOCK) {
        rest = rest.find('\n').map_or("", |i| &rest[i + 1..]);
    }
    rest.to_owned()
}
