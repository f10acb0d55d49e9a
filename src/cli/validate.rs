//! `personactl validate`: the CI gate.

use std::path::PathBuf;

use clap::ValueEnum;
use personas::{ValidateOptions, validate_paths};

use super::{Cli, CmdResult, Failure, Outcome, color_stdout, print};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders to check (default: the personas directory, --dir).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Compiler-style, for people.
    Human,
    /// One JSON document.
    Json,
    /// GitHub Actions workflow commands.
    Github,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let paths = if args.paths.is_empty() {
        vec![cli.dir.clone()]
    } else {
        args.paths.clone()
    };
    // Named files are checked in the context of the personas directory; the default persona
    // must exist only when the directory is checked as a whole (validate_paths decides).
    let options = ValidateOptions {
        default_persona: Some(cli.default_persona.clone()),
        dir: Some(cli.dir.clone()),
    };
    let mut report = validate_paths(&paths, &options).map_err(|e| match e {
        personas::Error::NotFound { path } if path == cli.dir && args.paths.is_empty() => {
            super::dir_failure(cli, personas::Error::NotFound { path })
        }
        other => Failure::from(other),
    })?;
    if cli.sessions.is_some() {
        super::session::check_into(cli, &mut report)?;
    }
    print(|out| match args.format {
        Format::Human => personas::write_human(out, &report, color_stdout()),
        Format::Json => personas::write_json(out, &report),
        Format::Github => personas::write_github(out, &report),
        Format::Sarif => personas::write_sarif(out, &report),
    })?;
    if report.has_io_errors() {
        return Err(Failure::new(
            "some files could not be read (see the io.read diagnostics above)",
        ));
    }
    Ok(if report.is_ok() {
        Outcome::Success
    } else {
        Outcome::Invalid
    })
}
