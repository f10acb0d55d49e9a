//! `personactl lsp`: keystroke → `publishDiagnostics` latency in a 1,000-persona directory, for
//! an edit of a leaf persona and of a base persona with 100 children (an edit that keeps it
//! valid, and one that breaks or fixes it, re-publishing all 100 children). The baseline,
//! measured in the same run, is one `personactl validate DIR` of the same directory: what
//! checking "by hand" after each edit would cost.
//!
//! usage: cargo bench --bench lsp [-- N_FILES EDITS]     (defaults: 1000 files, 200 edits)
//! The corpus comes from `GEN_CORPUS` (default `scripts/gen_corpus.py`, the repository's own).

#[path = "../tests/lsp_client/mod.rs"]
mod lsp_client;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lsp_client::Client;
use lsp_types::{Position, Range};

const BIN: &str = env!("CARGO_BIN_EXE_personactl");
const CHILDREN: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let edits: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("personas");
    generate(&dir, n);

    let baseline = median((0..5).map(|_| {
        let t = Instant::now();
        let out = Command::new(BIN)
            .arg("validate")
            .arg("--dir")
            .arg(&dir)
            .output()
            .expect("validate");
        assert!(out.status.success(), "the corpus is valid");
        t.elapsed()
    }));

    let mut c = Client::start(Path::new(BIN), tmp.path(), &[]);
    c.initialize(Some(tmp.path()), &[]);
    println!(
        "corpus: {n} personas ({CHILDREN} extend one base), {edits} edits per case, {} cores",
        cores()
    );
    println!(
        "baseline: personactl validate DIR {:>8.2} ms (median of 5)",
        ms(baseline)
    );
    let leaf = dir.join(format!("persona-{:05}.toml", n - 1));
    let base = dir.join("family-base.toml");
    report(
        "leaf edit",
        &keystrokes(&mut c, &leaf, edits, false),
        baseline,
    );
    report(
        "base edit (valid)",
        &keystrokes(&mut c, &base, edits, false),
        baseline,
    );
    report(
        "base edit (breaks/fixes 100 children)",
        &keystrokes(&mut c, &base, edits, true),
        baseline,
    );
    assert!(c.shutdown().success());
}

/// The corpus: the generator's files (the one line to swap for another generator), then one
/// base persona and `CHILDREN` of the generated files rewritten to extend it.
fn generate(dir: &Path, n: usize) {
    let gen_corpus = std::env::var("GEN_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gen_corpus.py").to_owned()
    });
    let status = Command::new("python3")
        .arg(&gen_corpus)
        .arg(dir)
        .arg(n.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs the corpus generator");
    assert!(status.success(), "{gen_corpus} failed");
    let prompt = "You are {{persona_name}}, a {{tone}} helper.\n".repeat(20);
    std::fs::write(
        dir.join("family-base.toml"),
        format!("name = \"Family base\"\ndescription = \"The base of a family.\"\nicon = \"🧱\"\nhidden = true\nsystem_prompt = \"\"\"\n{prompt}\"\"\"\n\n[vars]\ntone = \"calm\"\n"),
    )
    .expect("write the base");
    for i in 0..CHILDREN.min(n) {
        std::fs::write(
            dir.join(format!("persona-{i:05}.toml")),
            format!("extends = \"family-base\"\nname = \"Child {i}\"\nsystem_prompt = \"\"\"\n{{{{parent}}}}\nChild {i}: be {{{{tone}}}}.\n\"\"\"\n"),
        )
        .expect("write a child");
    }
    std::fs::write(
        dir.join("journaling-assistant.toml"),
        "name = \"J\"\ndescription = \"d\"\nicon = \"📓\"\nsystem_prompt = \"p\"\n",
    )
    .expect("write the default");
}

/// Opens `path`, then types `edits` keystrokes into it (alternately typing and deleting one
/// character; with `breaking`, alternately deleting and restoring the quote that opens the
/// `name` value), timing each until the server has published the edited file.
fn keystrokes(c: &mut Client, path: &PathBuf, edits: usize, breaking: bool) -> Vec<Duration> {
    let text = std::fs::read_to_string(path).expect("read");
    let u = c.open(path, &text);
    c.settle(&u);
    let name_line = text
        .lines()
        .position(|l| l.starts_with("name = "))
        .expect("a name line") as u32;
    let mut out = Vec::with_capacity(edits);
    for i in 0..edits {
        let at = Position::new(name_line, 7);
        let (range, insert) = match (breaking, i % 2) {
            (false, 0) => (
                Range::new(Position::new(name_line, 8), Position::new(name_line, 8)),
                "x",
            ),
            (false, _) => (
                Range::new(Position::new(name_line, 8), Position::new(name_line, 9)),
                "",
            ),
            (true, 0) => (Range::new(at, Position::new(name_line, 8)), ""),
            (true, _) => (Range::new(at, at), "\""),
        };
        let t = Instant::now();
        c.change(&u, Some(range), insert);
        let diags = c.settle(&u);
        out.push(t.elapsed());
        assert_eq!(
            diags.is_empty(),
            !breaking || i % 2 == 1,
            "edit {i}: {diags:?}"
        );
    }
    c.close(&u);
    out
}

fn report(case: &str, times: &[Duration], baseline: Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let pct = |p: f64| {
        sorted[((sorted.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(sorted.len() - 1)]
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    println!(
        "{case:<40} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   validate/p50 {:>6.1}x",
        ms(p50),
        ms(p99),
        ms(*sorted.last().expect("some edits")),
        baseline.as_secs_f64() / p50.as_secs_f64()
    );
}

fn median(times: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = times.collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
