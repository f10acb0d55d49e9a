//! `personactl init`: write the shipped defaults.

use std::path::PathBuf;

use super::{Cli, CmdResult, Outcome, print};

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the personas (created if missing; default: --dir).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let dir = args.dir.as_ref().unwrap_or(&cli.dir);
    let entries = personas::init(dir)?;
    print(|out| {
        for e in &entries {
            let what = if e.created {
                "created"
            } else {
                "skipped (exists)"
            };
            writeln!(out, "{what} {}", e.path.display())?;
        }
        Ok(())
    })?;
    Ok(Outcome::Success)
}
