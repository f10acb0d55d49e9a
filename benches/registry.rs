//! Registry benchmarks (a plain main that prints a table; `cargo bench --bench registry`).
//!
//! (a) `snapshot().get(id)` throughput on one thread, alone and while another thread
//!     reloads continuously; (b) edit → event latency over 100 edits with the default
//!     debounce; (c) reload after one file changed in a 10,000-persona directory vs a full
//!     load of it.
//!
//! The corpus is written into a temporary folder (`PERSONAS_BENCH_N` files, default 10,000),
//! or read from `PERSONAS_BENCH_DIR` (e.g. made by `scripts/gen_corpus.py DIR 10000`).

use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use personas::{Catalog, Event, Registry};

const WORDS: &[&str] = &[
    "listen",
    "gently",
    "reflect",
    "clarify",
    "encourage",
    "notice",
    "question",
    "summarize",
    "suggest",
    "plan",
    "breathe",
    "pause",
    "explore",
    "honest",
    "warm",
    "curious",
    "patient",
    "brief",
    "concrete",
    "kind",
    "steady",
    "goal",
    "habit",
    "story",
    "journal",
    "focus",
];

fn persona(i: usize, version: usize) -> String {
    let mut prompt = String::new();
    let mut x = i.wrapping_mul(2_654_435_761) + 1;
    while prompt.len() < 300 + (i % 10) * 250 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        prompt.push_str(WORDS[(x >> 33) % WORDS.len()]);
        prompt.push(if x.is_multiple_of(11) { '\n' } else { ' ' });
    }
    format!(
        "#:schema ../schema/persona.schema.json\nname = \"Persona {i} v{version}\"\n\
         description = \"A generated persona for benchmarks.\"\nicon = \"🧪\"\n\
         tags = [\"bench\", \"group-{}\"]\nsystem_prompt = \"\"\"\n{prompt}\n\"\"\"\n",
        i % 7
    )
}

fn corpus(n: usize) -> (Option<tempfile::TempDir>, PathBuf) {
    if let Some(dir) = std::env::var_os("PERSONAS_BENCH_DIR") {
        return (None, PathBuf::from(dir));
    }
    let tmp = tempfile::tempdir().expect("a temporary directory for the corpus");
    let dir = tmp.path().join("personas");
    fs::create_dir(&dir).expect("create the corpus directory");
    for i in 0..n {
        fs::write(dir.join(format!("p-{i:05}.toml")), persona(i, 0)).expect("write the corpus");
    }
    (Some(tmp), dir)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// This thread's time on a CPU (Linux), so that rates do not count time spent descheduled
/// on a busy machine.
fn thread_cpu() -> Option<Duration> {
    let text = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Lookups per second of wall time and of this thread's CPU time, for about `for_how_long`.
fn lookups(registry: &Registry, ids: &[String], mode: &str, for_how_long: Duration) -> (f64, f64) {
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let mut done: u64 = 0;
    while start.elapsed() < for_how_long {
        match mode {
            "snapshot().get" => {
                for id in ids.iter().take(10_000) {
                    black_box(registry.snapshot().get(black_box(id)).is_some());
                }
            }
            "with_snapshot(get)" => {
                for id in ids.iter().take(10_000) {
                    black_box(registry.with_snapshot(|s| s.get(black_box(id)).is_some()));
                }
            }
            _ => {
                let snap = registry.snapshot();
                for id in ids.iter().take(10_000) {
                    black_box(snap.get(black_box(id)).is_some());
                }
            }
        }
        done += ids.len().min(10_000) as u64;
    }
    let wall = start.elapsed();
    let cpu = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    (
        done as f64 / wall.as_secs_f64(),
        done as f64 / cpu.as_secs_f64(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test harness probes
    }
    let n: usize = std::env::var("PERSONAS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (_tmp, dir) = corpus(n);
    let files = personas::discover(&dir).expect("list the corpus");
    println!("corpus: {} files in {}", files.len(), dir.display());

    // (c) full load vs one changed file.
    let mut full = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        black_box(Registry::open(&dir).expect("open"));
        full.push(t.elapsed());
    }
    let t = Instant::now();
    black_box(Catalog::load(&dir).expect("catalog"));
    let catalog = t.elapsed();
    let registry = Registry::open(&dir).expect("open");
    let mut one = Vec::new();
    let mut rescan = Vec::new();
    for k in 0..21 {
        let path = &files[k * 7 % files.len()];
        let text = fs::read_to_string(path).expect("read");
        fs::write(
            path,
            text.replace("description = \"", "description = \"Edited. "),
        )
        .expect("edit");
        let t = Instant::now();
        registry.reload_paths(&[path]).expect("reload one file");
        one.push(t.elapsed());
        fs::write(path, &text).expect("restore");
        let t = Instant::now();
        registry.reload().expect("full rescan");
        rescan.push(t.elapsed());
    }
    let full_m = median(full);
    let one_m = median(one);
    println!("\n(c) reload cost, {} personas", registry.snapshot().len());
    println!("  full load (Registry::open), median of 3   {full_m:>12.2?}");
    println!("  full load (Catalog::load), once           {catalog:>12.2?}");
    println!(
        "  one changed file (reload_paths), median   {one_m:>12.2?}   {:.0}x cheaper",
        full_m.as_secs_f64() / one_m.as_secs_f64()
    );
    println!(
        "  rescan, one file changed (reload), median {:>12.2?}",
        median(rescan)
    );

    // (a) lookups.
    lookup_table(&registry, &files);
    drop(registry);
    let small = dir_small();
    let registry = Registry::open(&small.1).expect("open");
    let files = personas::discover(&small.1).expect("list");
    lookup_table(&registry, &files);
    drop(registry);

    // (b) edit → event latency on a small directory with the default debounce.
    latency(&small);
}

fn lookup_table(registry: &Registry, files: &[PathBuf]) {
    let mut ids: Vec<String> = registry.snapshot().ids().map(str::to_owned).collect();
    let mut x: u64 = 88_172_645_463_325_252;
    for i in (1..ids.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids.swap(i, (x % (i as u64 + 1)) as usize);
    }
    println!(
        "\n(a) lookups per second, one reader thread (random ids of {})",
        ids.len()
    );
    let secs = Duration::from_secs(2);
    for mode in [
        "snapshot().get",
        "with_snapshot(get)",
        "one snapshot, many get",
    ] {
        let alone = lookups(registry, &ids, mode, secs);
        let stop = Arc::new(AtomicBool::new(false));
        let reloads = Arc::new(AtomicU64::new(0));
        let writer = {
            let (registry, stop, reloads) =
                (registry.clone(), Arc::clone(&stop), Arc::clone(&reloads));
            let path = files[0].clone();
            std::thread::spawn(move || {
                let mut v = 0;
                while !stop.load(Ordering::Relaxed) {
                    v += 1;
                    fs::write(&path, persona(0, v)).expect("edit");
                    registry.reload_paths(&[&path]).expect("reload");
                    reloads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let busy = lookups(registry, &ids, mode, secs);
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("the reloading thread");
        let r = reloads.load(Ordering::Relaxed) as f64 / secs.as_secs_f64();
        println!(
            "  {mode:<24} alone {:>5.1} M/s ({:>5.1} M/CPU-s)   under reload {:>5.1} M/s ({:>5.1} M/CPU-s, {:+.0} %)   {r:.0} reloads/s",
            alone.0 / 1e6,
            alone.1 / 1e6,
            busy.0 / 1e6,
            busy.1 / 1e6,
            (busy.1 / alone.1 - 1.0) * 100.0
        );
    }
}

fn dir_small() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("personas");
    fs::create_dir(&dir).expect("mkdir");
    for i in 0..100 {
        fs::write(dir.join(format!("p-{i:05}.toml")), persona(i, 0)).expect("write");
    }
    (tmp, dir)
}

fn latency((_tmp, dir): &(tempfile::TempDir, PathBuf)) {
    let registry = Registry::open(dir).expect("open");
    let events = registry.subscribe();
    let _watch = registry.watch().expect("watch");
    std::thread::sleep(Duration::from_millis(200)); // let the first rescan settle
    while events.try_recv().is_ok() {}
    let mut times = Vec::new();
    for k in 0..100 {
        let path: PathBuf = dir.join(format!("p-{:05}.toml", k % 100));
        let t = Instant::now();
        fs::write(&path, persona(k % 100, k + 1)).expect("edit");
        loop {
            match events.recv_timeout(Duration::from_secs(10)) {
                Ok(Event::Updated { path: p, .. }) if p == path => break,
                Ok(_) => {}
                Err(_) => panic!("no event for edit {k}"),
            }
        }
        times.push(t.elapsed());
        // Drain the `reloaded` that follows before the next edit.
        while let Ok(e) = events.recv_timeout(Duration::from_millis(20)) {
            if matches!(e, Event::Reloaded { .. }) {
                break;
            }
        }
    }
    println!(
        "\n(b) edit → event latency, 100 edits, debounce {:?}: p50 {:.1?}  p99 {:.1?}  max {:.1?}",
        personas::DEFAULT_DEBOUNCE,
        pct(times.clone(), 0.5),
        pct(times.clone(), 0.99),
        pct(times, 1.0)
    );
    let _: &Path = dir;
}
