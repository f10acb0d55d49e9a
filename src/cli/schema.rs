//! `personactl schema`: print, write or check the generated JSON Schema.

use std::path::PathBuf;

use super::{Cli, CmdResult, Failure, Outcome, print};

/// Arguments of `schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rewrite the schema file (DIR/../schema/persona.schema.json, where `#:schema` points).
    #[arg(long, conflicts_with = "check")]
    write: bool,

    /// Exit 1 when the schema file differs from what this build generates.
    #[arg(long)]
    check: bool,
}

/// The schema file that belongs to a personas directory: where its `#:schema` lines point.
fn schema_path(cli: &Cli) -> PathBuf {
    cli.dir.join(personas::SCHEMA_RELATIVE_PATH)
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let text = personas::schema_text();
    let path = schema_path(cli);
    if args.write {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::new(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, &text)
            .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
        return Ok(Outcome::Success);
    }
    if args.check {
        return match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == text => {
                eprintln!("{} is up to date", path.display());
                Ok(Outcome::Success)
            }
            Ok(_) => {
                eprintln!(
                    "{} is stale: run `personactl schema --write`",
                    path.display()
                );
                Ok(Outcome::Invalid)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "{} is missing: run `personactl schema --write`",
                    path.display()
                );
                Ok(Outcome::Invalid)
            }
            Err(e) => Err(Failure::new(format!("{}: {e}", path.display()))),
        };
    }
    print(|out| out.write_all(text.as_bytes()))?;
    Ok(Outcome::Success)
}
