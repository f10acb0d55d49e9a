//! `personactl log`: the commits where one resolved persona changed; and the persona as it
//! was at a revision, for `show --at`.

use clap::ValueEnum;
use personas::{Catalog, Date, LogOptions, Memo};

use super::diff::{RenderArgs, git_failure, open, parse_date};
use super::{Cli, CmdResult, Failure, Outcome, color_stdout, print};

/// Arguments of `log`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id (or a former id listed in `aliases`).
    id: String,

    /// At most N commits.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    max_count: Option<usize>,

    /// Only commits authored on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    since: Option<Date>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Human,
    /// One JSON document: `{"id", "commits": [...]}`.
    Json,
}

/// Seconds since 1970 at the start of `date` (UTC), from its `YYYY-MM-DD` form.
fn start_of(date: Date) -> i64 {
    let text = date.to_string();
    let mut parts = text.split('-').map(|p| p.parse::<i64>().unwrap_or(1));
    let (y, m, d) = (
        parts.next().unwrap_or(1970),
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(1),
    );
    // Howard Hinnant's `days_from_civil`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let repo = open(cli)?;
    let options = LogOptions {
        limit: args.max_count,
        since: args.since.map(start_of),
        vars: args.render.vars(),
    };
    let entries = personas::log(&repo, &args.id, &options).map_err(git_failure)?;
    if entries.is_empty() && args.max_count.is_none() && args.since.is_none() {
        return Err(Failure::invalid(format!(
            "no commit changed persona `{}` in {}",
            args.id,
            cli.dir.display()
        ))
        .hint("`git log -- DIR` lists the commits that touched the folder"));
    }
    match args.format {
        Format::Json => print(|out| {
            let doc = serde_json::json!({"id": args.id, "commits": entries});
            serde_json::to_writer(&mut *out, &doc)?;
            writeln!(out)
        })?,
        Format::Human => {
            let (bold, reset) = if color_stdout() {
                ("\x1b[33m", "\x1b[0m")
            } else {
                ("", "")
            };
            print(|out| {
                for e in &entries {
                    writeln!(
                        out,
                        "{bold}{}{reset} {} {} <{}>",
                        &e.commit[..12.min(e.commit.len())],
                        e.date,
                        e.author,
                        e.email
                    )?;
                    writeln!(out, "    {}", e.subject)?;
                    let name = match &e.renamed_from {
                        Some(old) => format!("{old} → {}", e.id),
                        None => e.id.clone(),
                    };
                    write!(out, "    {} {name}", e.status.as_str())?;
                    if !e.via.is_empty() {
                        write!(out, " (via {})", e.via.join(" → "))?;
                    }
                    if let Some(rev) = &e.revision {
                        write!(out, ", revision {rev}")?;
                    }
                    writeln!(out)?;
                    if !e.fields.is_empty() {
                        writeln!(out, "    fields: {}", e.fields.join(", "))?;
                    }
                    writeln!(out)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(Outcome::Success)
}

/// The personas directory as it was at revision `rev`, resolved.
pub fn catalog_at(cli: &Cli, rev: &str) -> Result<Catalog, Failure> {
    let repo = open(cli)?;
    let commit = repo.resolve(rev).map_err(git_failure)?;
    let files = repo.files_at(commit).map_err(git_failure)?;
    Ok(personas::check_sources(files, &mut Memo::default()).catalog)
}
