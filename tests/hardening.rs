//! Regression tests for what broke when personactl was attacked from outside: each test is
//! named for what broke, and runs the real binary (under resource limits where memory or time
//! was the problem).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_personactl");

/// Runs the binary under `ulimit -v` (address space, KiB) and `ulimit -t` (CPU seconds): a run
/// over either limit dies of a signal (or fails to allocate) instead of exiting normally.
fn limited(mem_kib: u64, cpu_s: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"ulimit -v {mem_kib} && ulimit -t {cpu_s} && exec "$@""#
        ))
        .arg("sh")
        .arg(BIN)
        .args(args)
        .env_remove("PERSONAS_DIR")
        .env_remove("PERSONAS_SESSIONS")
        .env_remove("PERSONAS_DEFAULT_PERSONA")
        .output()
        .expect("sh runs")
}

const HEAD: &str = "schema_version = 1\nname = \"Bomb\"\ndescription = \"d\"\nicon = \"i\"\n";
const MIB: usize = 1024 * 1024;
/// The address-space limit (`ulimit -v` counts every mapping, not the memory in use). The
/// executable is mapped whole, and since token counting it carries OpenAI's encodings:
/// bpe-openai's precomputed o200k and cl100k tables, 45 MiB of read-only data that is paged in
/// only when a count is asked for (`validate` of these inputs never counts). So: 256 MiB of room
/// for the run, as before the tables, plus 64 MiB for them. Measured on a debug build (which
/// maps 85 MiB of executable): the placeholder bomb's `validate` passes from 272 MiB and failed
/// to allocate in 22 of 24 runs at 256 MiB. Unbounded, these inputs needed gigabytes.
const LIMIT_KIB: u64 = (256 + 64) * 1024;
const CPU_S: u64 = 10;

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write persona");
    path.to_string_lossy().into_owned()
}

fn assert_bounded_report(out: &Output, code: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "validate must finish (not be killed by the limits) and find the file invalid; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.len() < 64 * 1024,
        "the report is bounded, got {} bytes",
        stdout.len()
    );
    let listed = stdout.matches(&format!("error[{code}]")).count();
    assert!(
        (2..=50).contains(&listed),
        "{listed} `{code}` diagnostics listed:\n{stdout}"
    );
    assert!(stdout.contains("more like it"), "a summary line:\n{stdout}");
}

#[test]
fn a_megabyte_of_undeclared_placeholders_no_longer_exhausts_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut text = format!("{HEAD}system_prompt = \"\"\"");
    while text.len() < MIB - 10 {
        text.push_str("{{x}}");
    }
    text.push_str("\"\"\"\n");
    let path = write(&tmp.path().join("p"), "bomb.toml", &text);
    let out = limited(LIMIT_KIB, CPU_S, &["validate", &path]);
    assert_bounded_report(&out, "vars.undeclared");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("and 209,"),
        "the count of the rest:\n{stdout}"
    );

    // The JSON report is bounded too, and the summary is a diagnostic like the others.
    let out = limited(LIMIT_KIB, CPU_S, &["validate", "--format", "json", &path]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let diags = report["diagnostics"].as_array().expect("diagnostics");
    assert!(diags.len() <= 30, "{} diagnostics", diags.len());
}

#[test]
fn a_megabyte_of_unknown_keys_is_checked_in_linear_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut text = format!("{HEAD}system_prompt = \"p\"\n");
    let mut i = 0;
    while text.len() < MIB - 32 {
        text.push_str(&format!("unknown_{i} = 1\n"));
        i += 1;
    }
    let path = write(&tmp.path().join("p"), "keys.toml", &text);
    let out = limited(LIMIT_KIB, CPU_S, &["validate", &path]);
    assert_bounded_report(&out, "schema.unknown-key");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The listed ones are the first in the file.
    assert!(stdout.contains("unknown key `unknown_0`"), "{stdout}");
}

#[test]
fn a_megabyte_of_undeclared_placeholders_under_extends_is_bounded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("p");
    write(
        &dir,
        "base.toml",
        &format!("{HEAD}system_prompt = \"base\"\n[vars]\nmood = \"calm\"\n"),
    );
    let mut text = "extends = \"base\"\nsystem_prompt = \"\"\"{{mood}}".to_owned();
    let mut i = 0;
    while text.len() < MIB - 32 {
        text.push_str(&format!("{{{{v{i}}}}}"));
        i += 1;
    }
    text.push_str("\"\"\"\n");
    write(&dir, "child.toml", &text);
    let out = limited(
        LIMIT_KIB,
        CPU_S,
        &[
            "validate",
            "--default-persona",
            "base",
            &dir.to_string_lossy(),
        ],
    );
    assert_bounded_report(&out, "vars.undeclared");
}

/// The real binary over personas directory `dir`.
fn personactl(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--dir").arg(dir);
    for var in [
        "PERSONAS_DIR",
        "PERSONAS_SESSIONS",
        "PERSONAS_DEFAULT_PERSONA",
        "VISUAL",
        "EDITOR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn init(root: &Path) -> std::path::PathBuf {
    let dir = root.join("personas");
    let out = personactl(&dir).arg("init").output().expect("init");
    assert!(out.status.success(), "{out:?}");
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_set_made_while_the_editor_is_open_is_not_overwritten() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    // The "editor": another command changes the file meanwhile, then the user's edit is saved.
    let editor = tmp.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\n'{BIN}' --dir '{}' set coach name 'Set meanwhile' >/dev/null || exit 9\nsed -i 's/^description = .*/description = \"Edited in the editor.\"/' \"$1\"\n",
            dir.display()
        ),
    )
    .expect("write editor");
    let out = personactl(&dir)
        .args(["edit", "coach"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .output()
        .expect("edit");
    let file = std::fs::read_to_string(dir.join("coach.toml")).expect("read");
    assert!(file.contains("Set meanwhile"), "the set survives:\n{file}");
    assert!(!file.contains("Edited in the editor."), "{file}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("changed while the editor was open"), "{err}");
    // The edit is not lost: its copy is named.
    let kept = err
        .split("kept in ")
        .nth(1)
        .map(str::trim)
        .expect("the copy's path");
    let copy = std::fs::read_to_string(kept).expect("the kept copy");
    assert!(copy.contains("Edited in the editor."), "{copy}");
}

#[cfg(unix)]
#[test]
fn edit_of_a_read_only_folder_fails_before_the_editor_opens() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    // Root ignores permissions: then the folder is writable and there is nothing to test.
    let writable = tempfile::tempfile_in(&dir).is_ok();
    let marker = tmp.path().join("editor-ran");
    let out = personactl(&dir)
        .args(["edit", "coach"])
        .env("EDITOR", format!("touch {} &&", marker.display()))
        .output()
        .expect("edit");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    if writable {
        eprintln!("running as root: the read-only folder is writable, checked nothing more");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!marker.exists(), "the editor must not open");
    assert!(
        stderr(&out).contains("cannot be written"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn render_all_out_leaves_unrelated_files_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    let out_dir = tmp.path().join("rendered");
    std::fs::create_dir(&out_dir).expect("mkdir");
    std::fs::write(out_dir.join("README.md"), "# About these snapshots\n").expect("write");
    std::fs::write(out_dir.join("notes.md"), "my notes\n").expect("write");
    let render = |dir: &Path| {
        personactl(dir)
            .args(["render", "--all", "--out"])
            .arg(&out_dir)
            .output()
            .expect("render")
    };
    let out = render(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out_dir.join("coach.md").exists());
    // A persona that goes away takes its snapshot with it, and nothing else.
    std::fs::remove_file(dir.join("coach.toml")).expect("rm");
    let out = render(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !out_dir.join("coach.md").exists(),
        "the stale snapshot goes"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("README.md")).expect("README stays"),
        "# About these snapshots\n"
    );
    assert!(out_dir.join("notes.md").exists(), "notes stay");
    // --check does not count them as stale either.
    let out = personactl(&dir)
        .args(["render", "--all", "--check"])
        .arg(&out_dir)
        .output()
        .expect("check");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[cfg(target_os = "linux")]
#[test]
fn new_with_a_prompt_file_of_dev_zero_is_refused_without_filling_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"ulimit -v {LIMIT_KIB} && ulimit -t {CPU_S} && exec "$@""#
        ))
        .arg("sh")
        .arg(BIN)
        .arg("--dir")
        .arg(&dir)
        .args([
            "new",
            "zero",
            "--name",
            "Z",
            "--description",
            "d",
            "--icon",
            "i",
            "--system-prompt-file",
            "/dev/zero",
        ])
        .output()
        .expect("new");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));
    assert!(!dir.join("zero.toml").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn import_of_dev_zero_is_refused_without_filling_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    let out = limited(
        LIMIT_KIB,
        CPU_S,
        &["--dir", &dir.to_string_lossy(), "import", "/dev/zero"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));
}

#[test]
fn import_of_a_missing_file_is_an_io_error_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    let out = personactl(&dir)
        .args(["import"])
        .arg(tmp.path().join("no-such-card.json"))
        .output()
        .expect("import");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn import_into_a_read_only_folder_is_an_io_error_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    let card = tmp.path().join("agent.md");
    std::fs::write(
        &card,
        "---\nname: Reviewer\ndescription: Reviews code.\n---\nYou review code.\n",
    )
    .expect("write");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let writable = tempfile::tempfile_in(&dir).is_ok();
    let out = personactl(&dir)
        .arg("import")
        .arg(&card)
        .output()
        .expect("import");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    if writable {
        eprintln!(
            "running as root: the read-only folder is writable; a folder that is a file instead"
        );
    } else {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    // A personas "directory" that is a file cannot be written by anyone, root included.
    let not_a_dir = tmp.path().join("not-a-dir");
    std::fs::write(&not_a_dir, "").expect("write");
    let out = personactl(&not_a_dir)
        .arg("import")
        .arg(&card)
        .output()
        .expect("import");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn set_of_a_table_says_it_is_a_table_not_did_you_mean_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    let out = personactl(&dir)
        .args(["set", "coach", "model", "1"])
        .output()
        .expect("set");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(!err.contains("did you mean"), "{err}");
    assert!(err.contains("`model` is a table"), "{err}");
    assert!(err.contains("`model.temperature`"), "{err}");
}

#[cfg(unix)]
#[test]
fn writing_a_persona_that_is_a_symlink_writes_through_inside_and_refuses_outside() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = init(tmp.path());
    // Inside: `team/mentor.toml` is a link to `coach.toml` in the same personas directory.
    std::fs::create_dir(dir.join("shared")).expect("mkdir");
    std::fs::rename(dir.join("coach.toml"), dir.join("shared/coach.toml.txt")).expect("mv");
    std::os::unix::fs::symlink("shared/coach.toml.txt", dir.join("coach.toml")).expect("ln");
    let out = personactl(&dir)
        .args(["set", "coach", "name", "Linked Coach"])
        .output()
        .expect("set");
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::symlink_metadata(dir.join("coach.toml")).expect("meta");
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    let target = std::fs::read_to_string(dir.join("shared/coach.toml.txt")).expect("read");
    assert!(target.contains("Linked Coach"), "{target}");

    // Outside: a link to a file elsewhere is never written through, nor replaced.
    let outside = tmp.path().join("elsewhere.toml");
    std::fs::rename(dir.join("story-teller.toml"), &outside).expect("mv");
    std::os::unix::fs::symlink(&outside, dir.join("story-teller.toml")).expect("ln");
    let before = std::fs::read_to_string(&outside).expect("read");
    let out = personactl(&dir)
        .args(["set", "story-teller", "name", "Hijacked"])
        .output()
        .expect("set");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Refused either as a link leaving the directory or, since such a link is not followed
    // when the directory is read, as no persona at all.
    let err = stderr(&out);
    assert!(
        err.contains("outside the personas directory") || err.contains("no persona"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&outside).expect("read"), before);
    let meta = std::fs::symlink_metadata(dir.join("story-teller.toml")).expect("meta");
    assert!(meta.file_type().is_symlink(), "the link is not replaced");
}
