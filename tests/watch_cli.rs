//! `personactl watch`: the real binary, real files, its stdout read line by line.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

fn persona(name: &str) -> String {
    format!(
        "name = \"{name}\"\ndescription = \"A persona for tests.\"\nicon = \"🧪\"\nsystem_prompt = \"You are {name}.\"\n"
    )
}

/// A running `personactl watch`, started in `cwd` with `--dir personas`.
struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    fn start(cwd: &Path, format: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_personactl"))
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
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn personactl");
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
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        wait(&mut self.child)
    }
}

fn wait(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for personactl") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("personactl did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("personas");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("coach.toml"), persona("Coach")).expect("write");
    fs::write(dir.join("journaling-assistant.toml"), persona("Journal")).expect("write");
    tmp
}

#[test]
fn json_lines_are_exactly_the_documented_shape() {
    let tmp = setup();
    let watch = Watch::start(tmp.path(), "json");
    let coach = tmp.path().join("personas/coach.toml");
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
    let watch = Watch::start(tmp.path(), "human");
    fs::write(tmp.path().join("personas/poet.toml"), persona("Poet")).expect("add");
    assert_eq!(watch.line(), "added poet (personas/poet.toml) gen 2");
    assert_eq!(
        watch.line(),
        "reloaded personas gen 2: 3 persona(s), 0 error(s)"
    );
    fs::write(tmp.path().join("personas/poet.toml"), "name = 1\n").expect("break");
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
    let watch = Watch::start(tmp.path(), "json");
    let Watch { mut child, lines } = watch;
    drop(lines); // the reader thread stops reading and closes the pipe at its next line
    let coach = tmp.path().join("personas/coach.toml");
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
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_personactl"))
        .args(["--dir", "nope", "watch"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
