//! `personactl session …`: the sessions index (link, show, unlink, list, compact, migrate),
//! through whichever backend `--sessions` names, and the `validate --sessions` check.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use personas::{Catalog, Entry, SessionBackend, SessionError, SessionStore};
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
        /// Also show the pinned persona: the stored revision the session was linked at.
        #[arg(long)]
        pinned: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Relink a session to the current revision of its persona (exit 1 when it no longer
    /// exists, or the session is not linked).
    Upgrade {
        /// The session id.
        session: String,
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
        /// Only the sessions whose persona changed, was renamed or deleted since they were
        /// linked.
        #[arg(long)]
        stale: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Rewrite the index file to one line per live session, atomically (PostgreSQL needs none).
    Compact,
    /// Copy every live link (persona, revision, time) to another backend; running it again
    /// copies nothing more.
    Migrate {
        /// The target: a sessions file path or a `postgres://` URL.
        #[arg(long, value_name = "URL_OR_PATH")]
        to: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// One line for people.
    Human,
    /// One JSON object.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let backend = cli.sessions_backend();
    match &args.command {
        Action::Link { session, persona } => link(cli, &backend, session, persona),
        Action::Show {
            session,
            pinned: true,
            format,
        } => super::session_pin::show(cli, &backend, session, *format),
        Action::Show {
            session, format, ..
        } => show(cli, &backend, session, *format),
        Action::Upgrade { session } => super::session_pin::upgrade(cli, &backend, session),
        Action::List {
            persona,
            stale: true,
            format,
        } => super::session_pin::list_stale(cli, &backend, persona.as_deref(), *format),
        Action::Unlink { session } => unlink(&backend, session),
        Action::List {
            persona, format, ..
        } => list(&backend, persona.as_deref(), *format),
        Action::Compact => compact(&backend),
        Action::Migrate { to } => migrate(&backend, &SessionBackend::parse(to)),
    }
}

/// Maps a library error: bad input exits 1, a file that is not an index, a database that
/// cannot be reached, or I/O exits 2.
pub(super) fn failure(e: SessionError) -> Failure {
    match e {
        SessionError::InvalidSession { .. } => Failure::invalid(e.to_string()),
        SessionError::DefaultMissing { ref id } => {
            let hint = format!("add `{id}.toml`, or choose another default with --default-persona");
            Failure::invalid(e.to_string()).hint(hint)
        }
        SessionError::NotAnIndex { .. } => Failure::new(e.to_string())
            .hint("point --sessions (or PERSONAS_SESSIONS) at the sessions file"),
        SessionError::Database { .. } => Failure::new(e.to_string()).hint(
            "check that the database is running and reachable, and the URL in --sessions (or PERSONAS_SESSIONS)",
        ),
        other => Failure::new(other.to_string()),
    }
}

/// Opens the store, after checking the session id (a refused id touches no storage).
pub(super) fn open(
    backend: &SessionBackend,
    session: &str,
) -> Result<Box<dyn SessionStore>, Failure> {
    personas::check_session_id(session).map_err(failure)?;
    backend.open().map_err(failure)
}

fn link(cli: &Cli, backend: &SessionBackend, session: &str, persona: &str) -> CmdResult {
    personas::check_session_id(session).map_err(failure)?;
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let entry = super::find_persona(cli, &catalog, persona)?;
    open(backend, session)?
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
            entry.id,
            entry.revision()
        )
    })?;
    Ok(Outcome::Success)
}

fn show(cli: &Cli, backend: &SessionBackend, session: &str, format: Format) -> CmdResult {
    let link = open(backend, session)?.get(session).map_err(failure)?;
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
                    entry.revision()
                )?;
            }
            Ok(())
        }
    })?;
    Ok(Outcome::Success)
}

fn unlink(backend: &SessionBackend, session: &str) -> CmdResult {
    if !open(backend, session)?.unlink(session).map_err(failure)? {
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

fn list(backend: &SessionBackend, persona: Option<&str>, format: ListFormat) -> CmdResult {
    let mut store = backend.open().map_err(failure)?;
    let links = store.list(persona).map_err(failure)?;
    let items: Vec<Listed> = links
        .iter()
        .map(|(session, l)| Listed {
            session,
            persona: &l.persona,
            revision: l.revision.as_deref(),
            at: l.at.to_string(),
        })
        .collect();
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
    if store.skipped() > 0 {
        let location = store.location();
        eprintln!(
            "warning: {} unreadable line(s) in {location} were skipped; `personactl validate --sessions {location}` shows them",
            store.skipped(),
        );
    }
    Ok(Outcome::Success)
}

fn compact(backend: &SessionBackend) -> CmdResult {
    if let SessionBackend::File(path) = backend
        && !path.exists()
    {
        print(|out| {
            writeln!(
                out,
                "no sessions index at {}: nothing to compact",
                path.display()
            )
        })?;
        return Ok(Outcome::Success);
    }
    let mut store = backend.open().map_err(failure)?;
    let stored_before = store.stored_revisions().map_err(failure)?.len();
    let Some(c) = store.compact().map_err(failure)? else {
        let stored_after = store.stored_revisions().map_err(failure)?.len();
        print(|out| {
            writeln!(
                out,
                "{}: PostgreSQL keeps one row per session, updated in place; nothing to compact; {stored_after} stored revision(s) kept, {} dropped",
                store.location(),
                stored_before.saturating_sub(stored_after)
            )
        })?;
        return Ok(Outcome::Success);
    };
    let location = store.location();
    print(|out| {
        write!(
            out,
            "compacted {location}: {} session(s), {} → {} bytes",
            c.sessions, c.bytes_before, c.bytes_after
        )?;
        if c.skipped > 0 {
            write!(out, ", {} unreadable line(s) dropped", c.skipped)?;
        }
        writeln!(
            out,
            "; {} stored revision(s) kept, {} dropped",
            c.revisions_kept, c.revisions_dropped
        )
    })?;
    Ok(Outcome::Success)
}

fn migrate(from: &SessionBackend, to: &SessionBackend) -> CmdResult {
    if from == to {
        return Err(Failure::new(format!(
            "--to names the sessions index itself ({from}); nothing to copy"
        )));
    }
    let mut source = from.open().map_err(failure)?;
    let mut target = to.open().map_err(failure)?;
    let copied = personas::copy_links(&mut *source, &mut *target).map_err(failure)?;
    print(|out| {
        writeln!(
            out,
            "copied {} link(s) from {from} to {to} ({} already there), {} stored revision(s)",
            copied.copied, copied.unchanged, copied.revisions
        )
    })?;
    if copied.revisions_missing > 0 {
        eprintln!(
            "note: {} linked revision(s) have no stored content in {from} (links made before revisions were stored): pinning those sessions follows the current persona",
            copied.revisions_missing
        );
    }
    if source.skipped() > 0 {
        eprintln!(
            "warning: {} unreadable line(s) in {from} were skipped",
            source.skipped()
        );
    }
    Ok(Outcome::Success)
}

/// For `validate`: checks the sessions index (a file, or a database) against the personas of
/// `--dir` and adds its diagnostics (and the index) to `report`.
pub fn check_into(cli: &Cli, report: &mut personas::Report) -> Result<(), Failure> {
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let diagnostics = match cli.sessions_backend() {
        SessionBackend::File(path) => check_file(&path, &catalog)?,
        other => {
            let mut store = other.open().map_err(failure)?;
            let links = store.list(None).map_err(failure)?;
            personas::check_links(Path::new(&store.location()), &links, &catalog)
        }
    };
    report.files += 1;
    report.diagnostics.extend(diagnostics);
    Ok(())
}

fn check_file(path: &Path, catalog: &Catalog) -> Result<Vec<personas::Diagnostic>, Failure> {
    personas::check_sessions(path, catalog).map_err(|e| match e {
        SessionError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Failure::new(format!(
                "sessions index `{}` does not exist",
                path.display()
            ))
        }
        other => failure(other),
    })
}
