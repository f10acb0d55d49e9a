//! `personactl watch`: load, then print one line per reload event until interrupted.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use clap::ValueEnum;
use personas::{Event, Registry};

use super::{Cli, CmdResult, Failure, Outcome, dir_failure};

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: short lines, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// How long the directory must be quiet before a burst of changes is applied, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    debounce_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// `updated coach (personas/coach.toml) gen 7`.
    Human,
    /// `{"event":"updated","id":"coach","path":"personas/coach.toml","generation":7}`.
    Json,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| Failure::new(format!("cannot handle Ctrl-C: {e}")))?;

    let registry = Registry::builder(&cli.dir)
        .default_persona(&cli.default_persona)
        .debounce(Duration::from_millis(args.debounce_ms))
        .open()
        .map_err(|e| dir_failure(cli, e))?;
    let events = registry.subscribe();
    let _watch = registry.watch()?;
    let status = registry.status();
    eprintln!(
        "watching {}: {} persona(s), {} error(s), generation {}; Ctrl-C to stop",
        cli.dir.display(),
        status.personas,
        status.errors.len(),
        status.generation
    );

    while !stop.load(Ordering::SeqCst) {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => {
                let line = match args.format {
                    Format::Json => serde_json::to_string(&event)
                        .map_err(|e| Failure::new(format!("cannot print an event: {e}")))?,
                    Format::Human => human(&event),
                };
                let mut out = std::io::stdout().lock();
                match writeln!(out, "{line}").and_then(|()| out.flush()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(Outcome::Success)
}

/// One short line: `updated coach (personas/coach.toml) gen 7`.
fn human(event: &Event) -> String {
    let gen_ = event.generation();
    let path = event.path().display();
    match event {
        Event::Reloaded {
            personas, errors, ..
        } => format!("reloaded {path} gen {gen_}: {personas} persona(s), {errors} error(s)"),
        Event::Invalid { diagnostics, .. } => {
            let id = event.id().unwrap_or("-");
            let first = diagnostics.first().map_or_else(String::new, |d| {
                format!(
                    ": {}:{}: {}[{}]: {}",
                    d.line,
                    d.column,
                    d.severity.as_str(),
                    d.code,
                    d.message
                )
            });
            let more = diagnostics.len().saturating_sub(1);
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            format!("invalid {id} ({path}) gen {gen_}{first}{more}")
        }
        _ => format!(
            "{} {} ({path}) gen {gen_}",
            event.name(),
            event.id().unwrap_or("-")
        ),
    }
}
