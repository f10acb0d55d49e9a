//! The four renderings of `personactl validate` (human, JSON, GitHub, SARIF) on a fixed set
//! of broken files, `tests/fixtures/invalid/`, snapshotted with `insta`: a change in any
//! report is a reviewed diff of `tests/snapshots/reports__*.snap`.
//!
//! The real binary runs with `tests/fixtures` as its working directory and `--dir invalid`,
//! so every path in the reports is the stable relative `invalid/…`; stdout is a pipe, so there
//! is no colour. The only other normalisation is personactl's own version in SARIF.
//!
//! To accept an intended change: `cargo insta review` (or `INSTA_UPDATE=always cargo test
//! --test reports` and read the diff of the `.snap` files). Under `CI=true` a mismatch fails
//! and nothing is written.

mod util;

use util::{Cmd, fixture};

/// Every broken file in `tests/fixtures/invalid/`, by the code it must produce (one each; the
/// two halves of a cycle and of a duplicate id are one case).
const CASES: &[(&str, &str)] = &[
    ("syntax-error.toml", "toml.syntax"),
    ("missing-key.toml", "schema.required"),
    ("unknown-key.toml", "schema.unknown-key"),
    ("range-error.toml", "schema.range"),
    ("wrong-type.toml", "schema.type"),
    ("id-mismatch.toml", "id.mismatch"),
    ("team-b/twin.toml", "id.duplicate"),
    ("extends-missing.toml", "extends.missing"),
    ("cycle-one.toml", "extends.cycle"),
    ("cycle-two.toml", "extends.cycle"),
    ("undeclared-variable.toml", "vars.undeclared"),
    ("non-utf8.toml", "file.encoding"),
    ("empty.toml", "file.empty"),
    ("crlf.toml", "schema.range"),
    ("emoji-column.toml", "schema.length"),
];

/// `personactl --dir invalid validate --format FORMAT` from `tests/fixtures`; exit code 1.
fn report(format: &str) -> String {
    Cmd::new()
        .cwd(fixture(""))
        .args(["--dir", "invalid", "validate", "--format", format])
        .run()
        .code(1)
        .stdout
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(true);
    s.set_omit_expression(true);
    s.set_description("personactl --dir invalid validate, run in tests/fixtures");
    s
}

#[test]
fn the_fixtures_are_what_the_snapshots_say_they_are() {
    // Guards the fixture set itself: each file gives exactly its one diagnostic, so a fixture
    // edited by mistake fails here with a clear message, not only as a snapshot diff.
    let doc = Cmd::new()
        .cwd(fixture(""))
        .args(["--dir", "invalid", "validate", "--format", "json"])
        .run()
        .code(1)
        .stdout_json();
    let mut found: Vec<(String, String)> = doc["diagnostics"]
        .as_array()
        .expect("diagnostics is an array")
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap_or_default().to_owned(),
                d["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut expected: Vec<(String, String)> = CASES
        .iter()
        .map(|(file, code)| (format!("invalid/{file}"), (*code).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(found, expected);
    // Byte-exact fixtures (see tests/fixtures/invalid/.gitattributes).
    let crlf = std::fs::read(fixture("invalid/crlf.toml")).expect("fixture");
    assert!(
        crlf.windows(2).any(|w| w == b"\r\n"),
        "crlf.toml lost its CR LF"
    );
    let latin1 = std::fs::read(fixture("invalid/non-utf8.toml")).expect("fixture");
    assert!(
        std::str::from_utf8(&latin1).is_err(),
        "non-utf8.toml became UTF-8"
    );
    assert!(
        std::fs::read(fixture("invalid/empty.toml"))
            .expect("fixture")
            .is_empty()
    );
}

#[test]
fn human() {
    let out = report("human");
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    settings().bind(|| insta::assert_snapshot!("human", out));
}

#[test]
fn json() {
    settings().bind(|| insta::assert_snapshot!("json", report("json")));
}

#[test]
fn github() {
    settings().bind(|| insta::assert_snapshot!("github", report("github")));
}

#[test]
fn sarif() {
    let version = format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    let out = report("sarif");
    assert!(out.contains(&version), "the tool version is in the log");
    let out = out.replace(&version, "\"version\": \"[personactl version]\"");
    settings().bind(|| insta::assert_snapshot!("sarif", out));
}

#[test]
fn every_valid_fixture_is_valid() {
    // The persona texts the other tests start from (`include_str!`ed from tests/fixtures/valid).
    Cmd::new()
        .cwd(fixture(""))
        .args(["validate", "valid"])
        .run()
        .success()
        .stdout_contains("5 files checked, 0 errors in 0 files");
}
