//! `personactl completions SHELL` and `personactl man`: generated from the clap definition.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CmdResult, Outcome, print};

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: &Args) -> CmdResult {
    let mut cmd = Cli::command();
    // Generate into memory: clap_complete panics on a write error such as a closed pipe.
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "personactl", &mut text);
    print(|out| out.write_all(&text))?;
    Ok(Outcome::Success)
}

/// `personactl man`: the roff man page on standard output (`personactl man > personactl.1`).
pub fn man() -> CmdResult {
    let page = clap_mangen::Man::new(Cli::command());
    print(|out| page.render(out))?;
    Ok(Outcome::Success)
}
