//! `personactl session …`: the sessions index (link, show, unlink, list, compact), and the
//! `validate --sessions` check.

use std::path::Path;

use clap::{Subcommand, ValueEnum};
use personas::{Catalog, Entry, Lookup, SessionError, SessionIndex, SessionLog};
use serde::Serialize;

use super::{Cli, CmdResult, Failure, Outcome, dir_failure, print};

/// Arguments of `session`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Link a session to a persona (refused, writing nothing, when the persona does not exist).
    Link {
        /// The session id (1–256 bytes, no control characters).
        session: String,
        /// The persona id (or one of its aliases).
        persona: String,
    },
    /// Show the persona a session resolves to (the default persona when it has none).
    Show {
        /// The session id.
        session: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Remove a session's link (exit 1, writing nothing, when it is not linked).
    Unlink {
        /// The session id.
        session: String,
    },
    /// List the linked sessions, sorted by session id.
    List {
        /// Only the sessions linked to this persona id.
        #[arg(long, value_name = "ID")]
        persona: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Rewrite the index to one line per live session, atomically.
    Compact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line for people.
    Human,
    /// One JSON object.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let path = cli.sessions_path();
    match &args.command {
        Action::Link { session, persona } => link(cli, &path, session, persona),
        Action::Show { session, format } => show(cli, &path, session, *format),
        Action::Unlink { session } => unlink(&path, session),
        Action::List { persona, format } => list(&path, persona.as_deref(), *format),
        Action::Compact => compact(&path),
    }
}

/// Maps a library error: bad input exits 1, a file that is not an index or I/O exits 2.
fn failure(e: SessionError) -> Failure {
    match e {
        SessionError::InvalidSession { .. } => Failure::invalid(e.to_string()),
        SessionError::DefaultMissing { ref id } => {
            let hint = format!("add `{id}.toml`, or choose another default with --default-persona");
            Failure::invalid(e.to_string()).hint(hint)
        }
        SessionError::NotAnIndex { .. } => Failure::new(e.to_string())
            .hint("point --sessions (or PERSONAS_SESSIONS) at the sessions file"),
        other => Failure::new(other.to_string()),
    }
}

fn link(cli: &Cli, path: &Path, session: &str, persona: &str) -> CmdResult {
    personas::check_session_id(session).map_err(failure)?;
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let Some(entry) = catalog.get(persona).or_else(|| catalog.by_alias(persona)) else {
        return Err(Failure::invalid(format!(
            "no persona `{persona}` in {}; nothing was written",
            cli.dir.display()
        ))
        .hint("`personactl list --all` shows every persona"));
    };
    SessionLog::new(path)
        .link(session, entry)
        .map_err(failure)?;
    let alias = if entry.id == persona {
        String::new()
    } else {
        format!(" (`{persona}` is an alias of `{}`)", entry.id)
    };
    print(|out| {
        writeln!(
            out,
            "linked session `{session}` to `{}`{alias}, revision {}",
            entry.id, entry.revision
        )
    })?;
    Ok(Outcome::Success)
}

fn show(cli: &Cli, path: &Path, session: &str, format: Format) -> CmdResult {
    personas::check_session_id(session).map_err(failure)?;
    let link = SessionLog::new(path).get(session).map_err(failure)?;
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let r = personas::resolve(session, link, &catalog, &cli.default_persona).map_err(failure)?;
    let entry: &Entry = r.entry;
    print(|out| match format {
        Format::Json => {
            let shown = r.view();
            serde_json::to_writer(&mut *out, &shown)?;
            writeln!(out)
        }
        Format::Human => {
            let why = match (r.persona(), r.fallback, r.via_alias) {
                (None, _, _) => "fallback: the session is not linked".to_owned(),
                (Some(p), true, _) => format!("fallback: its persona `{p}` no longer exists"),
                (Some(p), false, true) => {
                    format!("linked to `{p}`, now an alias of `{}`", entry.id)
                }
                (Some(_), false, false) => "linked".to_owned(),
            };
            writeln!(out, "{session} → {} ({why})", entry.id)?;
            if r.changed() {
                writeln!(
                    out,
                    "note: `{}` changed since the session was linked (revision {} → {})",
                    entry.id,
                    r.linked_revision().unwrap_or("?"),
                    entry.revision
                )?;
            }
            Ok(())
        }
    })?;
    Ok(Outcome::Success)
}

fn unlink(path: &Path, session: &str) -> CmdResult {
    if !SessionLog::new(path).unlink(session).map_err(failure)? {
        return Err(Failure::invalid(format!(
            "session `{session}` is not linked; nothing was written"
        )));
    }
    print(|out| writeln!(out, "unlinked session `{session}`"))?;
    Ok(Outcome::Success)
}

/// One item of `session list --format json`.
#[derive(Serialize)]
struct Listed<'a> {
    session: &'a str,
    persona: &'a str,
    revision: Option<&'a str>,
    at: String,
}

fn list(path: &Path, persona: Option<&str>, format: ListFormat) -> CmdResult {
    let index = SessionIndex::open(path).map_err(failure)?;
    let mut items: Vec<Listed> = index
        .iter()
        .filter(|(_, l)| persona.is_none_or(|p| *l.persona == *p))
        .map(|(session, l)| Listed {
            session,
            persona: &l.persona,
            revision: l.revision.as_deref(),
            at: l.at.to_string(),
        })
        .collect();
    items.sort_unstable_by(|a, b| a.session.cmp(b.session));
    print(|out| match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)
        }
        ListFormat::Table => {
            let w = items
                .iter()
                .map(|i| i.session.chars().count())
                .max()
                .unwrap_or(0)
                .max(7);
            let pw = items
                .iter()
                .map(|i| i.persona.len())
                .max()
                .unwrap_or(0)
                .max(7);
            writeln!(out, "{:w$}  {:pw$}  LINKED AT", "SESSION", "PERSONA")?;
            for i in &items {
                writeln!(out, "{:w$}  {:pw$}  {}", i.session, i.persona, i.at)?;
            }
            Ok(())
        }
    })?;
    if index.skipped() > 0 {
        eprintln!(
            "warning: {} unreadable line(s) in {} were skipped; `personactl validate --sessions {}` shows them",
            index.skipped(),
            path.display(),
            path.display()
        );
    }
    Ok(Outcome::Success)
}

fn compact(path: &Path) -> CmdResult {
    if !path.exists() {
        print(|out| {
            writeln!(
                out,
                "no sessions index at {}: nothing to compact",
                path.display()
            )
        })?;
        return Ok(Outcome::Success);
    }
    let c = SessionLog::new(path).compact().map_err(failure)?;
    print(|out| {
        write!(
            out,
            "compacted {}: {} session(s), {} → {} bytes",
            path.display(),
            c.sessions,
            c.bytes_before,
            c.bytes_after
        )?;
        if c.skipped > 0 {
            write!(out, ", {} unreadable line(s) dropped", c.skipped)?;
        }
        writeln!(out)
    })?;
    Ok(Outcome::Success)
}

/// For `validate`: checks the sessions index against the personas of `--dir` and adds its
/// diagnostics (and the file) to `report`.
pub fn check_into(cli: &Cli, path: &Path, report: &mut personas::Report) -> Result<(), Failure> {
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let diagnostics = personas::check_sessions(path, &catalog).map_err(|e| match e {
        SessionError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Failure::new(format!(
                "sessions index `{}` does not exist",
                path.display()
            ))
        }
        other => failure(other),
    })?;
    report.files += 1;
    report.diagnostics.extend(diagnostics);
    Ok(())
}
