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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The resolved persona (inheritance applied) as a TOML persona file.
    Toml,
    /// The persona as a JSON object, with its `id` and `tokens`.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let Some(entry) = catalog.find(&args.id) else {
        let broken: Vec<_> = catalog
            .diagnostics
            .iter()
            .filter(|d| personas::stem_id(&d.path).as_deref() == Some(args.id.as_str()))
            .collect();
        if !broken.is_empty() {
            let mut err = std::io::stderr().lock();
            for d in broken {
                let _ = personas::write_diagnostic(&mut err, d, false);
            }
            return Err(Failure::invalid(format!(
                "persona `{}` is invalid",
                args.id
            )));
        }
        return Err(
            Failure::invalid(format!("no persona `{}` in {}", args.id, cli.dir.display()))
                .hint("`personactl list --all` shows every persona"),
        );
    };
    if args.raw {
        let text = std::fs::read_to_string(&entry.path)
            .map_err(|e| Failure::new(format!("{}: {e}", entry.path.display())))?;
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
