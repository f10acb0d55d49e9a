//! `personactl show`: one persona.

use clap::ValueEnum;
use personas::Catalog;

use super::{Cli, CmdResult, Failure, Outcome, dir_failure, print};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id (or one of its aliases).
    id: String,

    /// Output format: the resolved persona as TOML, or as JSON.
    #[arg(long, value_enum, default_value_t = Format::Toml)]
    format: Format,

    /// Print the file as written (comments, `extends` and all) instead of the resolved persona.
    #[arg(long, conflicts_with = "format")]
    raw: bool,

    /// The persona as resolved at a git revision (`HEAD~3`, a tag, a hash) instead of on disk.
    #[arg(long, value_name = "REV", conflicts_with = "raw")]
    at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The resolved persona (inheritance applied) as a TOML persona file.
    Toml,
    /// The persona as a JSON object, with its `id` and `tokens`.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let catalog = match &args.at {
        Some(rev) => super::log::catalog_at(cli, rev)?,
        None => Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?,
    };
    let entry = super::find_persona(cli, &catalog, &args.id)?;
    if args.raw {
        let text = super::read::file_text(&entry.path, super::read::MAX_TEXT_BYTES)?;
        print(|out| out.write_all(text.as_bytes()))?;
        return Ok(Outcome::Success);
    }
    let tokens = personas::count_tokens(&entry.persona);
    match args.format {
        Format::Toml => {
            let text = personas::render_new(&entry.persona, 0);
            print(|out| out.write_all(text.as_bytes()))?;
            // On stderr, so that standard output stays a persona file.
            eprintln!("tokens: {}", super::tokens_line(&tokens));
        }
        Format::Json => {
            let mut value =
                serde_json::to_value(&*entry.persona).map_err(|e| Failure::new(e.to_string()))?;
            if let Some(map) = value.as_object_mut() {
                map.insert("id".into(), entry.id.clone().into());
                map.insert("tokens".into(), serde_json::json!(tokens));
            }
            print(|out| {
                serde_json::to_writer_pretty(&mut *out, &value)?;
                writeln!(out)
            })?;
        }
    }
    Ok(Outcome::Success)
}
