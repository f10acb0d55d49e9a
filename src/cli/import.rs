//! `personactl import` and `personactl export`: Character Card V2 and Markdown agent files.

use std::path::PathBuf;

use clap::ValueEnum;
use personas::{Format, Store, check_file};

use super::{Cli, CmdResult, Failure, Outcome, print, store_failure};

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files to import: Character Card V2 JSON or PNG, or Markdown agent files (detected
    /// from the content).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The persona id.
    id: String,
    /// The target format.
    #[arg(long, value_enum)]
    to: Target,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// SillyTavern Character Card V2 JSON.
    CardV2,
    /// Markdown with YAML front matter (Claude Code subagents, VS Code custom agents).
    AgentMd,
}

pub fn import(cli: &Cli, args: &ImportArgs) -> CmdResult {
    let store = super::store(cli);
    let mut failed = 0;
    let mut io_failed = 0;
    for file in &args.files {
        match import_one(&store, file) {
            Ok(path) => {
                print(|out| writeln!(out, "imported {} -> {}", file.display(), path.display()))?
            }
            Err(f) => {
                failed += 1;
                if !f.invalid {
                    io_failed += 1;
                }
                eprintln!("error: {}: {}", file.display(), f);
            }
        }
    }
    if io_failed > 0 {
        // A file that could not be read, or a directory that cannot be written: exit 2.
        return Err(Failure::new(format!(
            "{io_failed} of {} files could not be read or written",
            args.files.len()
        )));
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Invalid
    })
}

fn import_one(store: &Store, file: &PathBuf) -> Result<PathBuf, Failure> {
    let meta = std::fs::metadata(file).map_err(|e| Failure::new(e.to_string()))?;
    if meta.len() > personas::MAX_IMPORT_BYTES as u64 {
        return Err(Failure::invalid(format!(
            "the file is {} bytes; imports are limited to {} bytes",
            meta.len(),
            personas::MAX_IMPORT_BYTES
        )));
    }
    // The size on disk may lie (a pipe, `/dev/zero`): never read past the limit.
    let file_reader = std::fs::File::open(file).map_err(|e| Failure::new(e.to_string()))?;
    let bytes = super::read::capped(
        file_reader,
        personas::MAX_IMPORT_BYTES as u64,
        "the file (imports are limited)",
    )?;
    let imported = personas::import(&bytes).map_err(|e| Failure::invalid(e.to_string()))?;
    // De-duplicate the derived id against what exists: name, name-2, name-3, …
    let mut id = imported.id.clone();
    let mut n = 2;
    while store
        .path_of(&id)
        .map_err(|e| store_failure(e, false))?
        .is_some()
    {
        let suffix = format!("-{n}");
        let mut base = imported.id.clone();
        base.truncate(personas::ID_MAX_LEN - suffix.len());
        id = format!("{}{suffix}", base.trim_end_matches('-'));
        n += 1;
    }
    store
        .create(&id, &imported.persona)
        .map_err(|e| store_failure(e, false))
}

pub fn export(cli: &Cli, args: &ExportArgs) -> CmdResult {
    let store = super::store(cli);
    let path = store
        .path_of(&args.id)
        .map_err(|e| store_failure(e, false))?
        .ok_or_else(|| Failure::invalid(format!("no persona `{}`", args.id)))?;
    // A file with `extends` is exported resolved (its family applied).
    let resolved = || {
        personas::Catalog::load(&cli.dir)
            .ok()
            .and_then(|c| c.find(&args.id).map(|e| (*e.persona).clone()))
    };
    let persona = check_file(&path).persona.or_else(resolved).ok_or_else(|| {
        Failure::invalid(format!(
            "persona `{}` is invalid; run `personactl validate`",
            args.id
        ))
    })?;
    let format = match args.to {
        Target::CardV2 => Format::CardV2,
        Target::AgentMd => Format::AgentMd,
    };
    let text = personas::export(&persona, format);
    match &args.output {
        Some(file) => std::fs::write(file, text)
            .map_err(|e| Failure::new(format!("{}: {e}", file.display())))?,
        None => print(|out| out.write_all(text.as_bytes()))?,
    }
    Ok(Outcome::Success)
}
