//! `personactl lsp`: the language server for editors, over stdio.

use clap::CommandFactory;
use clap::parser::ValueSource;
use personas::lsp::{LspError, LspOptions, serve_stdio};

use super::{Cli, CmdResult, Failure, Outcome};

/// Arguments of `lsp`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _args: &Args) -> CmdResult {
    // `--dir` has a default; only a directory given explicitly (flag or PERSONAS_DIR)
    // overrides the one found from the editor's workspace folder.
    let explicit = Cli::command()
        .try_get_matches_from(std::env::args_os())
        .ok()
        .and_then(|m| m.value_source("dir"))
        .is_some_and(|s| matches!(s, ValueSource::CommandLine | ValueSource::EnvVariable));
    let dir = explicit.then(|| std::path::absolute(&cli.dir).unwrap_or_else(|_| cli.dir.clone()));
    let options = LspOptions {
        dir,
        default_persona: Some(cli.default_persona.clone()),
    };
    match serve_stdio(options) {
        Ok(()) => Ok(Outcome::Success),
        Err(LspError::ExitWithoutShutdown) => Ok(Outcome::Invalid),
        Err(e) => Err(Failure::new(e.to_string())),
    }
}
