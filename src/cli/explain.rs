//! `personactl explain`: every final field of a persona and the file (and line) that set it.

use clap::ValueEnum;
use personas::Catalog;

use super::{Cli, CmdResult, Failure, Outcome, dir_failure, print};

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id (or one of its aliases).
    id: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned columns: field, file:line, own or inherited.
    Human,
    /// One JSON document: `{"id", "chain": [...], "fields": [...], "tokens": {...}}`.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let Some(explanation) = personas::explain(&catalog, &args.id) else {
        return Err(match super::find_persona(cli, &catalog, &args.id) {
            Err(failure) => failure,
            Ok(entry) => Failure::invalid(format!("persona `{}` cannot be explained", entry.id)),
        });
    };
    match args.format {
        Format::Json => print(|out| {
            serde_json::to_writer_pretty(&mut *out, &explanation)?;
            writeln!(out)
        })?,
        Format::Human => print(|out| {
            let chain: Vec<String> = explanation
                .chain
                .iter()
                .map(|a| format!("{} ({})", a.id, a.path.display()))
                .collect();
            writeln!(out, "{}", chain.join(" → "))?;
            let width = explanation
                .fields
                .iter()
                .map(|f| f.key.len())
                .max()
                .unwrap_or(0);
            let places: Vec<String> = explanation
                .fields
                .iter()
                .map(|f| format!("{}:{}:{}", f.path.display(), f.line, f.column))
                .collect();
            let pwidth = places.iter().map(String::len).max().unwrap_or(0);
            for (f, place) in explanation.fields.iter().zip(&places) {
                let mut how = if f.own {
                    "own".to_owned()
                } else if f.through.is_empty() {
                    format!("inherited from {}", f.from)
                } else {
                    format!("inherited from {} through {}", f.from, f.through.join(", "))
                };
                if !f.includes.is_empty() {
                    how.push_str(&format!(
                        ", includes {} via {{{{parent}}}}",
                        f.includes.join(" → ")
                    ));
                }
                writeln!(out, "{:width$}  {:pwidth$}  {how}", f.key, place)?;
            }
            writeln!(out, "tokens: {}", super::tokens_line(&explanation.tokens))
        })?,
    }
    Ok(Outcome::Success)
}
