//! Tokenizer throughput on persona prompts, one thread: `bpe-openai` (what personactl counts
//! with) beside `tiktoken-rs` (a second implementation of the same encodings), in the same run,
//! on the same texts; and what building each encoder costs on first use.
//!
//! usage: cargo bench --bench tokens [-- DIR]   (DIR: a personas directory; default personas/)
//! scripts/bench-budgets.sh runs it on the generated 10k corpus.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use personas::{Catalog, Tokenizer};

/// Runs `f` over every prompt until at least `min` has passed; returns MB/s and the total count
/// (so that the work cannot be optimised away, and both implementations can be compared).
fn throughput(prompts: &[String], min: Duration, f: impl Fn(&str) -> usize) -> (f64, usize) {
    let bytes: usize = prompts.iter().map(String::len).sum();
    let mut rounds = 0u32;
    let mut total = 0;
    let start = Instant::now();
    while start.elapsed() < min || rounds == 0 {
        total = prompts.iter().map(|p| f(p)).sum();
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (bytes as f64 * f64::from(rounds)) / 1e6;
    (mb / secs, total)
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

    let min = Duration::from_secs(2);
    for tokenizer in Tokenizer::ALL {
        let (bpe, n1) = throughput(&prompts, min, |p| tokenizer.count(p));
        let (tik, n2) = throughput(&prompts, min, |p| match tokenizer {
            Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton()
                .encode_ordinary(p)
                .len(),
            _ => tiktoken_rs::o200k_base_singleton().encode_ordinary(p).len(),
        });
        assert_eq!(n1, n2, "both implementations count the same");
        println!(
            "{:<12} bpe-openai {bpe:7.1} MB/s   tiktoken-rs {tik:7.1} MB/s   bpe-openai/tiktoken-rs {:4.2}x   ({n1} tokens)",
            tokenizer.as_str(),
            bpe / tik
        );
    }
}
