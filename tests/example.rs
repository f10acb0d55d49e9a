//! `examples/chat_tool.rs` runs offline with scripted input: resolution, fallback, links, and
//! an edit to the persona file applied from the next turn.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use util::{Cmd, TempTree};

/// `cargo test` builds the examples next to the test binaries: target/<profile>/examples.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join("chat_tool");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds examples (or run `cargo build --examples`)",
        path.display()
    );
    path
}

fn tree() -> TempTree {
    TempTree::new().defaults("personas")
}

/// The example over `t`'s personas and sessions, with a clean environment (no model server).
fn example(t: &TempTree) -> Cmd {
    Cmd::program(example_binary())
        .personas(t.path("personas"))
        .arg("--sessions")
        .arg(t.path("sessions.jsonl"))
}

fn run(t: &TempTree, args: &[&str], input: &str) -> String {
    example(t).args(args).stdin(input).run().success().stdout
}

#[test]
fn a_new_session_falls_back_then_a_linked_one_resumes() {
    let t = tree();
    let out = run(&t, &["--session", "s1"], "hello\n");
    assert!(
        out.contains(
            "[session s1 uses 📓 journaling-assistant (new session: the default persona)]"
        ),
        "{out}"
    );
    assert!(out.contains("Journaling Assistant> (offline echo"), "{out}");
    assert!(out.contains("you said: hello"), "{out}");

    let out = run(&t, &["--session", "s2", "--persona", "coach"], "hi coach\n");
    assert!(out.contains("[session s2 uses 🧭 coach]"), "{out}");
    let resumed = run(&t, &["--session", "s2"], "again\n");
    assert!(
        resumed.contains("uses 🧭 coach]"),
        "the link is remembered: {resumed}"
    );

    std::fs::remove_file(t.path("personas/coach.toml")).unwrap();
    let out = run(&t, &["--session", "s2"], "still there?\n");
    assert!(
        out.contains("(fallback: `coach` no longer exists)"),
        "{out}"
    );
}

#[test]
fn an_edit_applies_from_the_next_turn() {
    let t = tree();
    let mut child = example(&t)
        .args(["--session", "s1", "--persona", "coach"])
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example runs");
    let mut stdin = child.stdin.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    writeln!(stdin, "first").unwrap();
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(first.contains("uses 🧭 coach"), "{first}");
    let path = t.path("personas/coach.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("name = \"Coach\"", "name = \"Head Coach\"");
    std::fs::write(&path, text).unwrap();
    // Keep talking until a turn uses the edited persona (the watcher applies it within ~50 ms).
    let mut seen = Vec::new();
    let found = (0..200).any(|_| {
        writeln!(stdin, "ping").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        while let Ok(line) = rx.try_recv() {
            seen.push(line);
        }
        seen.iter().any(|l| l.contains("Head Coach> "))
    });
    assert!(found, "{seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("[note: coach changed since this session began]")),
        "{seen:?}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_prompt_is_rendered_with_variables() {
    let t = TempTree::new().file(
        "personas/journaling-assistant.toml",
        "name = \"Journal\"\ndescription = \"d\"\nicon = \"📓\"\nsystem_prompt = \"You help {{user_name}} write, in {{tone}} tones.\"\n[vars]\ntone = \"warm\"\n",
    );
    let out = run(&t, &["--session", "s1", "--user-name", "Ada"], "hello\n");
    assert!(
        out.contains(r#"system prompt begins "You help Ada write, in warm tones.""#),
        "{out}"
    );
}

#[test]
fn a_pinned_chat_keeps_its_persona_until_upgrade() {
    let t = tree();
    let out = run(
        &t,
        &["--session", "s1", "--persona", "coach", "--policy", "pin"],
        "hello\n",
    );
    assert!(out.contains("(pinned at revision"), "{out}");
    assert!(out.contains("🧭 Coach> "), "{out}");
    let path = t.path("personas/coach.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("name = \"Coach\"", "name = \"Head Coach\"");
    std::fs::write(&path, text).unwrap();

    // Pinned: the old version, a note that a newer one exists, then /upgrade switches.
    let out = run(
        &t,
        &["--session", "s1", "--policy", "pin"],
        "again\n/upgrade\nafter\n",
    );
    let lines: Vec<&str> = out.split("you> ").collect();
    assert!(
        out.contains("[coach changed since this chat began; /upgrade to switch]"),
        "{out}"
    );
    let before = lines
        .iter()
        .position(|l| l.contains("you said: again"))
        .unwrap();
    assert!(lines[before].contains("🧭 Coach> "), "{out}");
    assert!(out.contains("[upgraded to coach revision"), "{out}");
    let after = lines
        .iter()
        .position(|l| l.contains("you said: after"))
        .unwrap();
    assert!(lines[after].contains("🧭 Head Coach> "), "{out}");

    // Following (the default), a chat uses the current version at once.
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("name = \"Head Coach\"", "name = \"Chief Coach\""),
    )
    .unwrap();
    let out = run(&t, &["--session", "s1", "--policy", "follow"], "hi\n");
    assert!(out.contains("🧭 Chief Coach> "), "{out}");
    assert!(!out.contains("/upgrade"), "{out}");
    let out = run(&t, &["--session", "s1", "--policy", "pin"], "hi\n");
    assert!(out.contains("🧭 Head Coach> "), "{out}");
}
