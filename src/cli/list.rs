//! `personactl list`: the personas, as a picker would show them.

use clap::ValueEnum;
use personas::Catalog;
use serde_json::json;

use super::{Cli, CmdResult, Outcome, dir_failure, print};

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Include hidden personas.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned columns.
    Table,
    /// A JSON array.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let list = catalog.listed(args.all);
    print(|out| match args.format {
        Format::Json => {
            let items: Vec<_> = list
                .iter()
                .map(|e| {
                    let p = &e.persona;
                    json!({
                        "id": e.id, "name": p.name, "description": p.description, "icon": p.icon,
                        "tags": p.tags, "hidden": p.hidden, "order": p.order,
                        "path": e.path.to_string_lossy(),
                        "model": p.model.as_ref().and_then(|m| m.name.as_deref()),
                        "tokens": personas::count_tokens(p),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)
        }
        Format::Table => {
            let width = list.iter().map(|e| e.id.len()).max().unwrap_or(2).max(2);
            let name_width = list
                .iter()
                .map(|e| e.persona.name.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            let tokens: Vec<String> = list
                .iter()
                .map(|e| personas::count_tokens(&e.persona).system_prompt.to_string())
                .collect();
            let tokens_width = tokens.iter().map(String::len).max().unwrap_or(0).max(6);
            writeln!(
                out,
                "{:width$}  {:name_width$}  {:>tokens_width$}  DESCRIPTION",
                "ID", "NAME", "TOKENS"
            )?;
            for (e, tokens) in list.iter().zip(&tokens) {
                let mut desc: String = e.persona.description.chars().take(70).collect();
                if e.persona.description.chars().count() > 70 {
                    desc.push('…');
                }
                let hidden = if e.persona.hidden { " (hidden)" } else { "" };
                writeln!(
                    out,
                    "{:width$}  {:name_width$}  {tokens:>tokens_width$}  {desc}{hidden}",
                    e.id, e.persona.name
                )?;
            }
            Ok(())
        }
    })?;
    warn_invalid(&catalog);
    Ok(Outcome::Success)
}

/// Says on stderr that some files were left out, without failing the command.
pub fn warn_invalid(catalog: &Catalog) {
    let bad = catalog.diagnostics.iter().filter(|d| d.is_error()).count();
    if bad > 0 {
        eprintln!(
            "warning: {bad} problem(s) in persona files left some out; run `personactl validate`"
        );
    }
}
