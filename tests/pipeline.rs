//! One check pipeline: every write is refused exactly when `validate` would reject the
//! directory after it; named files are checked in the context of their directory; the
//! registry's incremental state equals a fresh full check. Regression tests are named after
//! what broke.

mod util;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use util::personactl;

/// A personas directory with the shipped defaults (`personactl init`).
fn init() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("q");
    personactl().arg("init").arg(&dir).run().success();
    (tmp, dir)
}

/// Every file under `dir` with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = walkdir(dir)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn validate_json(dir: &Path, paths: &[&Path]) -> (Option<i32>, Value) {
    let run = personactl()
        .personas(dir)
        .args(["validate", "--format", "json"])
        .args(paths)
        .run();
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "validate prints JSON ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    (run.code, json)
}

#[test]
fn set_of_an_alias_that_is_another_personas_id_is_refused() {
    let (_tmp, dir) = init();
    let before = snapshot(&dir);
    let run = personactl()
        .personas(&dir)
        .args(["set", "coach", "aliases", r#"["story-teller"]"#])
        .run()
        .code(1)
        .stderr_contains("id.duplicate");
    assert!(
        run.stderr.contains("story-teller"),
        "names the clash: {}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before, "a refused write changes nothing");
    personactl().personas(&dir).arg("validate").run().success();
}

#[test]
fn two_personas_given_one_alias_is_refused() {
    let (_tmp, dir) = init();
    personactl()
        .personas(&dir)
        .args(["set", "coach", "aliases", r#"["mentor"]"#])
        .run()
        .success();
    let before = snapshot(&dir);
    personactl()
        .personas(&dir)
        .args(["set", "therapist", "aliases", r#"["mentor"]"#])
        .run()
        .code(1)
        .stderr_contains("also an alias of");
    assert_eq!(snapshot(&dir), before);
    personactl().personas(&dir).arg("validate").run().success();
}

#[test]
fn a_directory_invalid_elsewhere_stays_editable() {
    let (_tmp, dir) = init();
    fs::write(dir.join("broken.toml"), "name = \n").expect("write");
    personactl()
        .personas(&dir)
        .args(["set", "coach", "name", "Coach Two"])
        .run()
        .success();
    let text = fs::read_to_string(dir.join("coach.toml")).expect("read");
    assert!(text.contains("name = \"Coach Two\""), "{text}");
}

#[test]
fn validate_of_a_named_file_sees_its_parent_in_the_directory() {
    let (_tmp, dir) = init();
    let kid = dir.join("kid.toml");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pipeline/kid.toml"),
        &kid,
    )
    .expect("copy the fixture");
    // Another file of the directory is broken: not named, so not reported.
    fs::write(dir.join("broken.toml"), "name = \n").expect("write");
    let (code, json) = validate_json(&dir, &[&kid]);
    assert_eq!(json["diagnostics"], Value::Array(Vec::new()), "{json}");
    assert_eq!(json["files"], 1);
    assert_eq!(code, Some(0));
    // The parent gone: the named file's own problem is reported, at its `extends`.
    fs::remove_file(dir.join("coach.toml")).expect("rm");
    let (code, json) = validate_json(&dir, &[&kid]);
    assert_eq!(code, Some(1));
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "extends.missing", "{json}");
    assert_eq!(d["path"], kid.display().to_string());
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(11))
    );
    assert_eq!(json["diagnostics"].as_array().map(Vec::len), Some(1));
}

#[test]
fn validate_of_a_named_file_reports_a_duplicate_id_in_another_folder() {
    let (_tmp, dir) = init();
    fs::create_dir(dir.join("team")).expect("mkdir");
    let copy = dir.join("team/coach.toml");
    fs::copy(dir.join("coach.toml"), &copy).expect("copy");
    let (code, json) = validate_json(&dir, &[&copy]);
    assert_eq!(code, Some(1));
    assert_eq!(json["diagnostics"][0]["code"], "id.duplicate", "{json}");
    assert_eq!(json["diagnostics"].as_array().map(Vec::len), Some(1));
}

#[test]
fn session_link_to_an_invalid_persona_says_it_is_invalid_and_where() {
    let (tmp, dir) = init();
    let coach = dir.join("coach.toml");
    let text = fs::read_to_string(&coach).expect("read");
    fs::write(&coach, text.replace("name = \"Coach\"", "name = 5")).expect("write");
    let run = personactl()
        .personas(&dir)
        .arg("--sessions")
        .arg(tmp.path().join("s.jsonl"))
        .args(["session", "link", "s1", "coach"])
        .run()
        .code(1)
        .stderr_contains("persona `coach` is invalid");
    assert!(
        run.stderr.contains(&format!("{}:", coach.display())),
        "gives the position: {}",
        run.stderr
    );
    assert!(run.stderr.contains("personactl validate"), "{}", run.stderr);
    assert!(!tmp.path().join("s.jsonl").exists(), "nothing was linked");
}

#[test]
fn writes_leave_no_lock_file_in_the_personas_directory() {
    let (_tmp, dir) = init();
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = walkdir(dir)
            .iter()
            .map(|p| p.strip_prefix(dir).expect("inside").display().to_string())
            .collect();
        v.sort();
        v
    };
    let before = names(&dir);
    for args in [
        vec!["set", "coach", "model.temperature", "0.3"],
        vec!["mv", "coach", "mentor"],
        vec![
            "new",
            "poet",
            "--name",
            "Poet",
            "--description",
            "Writes poems.",
            "--icon",
            "🪶",
            "--system-prompt",
            "You write short poems.",
        ],
        vec!["rm", "poet"],
    ] {
        personactl().personas(&dir).args(&args).run().success();
    }
    let after = names(&dir);
    let expected: Vec<String> = before
        .iter()
        .map(|n| n.replace("coach.toml", "mentor.toml"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(after, expected, "only persona files are left");
}

#[test]
fn mv_of_the_default_persona_is_refused() {
    let (_tmp, dir) = init();
    let before = snapshot(&dir);
    personactl()
        .personas(&dir)
        .args(["mv", "journaling-assistant", "diary"])
        .run()
        .code(1)
        .stderr_contains("default persona")
        .stderr_contains("--default-persona");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn mv_of_a_parent_others_extend_is_refused_and_names_them() {
    let (_tmp, dir) = init();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pipeline/kid.toml"),
        dir.join("kid.toml"),
    )
    .expect("copy");
    let before = snapshot(&dir);
    let run = personactl()
        .personas(&dir)
        .args(["mv", "coach", "mentor"])
        .run()
        .code(1);
    assert!(
        run.stderr.contains("kid"),
        "names the child: {}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before);
}

#[cfg(unix)]
#[test]
fn symlinks_dangling_looping_or_leaving_the_directory_are_one_diagnostic_each() {
    use std::os::unix::fs::symlink;
    let (tmp, dir) = init();
    let secret = tmp.path().join("credentials.toml");
    fs::write(&secret, "api_key = \"sk-very-secret-value\"\n").expect("write");
    symlink(&secret, dir.join("leak.toml")).expect("link out");
    symlink(dir.join("nowhere.toml"), dir.join("dangling.toml")).expect("dangling");
    fs::create_dir(dir.join("loop")).expect("mkdir");
    symlink(&dir, dir.join("loop/back")).expect("loop");
    // A link that stays inside the directory is followed.
    fs::create_dir(dir.join("shared")).expect("mkdir");
    fs::rename(dir.join("coach.toml"), dir.join("shared/real-coach.toml")).expect("mv");
    symlink(dir.join("shared/real-coach.toml"), dir.join("coach.toml")).expect("link in");
    for format in ["human", "json"] {
        let run = personactl()
            .personas(&dir)
            .args(["validate", "--format", format])
            .run();
        assert!(
            !run.stdout.contains("sk-very-secret") && !run.stderr.contains("sk-very-secret"),
            "no content of a file outside the directory is shown:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
    let (code, json) = validate_json(&dir, &[]);
    assert_eq!(code, Some(2), "unreadable entries are I/O problems: {json}");
    let found: Vec<(String, String)> = json["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            let path = d["path"].as_str().unwrap_or_default();
            let name = Path::new(path)
                .strip_prefix(&dir)
                .map_or(path.to_owned(), |p| p.display().to_string());
            (name, d["message"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"leak.toml"), "{found:?}");
    assert!(names.contains(&"dangling.toml"), "{found:?}");
    assert!(names.iter().any(|n| n.starts_with("loop")), "{found:?}");
    // Everything else still loads: the linked coach, the other defaults; nothing else is an error.
    assert!(
        !names
            .iter()
            .any(|n| n.contains("coach") || n.contains("shared")),
        "{found:?}"
    );
    personactl()
        .personas(&dir)
        .args(["list", "--format", "json"])
        .run()
        .success()
        .stdout_contains("\"coach\"");
    personactl()
        .personas(&dir)
        .args(["set", "therapist", "model.temperature", "0.4"])
        .run()
        .success();
}

#[test]
fn a_batch_is_checked_as_one_change() {
    use personas::{Store, StoreError, WriteOp};
    let (_tmp, dir) = init();
    let store = Store::new(&dir);
    let child = "extends = \"mentor\"\nname = \"Junior\"\n".to_owned();
    let parent = fs::read_to_string(dir.join("coach.toml"))
        .expect("read")
        .replace("name = \"Coach\"", "name = \"Mentor\"");
    // Alone, the child is refused: its parent does not exist yet.
    let alone = store.apply(&[WriteOp::Create {
        id: "junior".into(),
        text: child.clone(),
    }]);
    assert!(
        matches!(alone, Err(StoreError::Invalid { .. })),
        "{alone:?}"
    );
    assert!(!dir.join("junior.toml").exists());
    // With its parent in the same batch, both are written.
    let paths = store
        .apply(&[
            WriteOp::Create {
                id: "junior".into(),
                text: child,
            },
            WriteOp::Create {
                id: "mentor".into(),
                text: parent,
            },
        ])
        .expect("accepted");
    assert_eq!(paths, [dir.join("junior.toml"), dir.join("mentor.toml")]);
    personactl()
        .arg("--dir")
        .arg(&dir)
        .arg("validate")
        .run()
        .assert_exit(0);
    // One id twice in a batch is a conflict, and nothing is written.
    let before = snapshot(&dir);
    let twice = store.apply(&[
        WriteOp::Delete {
            id: "junior".into(),
        },
        WriteOp::Delete {
            id: "junior".into(),
        },
    ]);
    assert!(
        matches!(twice, Err(StoreError::Conflict { .. })),
        "{twice:?}"
    );
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn a_bulk_batch_refuses_each_bad_write_alone_and_writes_the_rest() {
    use personas::{Store, WriteOp};
    let (_tmp, dir) = init();
    let store = Store::new(&dir);
    let good = |n: usize| WriteOp::Create {
        id: format!("helper-{n}"),
        text: format!("name = \"Helper {n}\"\nsystem_prompt = \"You help with task {n}.\"\n"),
    };
    // More writes than the per-file flush threshold, so the one-flush path is the one taken.
    let mut ops: Vec<WriteOp> = (0..40).map(good).collect();
    // Bad on its own (no system prompt) …
    ops.push(WriteOp::Create {
        id: "broken".into(),
        text: "name = \"Broken\"\n".into(),
    });
    // … and bad only beside the others: its alias is another write's id.
    ops.push(WriteOp::Create {
        id: "thief".into(),
        text: "name = \"Thief\"\nsystem_prompt = \"x\"\naliases = [\"helper-3\"]\n".into(),
    });
    // A child whose parent is refused: refused in the next round.
    ops.push(WriteOp::Create {
        id: "orphan".into(),
        text: "extends = \"broken\"\nname = \"Orphan\"\n".into(),
    });
    let applied = store.apply_each(&ops).expect("the good part is accepted");
    let refused: Vec<&str> = applied.refused.iter().map(|(i, _)| ops[*i].id()).collect();
    assert!(
        refused.contains(&"broken") && refused.contains(&"orphan"),
        "{refused:?}"
    );
    assert!(
        applied.refused.iter().all(|(_, d)| !d.is_empty()),
        "every refusal says why: {:?}",
        applied.refused
    );
    for (i, op) in ops.iter().enumerate() {
        let written = dir.join(format!("{}.toml", op.id())).exists();
        let was_refused = applied.refused.iter().any(|(r, _)| *r == i);
        assert_eq!(written, !was_refused, "{}", op.id());
    }
    // What was written is exactly what validate accepts, and no temp file is left.
    personactl()
        .arg("--dir")
        .arg(&dir)
        .arg("validate")
        .run()
        .assert_exit(0);
    let temps: Vec<PathBuf> = walkdir(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".personactl-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    // The all-or-nothing batch refuses the same batch whole and writes nothing.
    let (_tmp2, dir2) = init();
    let before = snapshot(&dir2);
    let whole = Store::new(&dir2).apply(&ops);
    assert!(whole.is_err(), "{whole:?}");
    assert_eq!(snapshot(&dir2), before);
}

#[cfg(unix)]
#[test]
fn a_batch_replace_writes_through_a_link_inside_and_refuses_one_outside() {
    use personas::{Store, StoreError, WriteOp};
    let (_tmp, dir) = init();
    let outside = tempfile::tempdir().expect("tempdir");
    let coach = fs::read_to_string(dir.join("coach.toml")).expect("read");
    fs::create_dir(dir.join("shared")).expect("mkdir");
    fs::rename(dir.join("coach.toml"), dir.join("shared/real-coach.toml")).expect("mv");
    std::os::unix::fs::symlink("shared/real-coach.toml", dir.join("coach.toml")).expect("ln");
    let edited = coach.replace("name = \"Coach\"", "name = \"Trainer\"");
    let store = Store::new(&dir);
    store
        .apply(&[WriteOp::Replace {
            id: "coach".into(),
            text: edited.clone(),
        }])
        .expect("written through the link");
    assert!(
        fs::symlink_metadata(dir.join("coach.toml"))
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(dir.join("shared/real-coach.toml")).expect("read"),
        edited
    );
    // A link to a file outside the directory is never written through.
    let foreign = outside.path().join("foreign.toml");
    fs::write(&foreign, &coach).expect("write");
    fs::remove_file(dir.join("coach.toml")).expect("rm");
    std::os::unix::fs::symlink(&foreign, dir.join("coach.toml")).expect("ln");
    let refused = store.apply(&[WriteOp::Replace {
        id: "coach".into(),
        text: edited,
    }]);
    // (The link is not a persona file of the directory at all: the write finds no `coach`.)
    assert!(
        matches!(
            refused,
            Err(StoreError::LinkOutside { .. } | StoreError::NotFound { .. })
        ),
        "{refused:?}"
    );
    assert_eq!(fs::read_to_string(&foreign).expect("read"), coach);
}

#[test]
fn a_base_edit_that_pushes_a_child_over_its_budget_gets_one_verdict_from_disk_and_registry() {
    use personas::{Registry, Store, StoreError};
    let (_tmp, dir) = init();
    fs::write(
        dir.join("base.toml"),
        "name = \"Base\"\ndescription = \"d\"\nicon = \"🧱\"\nsystem_prompt = \"Be brief.\"\n",
    )
    .expect("write");
    fs::write(
        dir.join("child.toml"),
        "extends = \"base\"\nname = \"Child\"\nsystem_prompt = \"{{parent}} Be kind.\"\n\n[model]\nmax_prompt_tokens = 12\n",
    )
    .expect("write");
    personactl()
        .arg("--dir")
        .arg(&dir)
        .arg("validate")
        .run()
        .assert_exit(0);
    let long = "Be brief and say it in many more words than any budget allows. ".repeat(4);
    let disk = Store::new(&dir).set("base", "system_prompt", &format!("{long:?}"));
    let registry = Registry::open(&dir).expect("open");
    let live =
        Store::new(&dir)
            .with_registry(registry)
            .set("base", "system_prompt", &format!("{long:?}"));
    assert!(
        matches!(disk, Err(StoreError::Invalid { .. })),
        "the child would be over its budget: {disk:?}"
    );
    assert!(
        matches!(live, Err(StoreError::Invalid { .. })),
        "the registry-backed store must agree: {live:?}"
    );
}

#[test]
fn the_child_of_a_parent_over_its_budget_is_left_out_by_validate_and_the_registry_alike() {
    use personas::Registry;
    let (_tmp, dir) = init();
    let long = "Answer every question at great length with many examples. ".repeat(8);
    fs::write(
        dir.join("base.toml"),
        format!(
            "name = \"Base\"\ndescription = \"d\"\nicon = \"🧱\"\nsystem_prompt = {long:?}\n\n[model]\nmax_prompt_tokens = 20\n"
        ),
    )
    .expect("write");
    // Complete on its own (its own prompt, under the budget it inherits): still left out,
    // because its parent is.
    fs::write(
        dir.join("child.toml"),
        "extends = \"base\"\nname = \"Child\"\ndescription = \"c\"\nicon = \"🌱\"\nsystem_prompt = \"Be kind.\"\n",
    )
    .expect("write");
    let (code, json) = validate_json(&dir, &[]);
    assert_eq!(code, Some(1), "{json}");
    let mut from_validate: Vec<(String, String)> = json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            let file = Path::new(d["path"].as_str().expect("path"));
            let name = file
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, d["code"].as_str().expect("code").to_owned())
        })
        .collect();
    from_validate.sort();
    assert_eq!(
        from_validate,
        [
            ("base.toml".to_owned(), "budget.prompt-tokens".to_owned()),
            ("child.toml".to_owned(), "extends.invalid-parent".to_owned()),
        ]
    );
    let registry = Registry::open(&dir).expect("open");
    let mut from_registry: Vec<(String, String)> = registry
        .status()
        .errors
        .iter()
        .map(|d| {
            let name = d
                .path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, d.code.as_str().to_owned())
        })
        .collect();
    from_registry.sort();
    assert_eq!(from_registry, from_validate);
    let snapshot = registry.snapshot();
    assert!(snapshot.get("base").is_none() && snapshot.get("child").is_none());
}
