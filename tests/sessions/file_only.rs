//! The file backend only: torn writes, a log cut at every byte, compaction and binary search,
//! files that are not an index, and the default location.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use personas::{Durability, SessionIndex, SessionLog};
use serde_json::Value;

use super::{Project, entry, refused_commands};

#[test]
fn refused_inputs_leave_a_torn_file_byte_for_byte_unchanged() {
    let p = Project::new();
    let long = "x".repeat(257);
    // A file ending in a torn line: the case a careless writer would "repair".
    p.ok(&["session", "link", "s1", "coach"], 0);
    let mut bytes = fs::read(p.sessions()).unwrap();
    bytes.extend_from_slice(br#"{"op":"link","sess"#);
    fs::write(p.sessions(), &bytes).unwrap();
    for args in refused_commands(&long) {
        p.ok(&args, 1);
        assert_eq!(
            fs::read(p.sessions()).unwrap(),
            bytes,
            "{args:?} changed the file"
        );
    }
    // A file that is not a sessions index is never written to.
    let coach = p.personas().join("coach.toml");
    let before = fs::read(&coach).unwrap();
    p.cmd(&[
        "--sessions",
        coach.to_str().unwrap(),
        "session",
        "link",
        "s1",
        "coach",
    ])
    .run()
    .code(2)
    .stderr_contains("not a personactl sessions index");
    assert_eq!(fs::read(&coach).unwrap(), before);
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

    let report = p
        .cmd(&[
            "validate",
            "--sessions",
            "sessions.jsonl",
            "--format",
            "json",
        ])
        .run()
        .code(1)
        .stdout_json();
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

#[test]
fn the_default_sessions_file_is_beside_the_personas_directory() {
    let p = Project::new();
    p.ok(&["--dir", "personas", "session", "link", "s1", "coach"], 0);
    assert!(p.sessions().exists());
    let nested = p.dir.path().join("elsewhere");
    fs::create_dir(&nested).unwrap();
    let custom = nested.join("custom.jsonl");
    p.cmd(&["session", "link", "s2", "coach"])
        .env("PERSONAS_SESSIONS", &custom)
        .run()
        .success();
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
    p.cmd(&["validate", "--sessions", "missing.jsonl"])
        .run()
        .code(2)
        .stderr_contains("does not exist");
}
