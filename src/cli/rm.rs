//! `personactl rm`: delete a persona file.

use super::{Cli, CmdResult, Failure, Outcome, print, store_failure};

/// Arguments of `rm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id.
    id: String,
    /// Delete even the default persona.
    #[arg(long)]
    force: bool,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    if args.id == cli.default_persona && !args.force {
        return Err(Failure::invalid(format!(
            "`{}` is the default persona: sessions without a persona fall back to it",
            args.id
        ))
        .hint("choose another default with --default-persona first, or pass --force"));
    }
    // With --force the store's default-persona guard is lifted for this one delete.
    let store = super::store(cli).with_default_persona(None);
    let path = store
        .delete(&args.id)
        .map_err(|e| store_failure(e, false))?;
    print(|out| writeln!(out, "removed {}", path.display()))?;
    Ok(Outcome::Success)
}
