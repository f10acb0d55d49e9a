//! The file backend's revisions file only: a crash at every byte of it, a full disk during a
//! link (a small tmpfs), and the temporary files a killed compaction leaves behind.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use personas::{Durability, SessionLog, SessionStore};

use super::{Project, entry};

const DEFAULT: &str = "journaling-assistant";

fn revisions_file(p: &Project) -> std::path::PathBuf {
    p.dir.path().join("sessions.revisions.jsonl")
}

#[test]
fn a_revisions_file_cut_at_every_byte_loads_loses_at_most_the_last_record_and_never_serves_wrong_content()
 {
    let p = Project::new();
    // Small personas, so that the file is short enough to cut at every byte.
    let ids = ["tiny-a", "tiny-b", "tiny-c"];
    for id in ids {
        fs::write(
            p.personas().join(format!("{id}.toml")),
            format!("name = \"{id}\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"You are {id}.\"\n"),
        )
        .unwrap();
    }
    let catalog = p.catalog();
    // Buffered: links that do not carry their revision's content (a durable link that brings
    // a new revision does, see the next test), so that only the revisions file holds it.
    let mut log = SessionLog::new(p.sessions()).with_durability(Durability::Buffered);
    for (i, id) in ids.iter().enumerate() {
        log.link(&format!("s{i}"), entry(&catalog, id)).unwrap();
    }
    drop(log);
    let full = fs::read(revisions_file(&p)).unwrap();
    // Where each record ends (the header is line 0).
    let ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(ends.len(), 1 + ids.len());
    let sessions = fs::read(p.sessions()).unwrap();
    for cut in 0..=full.len() {
        fs::write(revisions_file(&p), &full[..cut]).unwrap();
        fs::write(p.sessions(), &sessions).unwrap();
        let mut log = SessionLog::new(p.sessions()).with_durability(Durability::Buffered);
        for (i, id) in ids.iter().enumerate() {
            let e = entry(&catalog, id);
            let got = log
                .stored_revision(e.revision())
                .unwrap_or_else(|err| panic!("cut at {cut}: {err}"));
            // Record i is whole when the cut is at or after its newline.
            let whole = cut >= ends[i + 1];
            match got {
                Some(persona) => {
                    assert!(whole, "cut at {cut}: a torn record was served");
                    assert_eq!(*persona, *e.persona, "cut at {cut}: wrong content");
                }
                None => assert!(!whole, "cut at {cut}: record {i} lost"),
            }
        }
        // The next link ends the torn line and stores its revision again.
        log.link("again", entry(&catalog, "tiny-a")).unwrap();
        let stored = log
            .stored_revision(entry(&catalog, "tiny-a").revision())
            .unwrap();
        assert_eq!(stored.as_deref(), Some(&*entry(&catalog, "tiny-a").persona));
        let mut fresh = SessionLog::new(p.sessions());
        for (i, id) in ids.iter().enumerate() {
            let e = entry(&catalog, id);
            if cut >= ends[i + 1] || *id == "tiny-a" {
                let got = fresh.stored_revision(e.revision()).unwrap();
                assert_eq!(
                    got.as_deref(),
                    Some(&*e.persona),
                    "cut at {cut}, after a link"
                );
            }
        }
    }
}

/// A durable link that brings a new revision carries its content in its own line (one
/// append, one flush), the revisions file getting it without a flush: when a crash loses the
/// revisions file's records (or the whole file), the content is served from the link, and a
/// compaction writes it back into the revisions file.
#[test]
fn a_new_revision_travels_in_its_link_line_and_survives_losing_the_revisions_file() {
    let p = Project::new();
    let catalog = p.catalog();
    let coach = entry(&catalog, "coach");
    let mut log = SessionLog::new(p.sessions());
    log.link("s1", coach).unwrap();
    log.link("s2", coach).unwrap(); // reuses it: a plain link
    let text = fs::read_to_string(p.sessions()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].contains(r#","content":{"#), "{}", lines[1]);
    assert!(!lines[2].contains("content"), "{}", lines[2]);
    let full = fs::read(revisions_file(&p)).unwrap();
    let header_end = full.iter().position(|b| *b == b'\n').unwrap() + 1;
    for lost in [
        Some(&full[..header_end]),
        Some(&full[..full.len() - 7]),
        None,
    ] {
        match lost {
            Some(bytes) => fs::write(revisions_file(&p), bytes).unwrap(),
            None => fs::remove_file(revisions_file(&p)).unwrap(),
        }
        let mut one_shot = SessionLog::new(p.sessions());
        assert_eq!(
            one_shot
                .stored_revision(coach.revision())
                .unwrap()
                .as_deref(),
            Some(&*coach.persona)
        );
        let mut index = personas::SessionIndex::open(p.sessions()).unwrap();
        assert_eq!(index.skipped(), 0);
        for s in ["s1", "s2"] {
            let pinned = index.pinned(s, &catalog, DEFAULT).unwrap();
            assert_eq!(pinned.pinned.as_deref(), Some(&*coach.persona), "{s}");
        }
        if lost.is_none_or(|b| b.len() == header_end) {
            // Nothing torn: nothing to report either.
            p.ok(&["validate", "--sessions", "sessions.jsonl"], 0);
        }
    }
    // The revisions file is gone: compaction writes the content back into a new one, and the
    // log's lines no longer carry it.
    let c = SessionLog::new(p.sessions()).compact().unwrap();
    assert_eq!((c.sessions, c.revisions_kept), (2, 1));
    assert!(
        !fs::read_to_string(p.sessions())
            .unwrap()
            .contains("content")
    );
    let mut fresh = SessionLog::new(p.sessions());
    assert_eq!(
        fresh.stored_revision(coach.revision()).unwrap().as_deref(),
        Some(&*coach.persona)
    );
    assert_eq!(
        fresh.stored_revisions().unwrap(),
        vec![coach.revision().to_owned()]
    );
    // A damaged copy in the revisions file is still reported, not replaced by the link's.
    log.link("s3", entry(&catalog, "therapist")).unwrap();
    let text = fs::read_to_string(revisions_file(&p)).unwrap();
    fs::write(revisions_file(&p), text.replace("You are", "You were")).unwrap();
    let err = SessionLog::new(p.sessions())
        .stored_revision(entry(&catalog, "therapist").revision())
        .unwrap_err();
    assert!(
        matches!(err, personas::SessionError::RevisionMismatch { .. }),
        "{err}"
    );
}

/// Mounts a tmpfs of `size` at `dir`; `false` when this process may not mount.
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

/// Fills the file system that holds `dir` (a filler file, written until it is full).
fn fill(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut f = fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 512];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_link_on_a_full_disk_leaves_no_torn_record_in_either_file() {
    let p = Project::new();
    let mnt = p.dir.path().join("small");
    fs::create_dir(&mnt).unwrap();
    if !mount_tmpfs(&mnt, "256k") {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root and mount rights); the full-disk case was not exercised"
        );
        return;
    }
    let _unmount = Unmount(&mnt);
    let catalog = p.catalog();
    let path = mnt.join("sessions.jsonl");
    let mut log = SessionLog::new(&path);
    log.link("s0", entry(&catalog, "coach")).unwrap();
    // Bring the log to 60 bytes short of a page boundary, so that the next record needs a
    // new page: on a full tmpfs, part of it is written before the write fails.
    let size = || fs::metadata(&path).unwrap().len() as usize;
    let before = size();
    log.link("x", entry(&catalog, "coach")).unwrap();
    let overhead = size() - before - 1; // a link's bytes besides its session id
    loop {
        let len = size();
        let need = (len / 4096 + 1) * 4096 - 60 - len;
        if need > overhead && need - overhead <= 256 {
            log.link(&"p".repeat(need - overhead), entry(&catalog, "coach"))
                .unwrap();
            break;
        }
        log.link(&"q".repeat(100), entry(&catalog, "coach"))
            .unwrap();
    }
    assert_eq!(size() % 4096, 4096 - 60);
    let room = 60;
    let filler = fill(&mnt);

    let sessions_before = fs::read(&path).unwrap();
    let revisions_before = fs::read(mnt.join("sessions.revisions.jsonl")).unwrap();
    // A link at a stored revision (only the log grows), then one at a new revision (the
    // revisions file grows first): both fail, and both files are as they were.
    let long = "L".repeat(room + 10);
    let err = log.link(&long, entry(&catalog, "coach")).unwrap_err();
    assert!(err.to_string().contains("space"), "{err}");
    assert_eq!(
        fs::read(&path).unwrap(),
        sessions_before,
        "no torn record in the log"
    );
    let err = log.link("new", entry(&catalog, "therapist")).unwrap_err();
    assert!(err.to_string().contains("space"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), sessions_before);
    assert_eq!(
        fs::read(mnt.join("sessions.revisions.jsonl")).unwrap(),
        revisions_before,
        "no torn record in the revisions file"
    );

    // Room again: links work and nothing is unreadable.
    fs::remove_file(filler).unwrap();
    log.link(&long, entry(&catalog, "coach")).unwrap();
    log.link("new", entry(&catalog, "therapist")).unwrap();
    let mut index = personas::SessionIndex::open(&path).unwrap();
    assert_eq!(index.skipped(), 0);
    assert!(index.get(&long).unwrap().is_some());
    let pinned = index.pinned("new", &catalog, DEFAULT).unwrap();
    assert_eq!(
        pinned.pinned.as_deref(),
        Some(&*entry(&catalog, "therapist").persona)
    );
}

#[test]
fn a_killed_compaction_leaves_temporary_files_that_the_next_write_removes() {
    let p = Project::new();
    p.ok(&["session", "link", "s1", "coach"], 0);
    // A process that has exited: its pid names a dead writer.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    // One that is alive: its files must stay.
    let mut alive = Command::new("sleep").arg("30").spawn().unwrap();
    let dir = p.dir.path();
    let stale = [
        dir.join(format!(".sessions.jsonl.{dead_pid}.123.tmp")),
        dir.join(format!(".sessions.revisions.jsonl.{dead_pid}.456.tmp")),
    ];
    let live = dir.join(format!(".sessions.jsonl.{}.789.tmp", alive.id()));
    // What a compaction killed mid-write leaves: the start of a file, plausibly data.
    for path in stale.iter().chain([&live]) {
        fs::write(
            path,
            "{\"format\":\"personactl-sessions\",\"version\":1}\n{\"op\":\"link\",\"session\":\"ghost\",\"persona\":\"coach\",\"at\":\"2026-01-01T00:00:00Z\"}\n",
        )
        .unwrap();
    }
    let unrelated = dir.join(".sessions.jsonl.notes.tmp");
    fs::write(&unrelated, "mine").unwrap();

    assert_eq!(
        p.show_json("ghost")["persona"],
        serde_json::Value::Null,
        "never data"
    );
    p.ok(&["session", "link", "s2", "therapist"], 0);
    for path in &stale {
        assert!(!path.exists(), "{} left behind", path.display());
    }
    assert!(live.exists(), "a live writer's file is left alone");
    assert!(unrelated.exists(), "only our temporary names are touched");
    p.ok(&["session", "compact"], 0);
    assert!(live.exists());
    let _ = alive.kill();
    let _ = alive.wait();
    p.ok(&["session", "compact"], 0);
    assert!(!live.exists(), "removed once its writer is dead");
    assert_eq!(p.links().len(), 2);
    assert_eq!(p.show_json("ghost")["persona"], serde_json::Value::Null);
}

#[test]
fn validate_reports_tampered_and_torn_stored_revisions_at_their_lines() {
    let p = Project::new();
    p.ok(&["session", "link", "s1", "coach"], 0);
    p.ok(&["session", "link", "s2", "therapist"], 0);
    p.ok(&["validate", "--sessions", "sessions.jsonl"], 0);
    let path = revisions_file(&p);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header and two revisions: {text}");
    // Line 2: content changed by hand (still JSON, no longer its hash); a torn tail after it.
    let tampered = lines[1].replacen("\"name\":\"", "\"name\":\"X", 1);
    assert_ne!(tampered, lines[1]);
    let damaged = format!(
        "{}\n{tampered}\n{}\n{{\"revision\":\"ab",
        lines[0], lines[2]
    );
    fs::write(&path, damaged).unwrap();
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
    let found: Vec<(String, u64, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap(),
                d["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].0.ends_with("sessions.revisions.jsonl"),
        "{found:?}"
    );
    assert_eq!(found[0].1, 2);
    assert!(
        found[0].2.contains("does not hash to its revision"),
        "{found:?}"
    );
    assert_eq!(found[1].1, 4);
    assert!(found[1].2.contains("incomplete"), "{found:?}");
}
