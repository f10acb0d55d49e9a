//! `personactl watch`: the real binary, real files, its stdout read line by line.

mod util;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use util::{TIMEOUT, TempTree, persona, personactl};

/// A running `personactl watch`, started in `cwd` with `--dir personas`.
struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    fn start(cwd: &Path, format: &str) -> Self {
        let mut child = personactl()
            .cwd(cwd)
            // A quiet time with room for a busy machine: `fs::write` truncates, then writes.
            .args([
                "--dir",
                "personas",
                "watch",
                "--debounce-ms",
                "200",
                "--format",
                format,
            ])
            .spawn();
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("watching ") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let banner = ready
            .recv_timeout(TIMEOUT)
            .expect("the ready line on stderr");
        assert!(banner.contains("2 persona(s)"), "{banner}");
        Watch { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(TIMEOUT)
            .expect("a line within the timeout")
    }

    /// Sends SIGTERM and returns the exit code.
    fn terminate(mut self) -> Option<i32> {
        util::terminate(&mut self.child)
    }
}

/// `personas/` with two personas (one the default).
fn setup() -> TempTree {
    TempTree::new()
        .file("personas/coach.toml", &persona("Coach"))
        .file("personas/journaling-assistant.toml", &persona("Journal"))
}

#[test]
fn json_lines_are_exactly_the_documented_shape() {
    let tmp = setup();
    let watch = Watch::start(tmp.root(), "json");
    let coach = tmp.path("personas/coach.toml");
    fs::write(&coach, persona("Coach v2")).expect("edit");
    assert_eq!(
        watch.line(),
        r#"{"event":"updated","id":"coach","path":"personas/coach.toml","generation":2}"#
    );
    assert_eq!(
        watch.line(),
        r#"{"event":"reloaded","path":"personas","generation":2,"personas":2,"errors":0}"#
    );

    fs::write(&coach, "name = \"Coach\"\n").expect("break");
    let line = watch.line();
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["event"], "invalid");
    assert_eq!(v["id"], "coach");
    assert_eq!(v["path"], "personas/coach.toml");
    assert_eq!(v["generation"], 3);
    let d = &v["diagnostics"][0];
    let mut keys: Vec<&str> = d
        .as_object()
        .expect("a diagnostic object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "code", "column", "hint", "line", "message", "path", "severity"
        ]
    );
    assert_eq!(d["code"], "schema.required");
    assert!(watch.line().starts_with(r#"{"event":"reloaded""#));

    fs::remove_file(&coach).expect("delete");
    assert_eq!(
        watch.line(),
        r#"{"event":"removed","id":"coach","path":"personas/coach.toml","generation":4}"#
    );
    assert_eq!(watch.terminate(), Some(0));
}

#[test]
fn human_lines_are_short() {
    let tmp = setup();
    let watch = Watch::start(tmp.root(), "human");
    fs::write(tmp.path("personas/poet.toml"), persona("Poet")).expect("add");
    assert_eq!(watch.line(), "added poet (personas/poet.toml) gen 2");
    assert_eq!(
        watch.line(),
        "reloaded personas gen 2: 3 persona(s), 0 error(s)"
    );
    fs::write(tmp.path("personas/poet.toml"), "name = 1\n").expect("break");
    let line = watch.line();
    assert!(
        line.starts_with("invalid poet (personas/poet.toml) gen 3: "),
        "{line}"
    );
    assert_eq!(watch.terminate(), Some(0));
}

#[test]
fn a_closed_pipe_ends_the_watch_quietly() {
    let tmp = setup();
    let watch = Watch::start(tmp.root(), "json");
    let Watch { mut child, lines } = watch;
    drop(lines); // the reader thread stops reading and closes the pipe at its next line
    let coach = tmp.path("personas/coach.toml");
    // Each edit prints lines; once the pipe is closed, a write fails and personactl exits 0.
    let deadline = Instant::now() + TIMEOUT;
    let mut n = 0;
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        assert!(Instant::now() < deadline, "personactl kept running");
        n += 1;
        fs::write(&coach, persona(&format!("Coach {n}"))).expect("edit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn a_missing_directory_exits_2() {
    let tmp = TempTree::new();
    personactl()
        .cwd(tmp.root())
        .args(["--dir", "nope", "watch"])
        .run()
        .code(2)
        .stderr_contains("does not exist");
}
