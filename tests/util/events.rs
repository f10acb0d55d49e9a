//! Waiting without sleeping as an assertion: every wait ends as soon as what it waits for
//! happens, and fails after [`TIMEOUT`] with what it saw.

use std::path::Path;
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use personas::Event;

/// Generous: waits end as soon as the event arrives; only a failure waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Every event up to and including the next `reloaded`.
#[track_caller]
pub fn next_reload(rx: &Receiver<Event>) -> Vec<Event> {
    until(rx, |e| matches!(e, Event::Reloaded { .. }))
}

/// Every event up to and including the first that matches `done`.
#[track_caller]
pub fn until(rx: &Receiver<Event>, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => {
                let stop = done(&e);
                seen.push(e);
                if stop {
                    return seen;
                }
            }
            Err(_) => panic!("no expected event within {TIMEOUT:?}; saw {seen:#?}"),
        }
    }
}

/// Polls `cond` until it holds (for states that no event announces).
#[track_caller]
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `(event name, id or "-")` of every event, in order.
pub fn names(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.name().to_owned(), e.id().unwrap_or("-").to_owned()))
        .collect()
}

/// `(event name, id or "")` of every event but `reloaded`, sorted: what changed in a reload.
pub fn changes(events: &[Event]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = events
        .iter()
        .filter(|e| !matches!(e, Event::Reloaded { .. }))
        .map(|e| (e.name().to_owned(), e.id().unwrap_or_default().to_owned()))
        .collect();
    out.sort();
    out
}

/// Writes a file the way editors do: a temp file, then a rename (one event, never a half).
pub fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Sends SIGTERM to a child and waits for it to exit ([`TIMEOUT`] at most); its exit code.
#[track_caller]
pub fn terminate(child: &mut Child) -> Option<i32> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {}", child.id());
    wait(child)
}

/// Waits for a child to exit ([`TIMEOUT`] at most, then kills it and fails).
#[track_caller]
pub fn wait(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
