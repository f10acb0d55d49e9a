//! `personactl mv`: rename a persona, keeping the old id as an alias.

use super::{Cli, CmdResult, Outcome, print, store_failure};

/// Arguments of `mv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The current id.
    old: String,
    /// The new id (the old one is added to `aliases`, so linked sessions still resolve).
    new: String,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let path = super::store(cli)
        .rename(&args.old, &args.new)
        .map_err(|e| store_failure(e, true))?;
    print(|out| writeln!(out, "renamed {} -> {}", args.old, path.display()))?;
    Ok(Outcome::Success)
}
