//! Managing personas as files: `new`, `set`, `rm`, `mv`, `edit` through the real binary, and
//! the `Store` library under concurrent writers.

mod util;

use std::path::Path;

use personas::{Store, StoreError, check_file};
use util::{TempTree, personactl};

const COACH: &str = include_str!("fixtures/valid/coach-extensions.toml");

fn tree() -> TempTree {
    TempTree::new().file("p/coach.toml", COACH)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("readable")
}

/// Lines that differ between two texts of equal line structure.
fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
    a.lines()
        .zip(b.lines())
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.to_owned(), y.to_owned()))
        .collect()
}

#[test]
fn set_changes_one_line_and_keeps_comments() {
    let t = tree();
    personactl()
        .personas(t.path("p"))
        .args(["set", "coach", "model.temperature", "0.4"])
        .run()
        .success();
    let after = read(&t.path("p/coach.toml"));
    assert_eq!(
        changed_lines(COACH, &after),
        [(
            "temperature = 0.6".to_owned(),
            "temperature = 0.4".to_owned()
        )]
    );
    assert_eq!(COACH.lines().count(), after.lines().count());
}

#[test]
fn set_keeps_a_trailing_comment_on_the_changed_value() {
    let t = tree();
    personactl()
        .personas(t.path("p"))
        .args(["set", "coach", "name", "Trainer"])
        .run()
        .success();
    let after = read(&t.path("p/coach.toml"));
    assert!(
        after.contains("name = \"Trainer\"        # shown in the picker"),
        "{after}"
    );
    assert!(
        after.contains("ui = { accent = \"teal\", pinned = true }"),
        "extensions intact: {after}"
    );
}

#[test]
fn set_parses_values_to_the_keys_type() {
    let t = tree();
    let dir = t.path("p");
    personactl()
        .personas(&dir)
        .args(["set", "coach", "tags", r#"["goals", "habits"]"#])
        .run()
        .success();
    personactl()
        .personas(&dir)
        .args(["set", "coach", "order", "-3"])
        .run()
        .success();
    personactl()
        .personas(&dir)
        .args(["set", "coach", "hidden", "true"])
        .run()
        .success();
    personactl()
        .personas(&dir)
        .args(["set", "coach", "greeting", "42"])
        .run()
        .success();
    personactl()
        .personas(&dir)
        .args(["set", "coach", "model.max_tokens", "512"])
        .run()
        .success();
    let p = check_file(&t.path("p/coach.toml"))
        .persona
        .expect("still valid");
    assert_eq!(p.tags, ["goals", "habits"]);
    assert_eq!(p.order, Some(-3));
    assert!(p.hidden);
    assert_eq!(
        p.greeting.as_deref(),
        Some("42"),
        "a string key takes the value as written"
    );
    assert_eq!(p.model.and_then(|m| m.max_tokens), Some(512));
    personactl()
        .personas(&dir)
        .args(["set", "coach", "greeting", "--unset"])
        .run()
        .success();
    assert_eq!(
        check_file(&t.path("p/coach.toml"))
            .persona
            .unwrap()
            .greeting,
        None
    );
}

#[test]
fn invalid_set_is_refused_and_leaves_the_file_byte_for_byte() {
    let t = tree();
    let dir = t.path("p");
    for (key, value) in [
        ("model.temperature", "3"),
        ("name", ""),
        ("tags", "\"not a list\""),
        ("hidden", "maybe"),
    ] {
        let run = personactl()
            .personas(&dir)
            .args(["set", "coach", key, value])
            .run()
            .code(1);
        assert!(
            run.stderr.contains("nothing was written"),
            "{key}: {}",
            run.stderr
        );
        assert_eq!(read(&t.path("p/coach.toml")), COACH, "{key}");
    }
    personactl()
        .personas(&dir)
        .args(["set", "coach", "model.temperature", "3"])
        .run()
        .stderr_contains("error[schema.range]: `model.temperature` 3 is above the maximum 2");
    personactl()
        .personas(&dir)
        .args(["set", "coach", "system_promt", "x"])
        .run()
        .code(1)
        .stderr_contains("did you mean `system_prompt`?");
    personactl()
        .personas(&dir)
        .args(["set", "nobody", "name", "x"])
        .run()
        .code(1);
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count(),
        1
    );
}

#[test]
fn new_writes_a_valid_hand_written_looking_file() {
    let t = tree();
    let dir = t.path("p");
    personactl()
        .personas(&dir)
        .args([
            "new",
            "editor",
            "--name",
            "Editor",
            "--description",
            "Edits prose.",
            "--icon",
            "✍️",
        ])
        .args([
            "--system-prompt",
            "You edit prose.\nKeep the author's voice.\n",
            "--tag",
            "writing",
            "--temperature",
            "0.3",
        ])
        .run()
        .success();
    let text = read(&t.path("p/editor.toml"));
    assert!(
        text.starts_with("#:schema ../schema/persona.schema.json\n"),
        "{text}"
    );
    assert!(
        text.contains("system_prompt = \"\"\"\nYou edit prose.\nKeep the author's voice.\n\"\"\""),
        "{text}"
    );
    assert!(text.contains("[model]\ntemperature = 0.3"), "{text}");
    personactl()
        .personas(&dir)
        .args(["--default-persona", "coach", "validate"])
        .run()
        .success();
}

#[test]
fn new_refuses_existing_ids_missing_fields_and_path_tricks() {
    let t = tree();
    let dir = t.path("p");
    personactl()
        .personas(&dir)
        .args(["new", "coach", "--from", "coach"])
        .run()
        .code(1)
        .stderr_contains("already exists");
    personactl()
        .personas(&dir)
        .args(["new", "x", "--name", "X"])
        .run()
        .code(2)
        .stderr_contains("missing --description, --icon, --system-prompt");
    for id in [
        "../escape",
        "/tmp/abs",
        "a/b",
        "UPPER",
        "%2e%2e",
        ".hidden",
        "",
    ] {
        let run = personactl()
            .personas(&dir)
            .args(["new", id, "--from", "coach"])
            .run();
        assert_ne!(run.code, Some(0), "{id:?} must be refused");
    }
    assert!(!t.path("escape.toml").exists());
    let persona = personas::check_text(Path::new("coach.toml"), COACH)
        .persona
        .expect("COACH is valid");
    let store = Store::new(&dir);
    assert!(matches!(
        store.create("nul\0byte", &persona),
        Err(StoreError::InvalidId { .. })
    ));
    assert!(matches!(
        store.delete("../p/coach"),
        Err(StoreError::InvalidId { .. })
    ));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n == "coach.toml"), "{names:?}");
}

#[test]
fn new_from_copies_everything_but_aliases() {
    let t = TempTree::new().file(
        "p/coach.toml",
        &COACH.replace("name = ", "aliases = [\"trainer\"]\nname = "),
    );
    let dir = t.path("p");
    personactl()
        .personas(&dir)
        .args(["new", "coach-2", "--from", "coach", "--name", "Coach Two"])
        .run()
        .success();
    let copy = check_file(&t.path("p/coach-2.toml"))
        .persona
        .expect("valid copy");
    assert_eq!(copy.name, "Coach Two");
    assert_eq!(copy.description, "Helps you reach a goal.");
    assert!(copy.aliases.is_empty());
    assert_eq!(copy.extensions["ui"]["accent"], "teal");
}

#[test]
fn mv_keeps_the_old_id_as_an_alias() {
    let t = tree();
    let dir = t.path("p");
    personactl()
        .personas(&dir)
        .args(["mv", "coach", "mentor"])
        .run()
        .success();
    assert!(!t.path("p/coach.toml").exists());
    let p = check_file(&t.path("p/mentor.toml")).persona.expect("valid");
    assert_eq!(p.aliases, ["coach"]);
    personactl()
        .personas(&dir)
        .args(["show", "coach", "--format", "json"])
        .run()
        .success()
        .stdout_contains("\"id\": \"mentor\"");
    assert!(read(&t.path("p/mentor.toml")).contains("# warm but focused"));
    personactl()
        .personas(&dir)
        .args(["mv", "nobody", "x"])
        .run()
        .code(1);
}

#[test]
fn rm_deletes_but_guards_the_default_persona() {
    let t = tree().file("p/journaling-assistant.toml", COACH);
    let dir = t.path("p");
    personactl()
        .personas(&dir)
        .args(["rm", "coach"])
        .run()
        .success();
    assert!(!t.path("p/coach.toml").exists());
    personactl()
        .personas(&dir)
        .args(["rm", "coach"])
        .run()
        .code(1);
    personactl()
        .personas(&dir)
        .args(["rm", "journaling-assistant"])
        .run()
        .code(1);
    assert!(t.path("p/journaling-assistant.toml").exists());
    personactl()
        .personas(&dir)
        .args(["rm", "journaling-assistant", "--force"])
        .run()
        .success();
}

/// An `$EDITOR` that runs the shell commands in `script` on the file ($1), counting its calls
/// in `calls` so that a second call can do something else.
fn editor(t: &TempTree, script: &str) -> String {
    let path = t.path("editor.sh");
    std::fs::write(&path, format!("#!/bin/sh\nf=\"$1\"\nn=$(cat {calls} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {calls}\n{script}\n", calls = t.path("calls").display())).unwrap();
    format!("sh {}", path.display())
}

#[test]
fn edit_writes_a_valid_edit() {
    let t = tree();
    let ed = editor(&t, "sed -i 's/temperature = 0.6/temperature = 0.9/' \"$f\"");
    personactl()
        .personas(t.path("p"))
        .args(["edit", "coach"])
        .env("EDITOR", &ed)
        .env("VISUAL", "")
        .run()
        .success();
    assert_eq!(
        changed_lines(COACH, &read(&t.path("p/coach.toml"))).len(),
        1
    );
}

#[test]
fn edit_reopens_an_invalid_edit_with_the_problems_on_top() {
    let t = tree();
    // First save: temperature 7 (invalid). Second: copy what the editor saw, then fix it.
    let script = format!(
        "if [ $n = 1 ]; then sed -i 's/temperature = 0.6/temperature = 7/' \"$f\"; else cp \"$f\" {seen}; sed -i 's/temperature = 7/temperature = 0.7/' \"$f\"; fi",
        seen = t.path("seen.toml").display()
    );
    let ed = editor(&t, &script);
    personactl()
        .personas(t.path("p"))
        .args(["edit", "coach"])
        .env("EDITOR", &ed)
        .env("VISUAL", "")
        .run()
        .success();
    let seen = read(&t.path("seen.toml"));
    assert!(seen.starts_with("#| This edit is not valid"), "{seen}");
    // The block is 3 lines; the bad value is on line 12 of the file, so line 15 as shown.
    assert!(
        seen.contains("line 15, column 15: error[schema.range]"),
        "{seen}"
    );
    assert_eq!(seen.lines().nth(14), Some("temperature = 7"));
    let after = read(&t.path("p/coach.toml"));
    assert!(
        after.contains("temperature = 0.7") && !after.contains("#|"),
        "{after}"
    );
}

#[test]
fn edit_saved_again_without_a_fix_writes_nothing() {
    let t = tree();
    let ed = editor(
        &t,
        "if [ $n = 1 ]; then sed -i 's/^icon = .*$//' \"$f\"; fi",
    );
    personactl()
        .personas(t.path("p"))
        .args(["edit", "coach"])
        .env("EDITOR", &ed)
        .env("VISUAL", "")
        .run()
        .code(1)
        .stderr_contains("edit cancelled");
    assert_eq!(read(&t.path("p/coach.toml")), COACH);
}

#[test]
fn store_replace_touches_only_changed_keys() {
    let t = tree();
    let store = Store::new(t.path("p"));
    let mut p = check_file(&t.path("p/coach.toml")).persona.unwrap();
    p.description = "Helps you reach a goal, one step at a time.".into();
    p.tags = vec!["goals".into()];
    p.model = None;
    store.replace("coach", &p).unwrap();
    let after = read(&t.path("p/coach.toml"));
    assert!(after.contains("# The coach persona. Reviewed by the wellbeing team."));
    assert!(after.contains("name = \"Coach\"        # shown in the picker"));
    assert!(after.contains("description = \"Helps you reach a goal, one step at a time.\""));
    assert!(!after.contains("[model]"), "a removed table goes: {after}");
    assert!(after.contains("ui = { accent = \"teal\", pinned = true }"));
    assert_eq!(check_file(&t.path("p/coach.toml")).persona.unwrap(), p);
}

#[test]
fn concurrent_creates_of_one_id_have_exactly_one_winner() {
    let t = TempTree::new();
    let dir = t.path("p");
    let persona = check_file(&tree().path("p/coach.toml")).persona;
    let persona = persona.unwrap_or_else(|| {
        personas::check_text(Path::new("coach.toml"), COACH)
            .persona
            .expect("COACH is valid")
    });
    let results: Vec<Result<_, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = Store::new(&dir);
                let mut p = persona.clone();
                p.name = format!("Writer {i}");
                s.spawn(move || store.create("same", &p))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Conflict { .. }))
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n == "same.toml"),
        "no temp files left: {names:?}"
    );
    assert!(check_file(&dir.join("same.toml")).is_valid());
}

#[test]
fn concurrent_creates_of_distinct_ids_all_succeed() {
    let t = TempTree::new();
    let dir = t.path("p");
    let persona = personas::check_text(Path::new("coach.toml"), COACH)
        .persona
        .expect("COACH is valid");
    std::thread::scope(|s| {
        for i in 0..8 {
            let store = Store::new(&dir);
            let p = persona.clone();
            s.spawn(move || {
                store
                    .create(&format!("p-{i}"), &p)
                    .expect("distinct ids do not conflict")
            });
        }
    });
    assert_eq!(personas::discover(&dir).unwrap().len(), 8);
}

#[test]
fn writes_check_the_family_and_deletes_keep_children_whole() {
    let t = tree().file("p/junior.toml", "extends = \"coach\"\nname = \"Junior\"\n");
    let dir = t.path("p");
    let before = read(&t.path("p/junior.toml"));
    personactl()
        .personas(&dir)
        .args(["set", "junior", "extends", "nobody"])
        .run()
        .code(1)
        .stderr_contains("extends.missing");
    assert_eq!(read(&t.path("p/junior.toml")), before, "nothing written");
    personactl()
        .personas(&dir)
        .args(["set", "junior", "system_prompt", "Hi {{mood}}"])
        .run()
        .code(1)
        .stderr_contains("vars.undeclared");
    personactl()
        .personas(&dir)
        .args(["set", "junior", "greeting", "Hello!"])
        .run()
        .success();

    personactl()
        .personas(&dir)
        .args(["rm", "coach"])
        .run()
        .code(1)
        .stderr_contains("extended by junior");
    assert!(t.path("p/coach.toml").exists());
    personactl()
        .personas(&dir)
        .args(["rm", "junior"])
        .run()
        .success();
    personactl()
        .personas(&dir)
        .args(["rm", "coach"])
        .run()
        .success();
}

#[test]
fn a_writer_killed_mid_write_never_leaves_a_partial_file() {
    let t = tree();
    let dir = t.path("p");
    let path = t.path("p/coach.toml");
    let mut seen_new = 0;
    for i in 0..40u64 {
        let before = check_file(&path).persona.expect("valid before every write");
        let mut child = personactl()
            .personas(&dir)
            .args([
                "set",
                "coach",
                "description",
                &format!("Version {i}: {}", "x".repeat(400)),
            ])
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("personactl runs");
        // Kill it at a different moment each time: before, during or after the write.
        std::thread::sleep(std::time::Duration::from_micros((i * 797) % 16_000));
        let _ = child.kill();
        let _ = child.wait();
        let after = check_file(&path);
        let persona = after.persona.unwrap_or_else(|| {
            panic!(
                "round {i}: the file is not a valid persona: {:?}",
                after.diagnostics
            )
        });
        assert!(
            persona.description == before.description
                || persona.description.starts_with(&format!("Version {i}:")),
            "round {i}: neither the old nor the new content: {}",
            persona.description
        );
        seen_new += usize::from(persona.description != before.description);
        assert!(
            read(&path).contains("# warm but focused"),
            "round {i}: comments kept"
        );
    }
    // Leftover temp files of killed writers are hidden, so never read as personas.
    assert_eq!(personas::discover(&dir).unwrap().len(), 1);
    eprintln!("{seen_new} of 40 killed writers had completed their write");
}

#[test]
fn an_mv_killed_at_any_moment_leaves_one_file_and_a_valid_directory() {
    let t = TempTree::new().defaults("p").file("p/coach.toml", COACH);
    let dir = t.path("p");
    let mut current = "coach".to_owned();
    let mut moved = 0;
    for i in 0..24u64 {
        let next = format!("coach-{i}");
        let mut child = personactl()
            .personas(&dir)
            .args(["mv", &current, &next])
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("personactl runs");
        // A different moment each time: before, during or after each step of the rename.
        std::thread::sleep(std::time::Duration::from_micros((i * 5_003) % 120_000));
        let _ = child.kill();
        let _ = child.wait();
        let old = dir.join(format!("{current}.toml"));
        let new = dir.join(format!("{next}.toml"));
        assert!(
            old.exists() != new.exists(),
            "round {i}: exactly one of {current} and {next} must exist"
        );
        personactl()
            .personas(&dir)
            .arg("validate")
            .run()
            .assert_exit(0);
        if new.exists() {
            moved += 1;
            // Sessions linked to the old id still find it.
            personactl()
                .personas(&dir)
                .args(["show", &current])
                .run()
                .success();
            current = next;
        }
        assert!(
            read(&dir.join(format!("{current}.toml"))).contains("# warm but focused"),
            "round {i}: comments kept"
        );
    }
    eprintln!("{moved} of 24 killed renames had completed");
}

#[cfg(unix)]
#[test]
fn mv_of_a_linked_persona_moves_the_link_and_writes_through_it() {
    // The real file is hidden, so that only the link is a persona file of the directory.
    let t = TempTree::new()
        .defaults("p")
        .file("p/shared/.real-coach.toml", COACH);
    let dir = t.path("p");
    std::fs::remove_file(dir.join("coach.toml")).expect("rm");
    std::os::unix::fs::symlink("shared/.real-coach.toml", dir.join("coach.toml")).expect("ln");
    personactl()
        .personas(&dir)
        .arg("validate")
        .run()
        .assert_exit(0);
    personactl()
        .personas(&dir)
        .args(["mv", "coach", "trainer"])
        .run()
        .success();
    let link = dir.join("trainer.toml");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("trainer.toml")
            .file_type()
            .is_symlink(),
        "the link is moved, not replaced by a copy"
    );
    assert!(!dir.join("coach.toml").exists());
    let target = read(&dir.join("shared/.real-coach.toml"));
    assert!(target.contains("coach"), "the old id is an alias: {target}");
    assert!(target.contains("# warm but focused"), "comments kept");
    personactl()
        .personas(&dir)
        .arg("validate")
        .run()
        .assert_exit(0);
}

/// A new persona file gets mode 0644 as the umask allows; a replaced one keeps its mode.
#[cfg(unix)]
#[test]
fn a_new_file_gets_0644_under_the_umask_and_a_replaced_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let tree = TempTree::new();
    let dir = tree.path("p");
    personactl().arg("init").arg(&dir).run().success();
    let mode = |id: &str| {
        std::fs::metadata(dir.join(format!("{id}.toml")))
            .expect("the file exists")
            .permissions()
            .mode()
            & 0o777
    };
    let under_umask = |umask: &str, args: &str| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" --dir \"$1\" {args}"))
            .arg(env!("CARGO_BIN_EXE_personactl"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("sh runs");
        assert!(status.success(), "{args}");
    };
    under_umask("077", "new private --from coach");
    assert_eq!(mode("private"), 0o600);
    under_umask("022", "new shared --from coach");
    assert_eq!(mode("shared"), 0o644);
    std::fs::set_permissions(
        dir.join("coach.toml"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    under_umask("077", "set coach model.temperature 0.55");
    assert_eq!(mode("coach"), 0o640);
}
