//! `personactl set`: change one key of a persona in place.

use super::{Cli, CmdResult, Failure, Outcome, print, store_failure};

/// Arguments of `set`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id.
    id: String,
    /// The key, dotted for tables: `name`, `model.temperature`, `extensions.ui.accent`.
    key: String,
    /// The value: strings as written; numbers, booleans and lists (`["a", "b"]`) as TOML.
    #[arg(required_unless_present = "unset", allow_hyphen_values = true)]
    value: Option<String>,
    /// Remove the key instead.
    #[arg(long, conflicts_with = "value")]
    unset: bool,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let store = super::store(cli);
    let result = match (&args.value, args.unset) {
        (_, true) => store.unset(&args.id, &args.key),
        (Some(value), false) => store.set(&args.id, &args.key, value),
        (None, false) => return Err(Failure::new("a VALUE is required (or --unset)")),
    };
    let path = result.map_err(|e| store_failure(e, true))?;
    print(|out| writeln!(out, "updated {}", path.display()))?;
    Ok(Outcome::Success)
}
