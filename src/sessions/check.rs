//! `validate --sessions`: torn records and links to personas that do not exist, as diagnostics.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use crate::catalog::Lookup;
use crate::diagnostic::{Code, Diagnostic, Snippet};

use super::error::SessionError;
use super::file::scan_lines;
use super::record::{HeaderLine, Record, VERSION, parse_header};
use super::state::Link;

/// Checks the sessions file at `path` against `personas`: every line that cannot be read
/// (`sessions.torn`, at that line) and every live session linked to a persona that neither
/// exists nor is listed among a persona's `aliases` (`sessions.dangling`, at the line of its
/// link). Both are errors. The file is only read.
///
/// # Errors
///
/// [`SessionError::Io`] when the file cannot be opened or read (including when it does not
/// exist).
pub fn check_sessions<L: Lookup + ?Sized>(
    path: &Path,
    personas: &L,
) -> Result<Vec<Diagnostic>, SessionError> {
    let file = File::open(path).map_err(SessionError::io(path))?;
    let mut diagnostics = Vec::new();
    let mut live: HashMap<Box<str>, (Box<str>, usize)> = HashMap::new();
    let mut line_no = 0usize;
    let scan = scan_lines(&file, 0, None, |line, _| {
        line_no += 1;
        if line_no == 1 {
            check_header(path, line, true, &mut diagnostics);
            return;
        }
        match Record::parse(line) {
            Some(Record::Link {
                session, persona, ..
            }) => {
                live.insert(session.into(), (persona.into(), line_no));
            }
            Some(Record::Unlink { session, .. }) => {
                live.remove(&*session);
            }
            None => diagnostics.push(torn(
                path,
                line_no,
                line,
                "this line is not a valid sessions record (a torn write, or a hand edit)",
            )),
        }
    })
    .map_err(SessionError::io(path))?;
    if !scan.partial.is_empty() {
        line_no += 1;
        if line_no == 1 {
            check_header(path, &scan.partial, false, &mut diagnostics);
        } else {
            diagnostics.push(torn(
                path,
                line_no,
                &scan.partial,
                "the last line is incomplete (a write was cut short); it is ignored",
            ));
        }
    }
    let mut dangling: Vec<_> = live
        .into_iter()
        .filter(|(_, (persona, _))| {
            personas.get(persona).is_none() && personas.by_alias(persona).is_none()
        })
        .collect();
    dangling.sort_by_key(|(_, (_, line))| *line);
    for (session, (persona, line)) in dangling {
        let mut d = dangling_link(path, &session, &persona);
        d.line = line;
        diagnostics.push(d);
    }
    diagnostics.sort_by_key(|d| d.line);
    Ok(diagnostics)
}

/// Checks links read from a store that has no lines (a database): every live session linked
/// to a persona that neither exists nor is listed among a persona's `aliases`
/// (`sessions.dangling`, at line 1 of `location`, in the order of `links`).
pub fn check_links<L: Lookup + ?Sized>(
    location: &Path,
    links: &[(String, Link)],
    personas: &L,
) -> Vec<Diagnostic> {
    links
        .iter()
        .filter(|(_, l)| {
            personas.get(&l.persona).is_none() && personas.by_alias(&l.persona).is_none()
        })
        .map(|(session, l)| dangling_link(location, session, &l.persona))
        .collect()
}

fn dangling_link(path: &Path, session: &str, persona: &str) -> Diagnostic {
    Diagnostic::file_error(
        path,
        Code::SessionsDangling,
        format!("session `{session}` is linked to persona `{persona}`, which does not exist"),
    )
    .with_hint(format!(
        "it resolves to the default persona until you run `personactl session link {session} ID`, or add `{persona}` to a persona's `aliases` if it was renamed"
    ))
}

/// Checks the first line.
fn check_header(path: &Path, line: &[u8], terminated: bool, out: &mut Vec<Diagnostic>) {
    let message = match parse_header(line, terminated) {
        HeaderLine::Header { version, .. } if version <= VERSION => return,
        HeaderLine::Header { version, .. } => format!(
            "sessions index format version {version} is newer than this personactl supports ({VERSION})"
        ),
        HeaderLine::Torn => "the header line is incomplete (a write was cut short)".into(),
        HeaderLine::Foreign => {
            out.push(
                torn(path, 1, line, "this is not a personactl sessions index: the first line is not its header")
                    .with_hint("point --sessions (or PERSONAS_SESSIONS) at the sessions file, e.g. sessions.jsonl"),
            );
            return;
        }
    };
    out.push(torn(path, 1, line, &message));
}

fn torn(path: &Path, line: usize, text: &[u8], message: &str) -> Diagnostic {
    let mut d = Diagnostic::file_error(path, Code::SessionsTorn, message);
    d.line = line;
    let text: String = String::from_utf8_lossy(text).chars().take(160).collect();
    d.snippet = Some(Snippet {
        width: text.chars().count().max(1),
        line_text: text,
        omitted_before: 0,
    });
    if d.hint.is_none() {
        d.hint =
            Some("`personactl session compact` rewrites the file without unreadable lines".into());
    }
    d
}
