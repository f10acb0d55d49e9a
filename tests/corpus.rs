//! `scripts/gen_corpus.py`, the corpus generator of the benchmarks, run with the real Python
//! and checked with the real binary: valid corpora validate, each defective file gives exactly
//! its one diagnostic, and the same arguments give the same bytes.

mod util;

use std::collections::BTreeMap;
use std::path::Path;

use util::{Cmd, TempTree};

/// The defect kinds of the generator, by the diagnostic code each must produce.
const KINDS: &[(&str, &str)] = &[
    ("syntax", "toml.syntax"),
    ("missing-required", "schema.required"),
    ("unknown-key", "schema.unknown-key"),
    ("range", "schema.range"),
    ("empty-name", "schema.length"),
    ("wrong-type", "schema.type"),
];

/// Runs the generator; returns the defect counts of its summary line.
fn generate(out: &Path, n: usize, extra: &[&str]) -> BTreeMap<String, u64> {
    let run = Cmd::program("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen_corpus.py"))
        .arg(out)
        .arg(n.to_string())
        .args(extra)
        .run()
        .success();
    let summary = run.stdout.lines().last().unwrap_or_default().to_owned();
    let counts = summary
        .split_once("defects: ")
        .map(|(_, d)| d.trim_matches(|c| c == '{' || c == '}'))
        .unwrap_or_else(|| panic!("no defect counts in the summary: {run}"));
    counts
        .split(", ")
        .map(|pair| {
            let (kind, count) = pair.split_once(": ").expect("'kind': count");
            (
                kind.trim_matches('\'').to_owned(),
                count.parse().expect("a count"),
            )
        })
        .collect()
}

/// Every `.toml` file below `dir`, as (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(dir)
                .expect("below dir")
                .display()
                .to_string();
            (rel, std::fs::read(&p).expect("readable"))
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_valid_corpus_over_folders_validates_as_a_personas_directory() {
    let t = TempTree::new();
    let dir = t.path("corpus");
    let defects = generate(&dir, 60, &["--folders", "3", "--seed", "7"]);
    assert!(defects.values().all(|&n| n == 0), "{defects:?}");
    let listed = files(&dir);
    assert_eq!(listed.len(), 60);
    assert!(listed.iter().any(|(p, _)| p.starts_with("group-02/")));
    // Realistic files: an emoji icon, tags, starters and a prompt of a few hundred words.
    let (_, sample) = &listed[1];
    let text = String::from_utf8(sample.clone()).expect("UTF-8");
    for key in [
        "name = ",
        "description = ",
        "icon = ",
        "tags = [",
        "greeting = ",
        "starters = [",
    ] {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    let prompt = text
        .split("system_prompt = \"\"\"")
        .nth(1)
        .expect("a multi-line prompt");
    assert!(prompt.split_whitespace().count() > 150, "{prompt}");
    assert!(
        listed
            .iter()
            .any(|(_, b)| b.windows(8).any(|w| w == b"[model]\n"))
    );
    let doc = Cmd::new()
        .personas(&dir)
        .args(["validate", "--format", "json"])
        .run()
        .success()
        .stdout_json();
    assert_eq!(doc["files"], 60);
    assert_eq!(doc["diagnostics"].as_array().map(Vec::len), Some(0));
}

#[test]
fn each_defective_file_gives_exactly_its_one_diagnostic() {
    let t = TempTree::new();
    let dir = t.path("corpus");
    let defects = generate(&dir, 120, &["--invalid-ratio", "0.2", "--folders", "2"]);
    assert_eq!(defects.values().sum::<u64>(), 24, "{defects:?}");
    assert!(
        defects.values().all(|&n| n == 4),
        "kinds in turn: {defects:?}"
    );
    let doc = Cmd::new()
        .personas(&dir)
        .args(["validate", "--format", "json"])
        .run()
        .code(1)
        .stdout_json();
    let diagnostics = doc["diagnostics"].as_array().expect("an array");
    let mut per_file: BTreeMap<&str, u32> = BTreeMap::new();
    let mut per_code: BTreeMap<&str, u64> = BTreeMap::new();
    for d in diagnostics {
        *per_file
            .entry(d["path"].as_str().unwrap_or("?"))
            .or_default() += 1;
        *per_code
            .entry(d["code"].as_str().unwrap_or("?"))
            .or_default() += 1;
    }
    assert_eq!(per_file.len(), 24, "{doc}");
    assert!(per_file.values().all(|&n| n == 1), "{per_file:?}");
    let expected: BTreeMap<&str, u64> = KINDS
        .iter()
        .map(|(kind, code)| (*code, defects[*kind]))
        .collect();
    assert_eq!(per_code, expected);
}

#[test]
fn extends_bases_make_a_valid_family_corpus() {
    let t = TempTree::new();
    let dir = t.path("corpus");
    generate(&dir, 40, &["--extends-bases", "4"]);
    let listed = files(&dir);
    assert_eq!(listed.len(), 44);
    let child = String::from_utf8(
        listed
            .iter()
            .find(|(p, _)| p == "persona-00005.toml")
            .expect("a child")
            .1
            .clone(),
    )
    .expect("UTF-8");
    assert!(child.contains("extends = \"base-01\""), "{child}");
    assert!(
        child.contains("{{parent}}") && child.contains("{{tone}}"),
        "{child}"
    );
    assert!(
        !child.contains("\ndescription = "),
        "description is inherited: {child}"
    );
    Cmd::new().personas(&dir).arg("validate").run().success();
    // With defects too: still exactly one diagnostic a defective file.
    let bad = t.path("bad");
    generate(
        &bad,
        60,
        &["--extends-bases", "3", "--invalid-ratio", "0.1"],
    );
    let doc = Cmd::new()
        .personas(&bad)
        .args(["validate", "--format", "json"])
        .run()
        .code(1)
        .stdout_json();
    let paths: Vec<&str> = doc["diagnostics"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["path"].as_str().unwrap_or("?"))
        .collect();
    let mut unique = paths.clone();
    unique.dedup();
    assert_eq!((paths.len(), unique.len()), (6, 6), "{doc}");
}

#[test]
fn the_same_arguments_give_the_same_bytes() {
    let t = TempTree::new();
    let args = ["--invalid-ratio", "0.1", "--seed", "3", "--folders", "2"];
    generate(&t.path("a"), 30, &args);
    generate(&t.path("b"), 30, &args);
    assert_eq!(files(&t.path("a")), files(&t.path("b")));
    generate(
        &t.path("c"),
        30,
        &["--invalid-ratio", "0.1", "--seed", "4", "--folders", "2"],
    );
    assert_ne!(files(&t.path("a")), files(&t.path("c")));
    // The schema header is each file's first line.
    generate(
        &t.path("h"),
        3,
        &["--schema-header", "../schema/persona.schema.json"],
    );
    for (path, bytes) in files(&t.path("h")) {
        assert!(
            bytes.starts_with(b"#:schema ../schema/persona.schema.json\n"),
            "{path}"
        );
    }
}
