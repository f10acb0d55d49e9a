//! The sessions index, through the real `personactl` binary and the library: concurrency,
//! crashes (a log cut at every byte), resolution, refusals and a model-based property test.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use personas::{Catalog, Durability, Entry, Lookup, SessionIndex, SessionLog};
use proptest::prelude::*;
use serde_json::Value;

/// A temporary project: `personas/` with the shipped defaults and `sessions.jsonl` beside it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        personas::init(&dir.path().join("personas")).expect("the defaults are written");
        Project { dir }
    }

    fn personas(&self) -> PathBuf {
        self.dir.path().join("personas")
    }

    fn sessions(&self) -> PathBuf {
        self.dir.path().join("sessions.jsonl")
    }

    fn catalog(&self) -> Catalog {
        Catalog::load(&self.personas()).expect("the personas load")
    }

    /// Runs `personactl` in the project folder, with no `PERSONAS_*` variables inherited.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("personactl runs")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_personactl"));
        cmd.current_dir(self.dir.path()).args(args);
        for var in [
            "PERSONAS_DIR",
            "PERSONAS_SESSIONS",
            "PERSONAS_DEFAULT_PERSONA",
            "NO_COLOR",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs `personactl` and expects exit code `code`; returns stdout.
    fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "personactl {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    fn show_json(&self, session: &str) -> Value {
        let out = self.ok(&["session", "show", session, "--format", "json"], 0);
        serde_json::from_str(&out).expect("show prints JSON")
    }
}

fn entry<'a>(catalog: &'a Catalog, id: &str) -> &'a Entry {
    catalog.get(id).expect("a shipped persona")
}

#[test]
fn link_show_unlink_list_through_the_cli() {
    let p = Project::new();
    p.ok(&["session", "link", "s1", "coach"], 0);
    p.ok(&["session", "link", "s2", "therapist"], 0);
    let shown = p.ok(&["session", "show", "s1", "--format", "json"], 0);
    assert!(
        shown.starts_with(
            r#"{"session":"s1","persona":"coach","resolved":"coach","fallback":false,"#
        ),
        "{shown}"
    );
    let shown = p.show_json("s1");
    assert_eq!(
        shown["revision"],
        entry(&p.catalog(), "coach").revision.as_str()
    );
    assert_eq!(shown["changed"], false);

    let list: Value =
        serde_json::from_str(&p.ok(&["session", "list", "--format", "json"], 0)).unwrap();
    let pairs: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["session"].as_str().unwrap(),
                i["persona"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, [("s1", "coach"), ("s2", "therapist")]);
    let only: Value = serde_json::from_str(&p.ok(
        &[
            "session",
            "list",
            "--persona",
            "therapist",
            "--format",
            "json",
        ],
        0,
    ))
    .unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);

    p.ok(&["session", "unlink", "s1"], 0);
    let shown = p.show_json("s1");
    assert_eq!(shown["persona"], Value::Null);
    assert_eq!(shown["resolved"], "journaling-assistant");
    assert_eq!(shown["fallback"], true);
    assert!(p.ok(&["session", "show", "s1"], 0).contains("fallback"));
}

#[test]
fn an_unknown_legacy_session_falls_back_to_the_default() {
    let p = Project::new();
    let shown = p.ok(&["session", "show", "from-2019", "--format", "json"], 0);
    assert!(shown.starts_with(
        r#"{"session":"from-2019","persona":null,"resolved":"journaling-assistant","fallback":true,"#
    ));
    let other = p.ok(
        &[
            "--default-persona",
            "coach",
            "session",
            "show",
            "from-2019",
            "--format",
            "json",
        ],
        0,
    );
    assert!(other.contains(r#""resolved":"coach""#));
    assert!(!p.sessions().exists(), "showing creates nothing");
}

#[test]
fn a_renamed_persona_is_found_by_alias_and_a_deleted_one_falls_back() {
    let p = Project::new();
    let story = p.personas().join("story-teller.toml");
    fs::copy(&story, p.personas().join("old-coach.toml")).unwrap();
    fs::write(
        p.personas().join("old-coach.toml"),
        fs::read_to_string(&story)
            .unwrap()
            .replace("name = \"Story Teller\"", "name = \"Old\""),
    )
    .unwrap();
    p.ok(&["session", "link", "s1", "old-coach"], 0);
    p.ok(&["session", "link", "s2", "therapist"], 0);

    // Rename: old-coach.toml goes away, coach lists it among its aliases.
    fs::remove_file(p.personas().join("old-coach.toml")).unwrap();
    let coach = p.personas().join("coach.toml");
    let text = fs::read_to_string(&coach).unwrap();
    assert!(text.contains("name = \"Coach\""));
    fs::write(
        &coach,
        text.replace(
            "name = \"Coach\"",
            "name = \"Coach\"\naliases = [\"old-coach\"]",
        ),
    )
    .unwrap();
    // Delete: therapist.toml goes away.
    fs::remove_file(p.personas().join("therapist.toml")).unwrap();

    let s1 = p.show_json("s1");
    assert_eq!(
        (
            &s1["persona"],
            &s1["resolved"],
            &s1["fallback"],
            &s1["via_alias"],
            &s1["changed"]
        ),
        (
            &"old-coach".into(),
            &"coach".into(),
            &false.into(),
            &true.into(),
            &true.into()
        )
    );
    let s2 = p.show_json("s2");
    assert_eq!(
        (&s2["persona"], &s2["resolved"], &s2["fallback"]),
        (
            &"therapist".into(),
            &"journaling-assistant".into(),
            &true.into()
        )
    );

    // validate reports the dangling link (therapist), not the aliased one.
    let out = p.run(&[
        "validate",
        "--sessions",
        "sessions.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags: Vec<_> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == "sessions.jsonl")
        .collect();
    assert_eq!(diags.len(), 1, "{report}");
    assert_eq!(diags[0]["code"], "sessions.dangling");
    assert_eq!(diags[0]["line"], 3);
    assert_eq!(diags[0]["column"], 1);
    assert!(diags[0]["message"].as_str().unwrap().contains("therapist"));
}

#[test]
fn a_changed_persona_is_reported_as_changed() {
    let p = Project::new();
    p.ok(&["session", "link", "s1", "coach"], 0);
    let coach = p.personas().join("coach.toml");
    let text = fs::read_to_string(&coach).unwrap();
    fs::write(
        &coach,
        text.replace("name = \"Coach\"", "name = \"Coach 2\""),
    )
    .unwrap();
    let shown = p.show_json("s1");
    assert_eq!(shown["changed"], true);
    assert_ne!(shown["revision"], shown["linked_revision"]);
    assert!(
        p.ok(&["session", "show", "s1"], 0)
            .contains("changed since")
    );
}

#[test]
fn refused_inputs_leave_the_file_byte_for_byte_unchanged() {
    let p = Project::new();
    let long = "x".repeat(257);
    let refused: &[&[&str]] = &[
        &["session", "link", "s9", "no-such-persona"],
        &["session", "link", "", "coach"],
        &["session", "link", &long, "coach"],
        &["session", "link", "tab\there", "coach"],
        &["session", "link", "new\nline", "coach"],
        &["session", "unlink", "never-linked"],
        &["session", "unlink", ""],
        &["session", "show", "bell\u{7}"],
    ];
    // Without a file: none is created.
    for args in refused {
        p.ok(args, 1);
        assert!(!p.sessions().exists(), "{args:?} created the file");
    }
    // With one (ending in a torn line, the case a careless writer would "repair"):
    p.ok(&["session", "link", "s1", "coach"], 0);
    let mut bytes = fs::read(p.sessions()).unwrap();
    bytes.extend_from_slice(br#"{"op":"link","sess"#);
    fs::write(p.sessions(), &bytes).unwrap();
    for args in refused {
        p.ok(args, 1);
        assert_eq!(
            fs::read(p.sessions()).unwrap(),
            bytes,
            "{args:?} changed the file"
        );
    }
    // A file that is not a sessions index is never written to.
    let coach = p.personas().join("coach.toml");
    let before = fs::read(&coach).unwrap();
    let out = p.run(&[
        "--sessions",
        coach.to_str().unwrap(),
        "session",
        "link",
        "s1",
        "coach",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a personactl sessions index"));
    assert_eq!(fs::read(&coach).unwrap(), before);
}

#[test]
fn concurrent_processes_lose_no_link() {
    let p = Project::new();
    const PROCS: usize = 12;
    const ROUNDS: usize = 3;
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    for round in 0..ROUNDS {
        let children: Vec<_> = (0..PROCS)
            .map(|i| {
                let session = format!("r{round}-p{i}");
                p.command(&["session", "link", &session, ids[i % ids.len()]])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("personactl starts")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
    }
    let text = fs::read_to_string(p.sessions()).unwrap();
    assert_eq!(
        text.lines().count(),
        1 + PROCS * ROUNDS,
        "one line per link:\n{text}"
    );
    assert!(text.ends_with('\n'));
    let index = SessionIndex::open(p.sessions()).unwrap();
    assert_eq!(index.len(), PROCS * ROUNDS);
    assert_eq!(index.skipped(), 0, "no interleaved line");
    for round in 0..ROUNDS {
        for i in 0..PROCS {
            let link = index
                .cached(&format!("r{round}-p{i}"))
                .expect("every link present");
            assert_eq!(&*link.persona, ids[i % ids.len()]);
        }
    }
    p.ok(&["validate", "--sessions", "sessions.jsonl"], 0);
}

#[test]
fn concurrent_threads_and_a_compaction_lose_no_link() {
    let p = Project::new();
    let catalog = p.catalog();
    let coach = entry(&catalog, "coach");
    const THREADS: usize = 6;
    const LINKS: usize = 150;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let path = p.sessions();
            s.spawn(move || {
                let mut log = SessionLog::new(path).with_durability(Durability::Buffered);
                for i in 0..LINKS {
                    log.link(&format!("t{t}-{i}"), coach).unwrap();
                }
            });
        }
        let path = p.sessions();
        s.spawn(move || {
            let mut index = SessionIndex::open(&path).unwrap();
            for _ in 0..5 {
                index.compact().unwrap();
            }
        });
    });
    let index = SessionIndex::open(p.sessions()).unwrap();
    assert_eq!(index.len(), THREADS * LINKS);
    assert_eq!(index.skipped(), 0);
    let log = SessionLog::new(p.sessions());
    for t in 0..THREADS {
        for i in 0..LINKS {
            assert!(log.get(&format!("t{t}-{i}")).unwrap().is_some());
        }
    }
}

#[test]
fn a_long_lived_index_sees_other_processes_links_and_compactions() {
    let p = Project::new();
    let catalog = p.catalog();
    let mut index = SessionIndex::open(p.sessions()).unwrap();
    assert!(index.get("s1").unwrap().is_none());
    p.ok(&["session", "link", "s1", "coach"], 0);
    assert_eq!(&*index.get("s1").unwrap().expect("seen").persona, "coach");
    p.ok(&["session", "link", "s1", "therapist"], 0);
    p.ok(&["session", "link", "s2", "coach"], 0);
    let r = index
        .resolve("s1", &catalog, "journaling-assistant")
        .unwrap();
    assert_eq!(r.entry.id, "therapist");
    p.ok(&["session", "compact"], 0);
    p.ok(&["session", "link", "s3", "story-teller"], 0);
    p.ok(&["session", "unlink", "s2"], 0);
    assert!(index.get("s2").unwrap().is_none());
    assert_eq!(
        &*index.get("s3").unwrap().expect("seen").persona,
        "story-teller"
    );
    assert_eq!(index.len(), 2);
    // And the other way round: what the index writes, the CLI reads.
    index.link("s4", entry(&catalog, "coach")).unwrap();
    assert_eq!(p.show_json("s4")["resolved"], "coach");
}

#[test]
fn a_torn_tail_then_a_new_link_keeps_both_apart() {
    let p = Project::new();
    p.ok(&["session", "link", "s1", "coach"], 0);
    let mut bytes = fs::read(p.sessions()).unwrap();
    let torn = br#"{"op":"link","session":"s2","persona":"coa"#;
    bytes.extend_from_slice(torn);
    fs::write(p.sessions(), &bytes).unwrap();
    assert_eq!(
        p.show_json("s2")["persona"],
        Value::Null,
        "a torn record is not a link"
    );
    p.ok(&["session", "link", "s3", "therapist"], 0);
    assert_eq!(p.show_json("s3")["resolved"], "therapist");
    assert_eq!(p.show_json("s1")["resolved"], "coach");
    let text = fs::read_to_string(p.sessions()).unwrap();
    assert_eq!(
        text.lines().nth(2).unwrap().as_bytes(),
        torn,
        "the torn line stays alone"
    );

    let out = p.run(&[
        "validate",
        "--sessions",
        "sessions.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["diagnostics"][0];
    assert_eq!(
        (&d["code"], &d["line"], &d["column"]),
        (&"sessions.torn".into(), &3.into(), &1.into())
    );

    p.ok(&["session", "compact"], 0);
    p.ok(&["validate", "--sessions", "sessions.jsonl"], 0);
    assert_eq!(p.show_json("s3")["resolved"], "therapist");
}

/// A log with a few records of every kind, and the state after each complete line.
fn sample_log(p: &Project, compacted: bool) -> Vec<u8> {
    let catalog = p.catalog();
    let mut log = SessionLog::new(p.sessions()).with_durability(Durability::Buffered);
    for (s, id) in [
        ("a", "coach"),
        ("b", "therapist"),
        ("c\"q\\", "coach"),
        ("é🎭", "story-teller"),
    ] {
        log.link(s, entry(&catalog, id)).unwrap();
    }
    log.unlink("b").unwrap();
    if compacted {
        log.compact().unwrap();
        log.link("b", entry(&catalog, "coach")).unwrap();
        log.unlink("a").unwrap();
    }
    log.link("d", entry(&catalog, "therapist")).unwrap();
    fs::read(p.sessions()).unwrap()
}

/// The sessions (and personas) that the complete lines of `prefix` give.
fn expected(prefix: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let complete = prefix
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&[][..], |i| &prefix[..=i]);
    for line in complete.split(|&b| b == b'\n').skip(1) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let session = v["session"].as_str().unwrap().to_owned();
        match v["op"].as_str().unwrap() {
            "link" => {
                map.insert(session, v["persona"].as_str().unwrap().to_owned());
            }
            _ => {
                map.remove(&session);
            }
        }
    }
    map
}

fn contents(index: &SessionIndex) -> HashMap<String, String> {
    index
        .iter()
        .map(|(s, l)| (s.to_owned(), l.persona.to_string()))
        .collect()
}

fn cut_at_every_byte(compacted: bool) {
    let p = Project::new();
    let full = sample_log(&p, compacted);
    let catalog = p.catalog();
    let all = expected(&full);
    for cut in 0..=full.len() {
        let prefix = &full[..cut];
        fs::write(p.sessions(), prefix).unwrap();
        let want = expected(prefix);
        // Loading never fails, and loses at most the record being written.
        let mut index =
            SessionIndex::open(p.sessions()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(contents(&index), want, "cut at {cut}");
        let log = SessionLog::new(p.sessions());
        for session in all.keys() {
            let got = log.get(session).unwrap().map(|l| l.persona.to_string());
            assert_eq!(
                got.as_ref(),
                want.get(session),
                "cut at {cut}, get({session})"
            );
        }
        // The next link is readable, by a fresh load, a point lookup and the open index. It
        // starts on a fresh line: a last line that was complete but for its newline then
        // counts, a torn one stays alone and unread.
        index
            .link("new", entry(&catalog, "productivity-partner"))
            .unwrap();
        let mut after = expected(&[prefix, b"\n"].concat());
        after.insert("new".into(), "productivity-partner".into());
        assert_eq!(contents(&index), after, "cut at {cut}, after a link");
        assert_eq!(
            contents(&SessionIndex::open(p.sessions()).unwrap()),
            after,
            "cut at {cut}"
        );
        for session in after.keys() {
            let got = log.get(session).unwrap().map(|l| l.persona.to_string());
            assert_eq!(
                got.as_ref(),
                after.get(session),
                "cut at {cut}, then get({session})"
            );
        }
    }
}

#[test]
fn a_log_cut_at_every_byte_loads_and_takes_new_links() {
    cut_at_every_byte(false);
}

#[test]
fn a_compacted_log_cut_at_every_byte_loads_and_takes_new_links() {
    cut_at_every_byte(true);
}

#[test]
fn point_lookups_in_a_large_compacted_log_match_a_full_load() {
    let p = Project::new();
    let catalog = p.catalog();
    let ids = ["coach", "therapist", "story-teller"];
    let mut log = SessionLog::new(p.sessions()).with_durability(Durability::Buffered);
    for i in 0..3000 {
        log.link(&format!("session-{i:05}"), entry(&catalog, ids[i % 3]))
            .unwrap();
    }
    for i in (0..3000).step_by(7) {
        log.unlink(&format!("session-{i:05}")).unwrap();
    }
    log.compact().unwrap();
    for i in (0..3000).step_by(11) {
        log.link(&format!("session-{i:05}"), entry(&catalog, "coach"))
            .unwrap();
    }
    let index = SessionIndex::open(p.sessions()).unwrap();
    for i in 0..3000 {
        let s = format!("session-{i:05}");
        assert_eq!(log.get(&s).unwrap().as_ref(), index.cached(&s), "{s}");
    }
    for s in ["", "session-", "session-99999", "zzz", "a"] {
        if !s.is_empty() {
            assert_eq!(log.get(s).unwrap(), None);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Link(usize, usize),
    Unlink(usize),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..12usize, 0..4usize).prop_map(|(s, p)| Op::Link(s, p)),
        3 => (0..12usize).prop_map(Op::Unlink),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

const SESSIONS: [&str; 12] = [
    "a",
    "b",
    "c",
    "aa",
    "ab",
    "s-1",
    "S-1",
    "é",
    "🎭",
    "quote\"",
    "back\\slash",
    "a b",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_links_unlinks_and_compactions_match_a_model(ops in prop::collection::vec(op(), 1..40)) {
        let p = Project::new();
        let catalog = p.catalog();
        let ids = ["coach", "therapist", "story-teller", "journaling-assistant"];
        let mut model: HashMap<&str, &str> = HashMap::new();
        let mut index = SessionIndex::open(p.sessions()).unwrap().with_durability(Durability::Buffered);
        let mut other = SessionLog::new(p.sessions()).with_durability(Durability::Buffered);
        for (n, op) in ops.iter().enumerate() {
            match *op {
                Op::Link(s, id) => {
                    // Alternate writers: the index itself and another handle on the file.
                    if n % 2 == 0 {
                        index.link(SESSIONS[s], entry(&catalog, ids[id])).unwrap();
                    } else {
                        other.link(SESSIONS[s], entry(&catalog, ids[id])).unwrap();
                    }
                    model.insert(SESSIONS[s], ids[id]);
                }
                Op::Unlink(s) => {
                    let was = if n % 2 == 0 { index.unlink(SESSIONS[s]) } else { other.unlink(SESSIONS[s]) };
                    prop_assert_eq!(was.unwrap(), model.remove(SESSIONS[s]).is_some());
                }
                Op::Compact => {
                    index.compact().unwrap();
                }
                Op::Reopen => {
                    index = SessionIndex::open(p.sessions()).unwrap().with_durability(Durability::Buffered);
                }
            }
            for s in SESSIONS {
                let want = model.get(s).copied();
                let got = index.get(s).unwrap().map(|l| l.persona.to_string());
                prop_assert_eq!(got.as_deref(), want, "index, session {}", s);
                let got = other.get(s).unwrap().map(|l| l.persona.to_string());
                prop_assert_eq!(got.as_deref(), want, "point lookup, session {}", s);
            }
            prop_assert_eq!(index.len(), model.len());
        }
        prop_assert_eq!(contents(&SessionIndex::open(p.sessions()).unwrap()).len(), model.len());
    }
}

#[test]
fn the_default_sessions_file_is_beside_the_personas_directory() {
    let p = Project::new();
    p.ok(&["--dir", "personas", "session", "link", "s1", "coach"], 0);
    assert!(p.sessions().exists());
    let nested = p.dir.path().join("elsewhere");
    fs::create_dir(&nested).unwrap();
    let custom = nested.join("custom.jsonl");
    let out = p
        .command(&["session", "link", "s2", "coach"])
        .env("PERSONAS_SESSIONS", &custom)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(fs::read_to_string(&custom).unwrap().contains("\"s2\""));
    assert!(!fs::read_to_string(p.sessions()).unwrap().contains("\"s2\""));
    // A missing folder is created on the first write.
    let deep = p.dir.path().join("var/lib/personas/sessions.jsonl");
    p.ok(
        &[
            "--sessions",
            deep.to_str().unwrap(),
            "session",
            "link",
            "s3",
            "coach",
        ],
        0,
    );
    assert!(Path::new(&deep).exists());
}

#[test]
fn validate_without_sessions_ignores_the_index_and_reports_a_missing_one() {
    let p = Project::new();
    p.ok(&["validate"], 0);
    let out = p.run(&["validate", "--sessions", "missing.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
