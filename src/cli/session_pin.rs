//! `personactl session show --pinned`, `session upgrade` and `session list --stale`: sessions
//! that keep the persona revision they were linked at.

use personas::{Catalog, Lookup, SessionBackend, Unpinned, Upgrade};
use serde::Serialize;

use super::session::{Format, ListFormat, failure, open};
use super::{Cli, CmdResult, Failure, Outcome, dir_failure, print};

/// `session show SESSION --pinned`: the resolution and the pinned persona. Exits 1 when the
/// stored content is damaged (it is not shown).
pub fn show(cli: &Cli, backend: &SessionBackend, session: &str, format: Format) -> CmdResult {
    let mut store = open(backend, session)?;
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let p = store
        .pinned(session, &catalog, &cli.default_persona)
        .map_err(failure)?;
    print(|out| match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &p.view())?;
            writeln!(out)
        }
        Format::Human => {
            let r = &p.resolution;
            let fell = if r.fallback { " (fallback)" } else { "" };
            writeln!(
                out,
                "{session} → {}{fell}, revision {}",
                r.entry.id,
                r.entry.revision()
            )?;
            match (&p.pinned, r.linked_revision()) {
                (Some(persona), Some(rev)) => {
                    writeln!(out, "pinned: `{}`, revision {rev}", persona.name)?;
                    if p.newer() {
                        writeln!(
                            out,
                            "note: `{}` changed since this session was linked; `personactl session upgrade {session}` moves it to the current revision",
                            r.persona().unwrap_or(&r.entry.id)
                        )?;
                    }
                    Ok(())
                }
                _ => writeln!(
                    out,
                    "pinned: none ({})",
                    p.reason
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            }
        }
    })?;
    if let Some(reason @ Unpinned::Damaged { .. }) = &p.reason {
        eprintln!("error: {}: {reason}", store.location());
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}

/// `session upgrade SESSION`: relinks to the current revision.
pub fn upgrade(cli: &Cli, backend: &SessionBackend, session: &str) -> CmdResult {
    let mut store = open(backend, session)?;
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    match personas::upgrade(&mut *store, session, &catalog).map_err(failure)? {
        Upgrade::NotLinked => Err(Failure::invalid(format!(
            "session `{session}` is not linked; nothing was written"
        ))),
        Upgrade::PersonaGone { persona } => Err(Failure::invalid(format!(
            "the persona `{persona}` of session `{session}` no longer exists; nothing was written"
        ))
        .hint(format!(
            "link it to another persona: `personactl session link {session} ID`"
        ))),
        Upgrade::UpToDate => {
            print(|out| {
                writeln!(
                    out,
                    "session `{session}` is at the current revision already; nothing was written"
                )
            })?;
            Ok(Outcome::Success)
        }
        Upgrade::Relinked { link, from } => {
            print(|out| {
                writeln!(
                    out,
                    "upgraded session `{session}`: `{}` revision {} → `{}` revision {}",
                    from.persona,
                    from.revision.as_deref().unwrap_or("?"),
                    link.persona,
                    link.revision.as_deref().unwrap_or("?")
                )
            })?;
            Ok(Outcome::Success)
        }
        _ => Ok(Outcome::Success),
    }
}

/// One item of `session list --stale --format json`.
#[derive(Serialize)]
struct StaleItem<'a> {
    session: &'a str,
    persona: &'a str,
    revision: Option<&'a str>,
    at: String,
    /// The persona the link names now (`null`: deleted).
    current: Option<&'a str>,
    /// Its revision now.
    current_revision: Option<&'a str>,
}

/// `session list --stale`: the sessions whose persona changed since they were linked.
pub fn list_stale(
    cli: &Cli,
    backend: &SessionBackend,
    persona: Option<&str>,
    format: ListFormat,
) -> CmdResult {
    let mut store = backend.open().map_err(failure)?;
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let lookup: &dyn Lookup = &catalog;
    let stale = personas::stale(&mut *store, lookup).map_err(failure)?;
    let items: Vec<StaleItem> = stale
        .iter()
        .filter(|s| persona.is_none_or(|p| *s.link.persona == *p))
        .map(|s| StaleItem {
            session: &s.session,
            persona: &s.link.persona,
            revision: s.link.revision.as_deref(),
            at: s.link.at.to_string(),
            current: s.current.map(|e| e.id.as_str()),
            current_revision: s.current.map(|e| e.revision()),
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
            writeln!(out, "{:w$}  PERSONA  LINKED → NOW", "SESSION")?;
            for i in &items {
                let now = match (i.current, i.current_revision) {
                    (Some(id), Some(rev)) if id == i.persona => rev.to_owned(),
                    (Some(id), Some(rev)) => format!("{id} {rev}"),
                    _ => "deleted".to_owned(),
                };
                writeln!(
                    out,
                    "{:w$}  {}  {} → {now}",
                    i.session,
                    i.persona,
                    i.revision.unwrap_or("?")
                )?;
            }
            Ok(())
        }
    })?;
    Ok(Outcome::Success)
}
