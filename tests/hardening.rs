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
const LIMIT_KIB: u64 = 256 * 1024;
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
