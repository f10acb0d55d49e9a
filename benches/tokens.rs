//! Tokenizer throughput on persona prompts, one thread: personactl's count (`bpe-openai`'s
//! encoder, with tiktoken's shortcut for a piece that is one token) beside `tiktoken-rs` (a
//! second implementation of the same encodings) and beside `bpe-openai`'s own `count`, in the
//! same run, on the same texts, passes interleaved (ratios are medians of per-pair ratios);
//! and what building each encoder costs on first use.
//!
//! usage: cargo bench --bench tokens [-- DIR]   (DIR: a personas directory; default personas/)
//! scripts/bench-budgets.sh runs it on the generated 10k corpus.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use personas::{Catalog, Tokenizer};

/// One pass of `f` over every prompt: MB/s and the total count (so that the work cannot be
/// optimised away, and both implementations can be compared).
fn pass(prompts: &[String], f: impl Fn(&str) -> usize) -> (f64, usize) {
    let bytes: usize = prompts.iter().map(String::len).sum();
    let start = Instant::now();
    let total = prompts.iter().map(|p| f(p)).sum();
    (bytes as f64 / 1e6 / start.elapsed().as_secs_f64(), total)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Passes of `a` and `b` interleaved (a, b, then b, a, …) until `min` has passed and at least
/// five pairs ran, so that other load on the machine falls on both alike. Returns the median
/// MB/s of each, the median of the per-pair ratios a/b, and each total count.
fn interleaved(
    prompts: &[String],
    min: Duration,
    a: impl Fn(&str) -> usize,
    b: impl Fn(&str) -> usize,
) -> (f64, f64, f64, usize, usize) {
    let (mut ra, mut rb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut na, mut nb) = (0, 0);
    let start = Instant::now();
    while start.elapsed() < min || ratios.len() < 5 {
        let ((x, n1), (y, n2)) = if ratios.len() % 2 == 0 {
            let x = pass(prompts, &a);
            (x, pass(prompts, &b))
        } else {
            let y = pass(prompts, &b);
            (pass(prompts, &a), y)
        };
        ra.push(x);
        rb.push(y);
        ratios.push(x / y);
        (na, nb) = (n1, n2);
    }
    (median(ra), median(rb), median(ratios), na, nb)
}

fn first_use(f: impl FnOnce() -> usize) -> Duration {
    let t = Instant::now();
    std::hint::black_box(f());
    t.elapsed()
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or_else(|| PathBuf::from("personas"), PathBuf::from);
    let catalog = Catalog::load(&dir).expect("the personas directory loads");
    let prompts: Vec<String> = catalog
        .entries
        .values()
        .map(|e| e.persona.system_prompt.clone())
        .collect();
    let bytes: usize = prompts.iter().map(String::len).sum();
    println!(
        "prompts: {} from {} ({:.1} MB), one thread",
        prompts.len(),
        dir.display(),
        bytes as f64 / 1e6
    );

    println!(
        "first use (build the encoder): bpe-openai o200k {:?}, cl100k {:?}; tiktoken-rs o200k {:?}, cl100k {:?}",
        first_use(|| Tokenizer::O200kBase.count("warm up")),
        first_use(|| Tokenizer::Cl100kBase.count("warm up")),
        first_use(|| tiktoken_rs::o200k_base_singleton()
            .encode_ordinary("warm up")
            .len()),
        first_use(|| tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary("warm up")
            .len()),
    );

    let min = Duration::from_secs(4);
    for tokenizer in Tokenizer::ALL {
        let raw = match tokenizer {
            Tokenizer::Cl100kBase => bpe_openai::cl100k_base(),
            _ => bpe_openai::o200k_base(),
        };
        let tiktoken = |p: &str| match tokenizer {
            Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton()
                .encode_ordinary(p)
                .len(),
            _ => tiktoken_rs::o200k_base_singleton().encode_ordinary(p).len(),
        };
        let ours = |p: &str| tokenizer.count(p);
        let (mine, tik, ratio, n1, n2) = interleaved(&prompts, min, ours, tiktoken);
        assert_eq!(n1, n2, "both implementations count the same");
        let (mine2, bpe, ratio2, n3, n4) = interleaved(&prompts, min, ours, |p| raw.count(p));
        assert_eq!(n3, n4, "both implementations count the same");
        println!(
            "{:<12} personactl {mine:7.1} MB/s   tiktoken-rs {tik:7.1} MB/s   personactl/tiktoken-rs {ratio:4.2}x   ({n1} tokens)",
            tokenizer.as_str(),
        );
        println!(
            "{:<12} personactl {mine2:7.1} MB/s   bpe-openai's count {bpe:7.1} MB/s   personactl/bpe-openai {ratio2:4.2}x",
            tokenizer.as_str(),
        );
    }
}
