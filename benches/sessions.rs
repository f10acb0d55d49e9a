//! The sessions index beside SQLite, on the same machine and disk, in one run:
//! durable links/s, point lookups/s in a long-lived index, the load time (and memory) of a
//! large index, and one-shot lookups (library and `personactl session show`).
//!
//! `cargo bench --bench sessions` (N sessions: `SESSIONS_BENCH_N`, default 1,000,000).
//! Files go under Cargo's target temporary folder, on the project's disk.

use std::fs;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use personas::{Catalog, Durability, Lookup, SessionIndex, SessionLog, Timestamp};
use rusqlite::{Connection, params};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("SESSIONS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sessions-bench");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    personas::init(&root.join("personas"))?;
    let catalog = Catalog::load(&root.join("personas"))?;
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    let entries: Vec<_> = ids.iter().filter_map(|id| catalog.get(id)).collect();

    println!("sessions index vs SQLite (WAL, synchronous=FULL), N = {n}\n");
    println!("{:<52} {:>16} {:>16}", "measure", "personactl", "SQLite");

    // 1. Durable links per second: one append + fdatasync vs one transaction per link.
    let links = 1500;
    let path = root.join("durable.jsonl");
    let mut log = SessionLog::new(&path);
    let t = Instant::now();
    for i in 0..links {
        log.link(&format!("session-{i}"), entries[i % entries.len()])?;
    }
    let ours = links as f64 / t.elapsed().as_secs_f64();
    let db = sqlite(&root.join("durable.db"))?;
    let t = Instant::now();
    for i in 0..links {
        let e = entries[i % entries.len()];
        db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?1, ?2, ?3, ?4)",
            params![
                format!("session-{i}"),
                e.id,
                e.revision(),
                "2026-11-25T16:00:00Z"
            ],
        )?;
    }
    let theirs = links as f64 / t.elapsed().as_secs_f64();
    row("durable links/s (fsync each)", ours, theirs);
    let path = root.join("buffered.jsonl");
    let mut log = SessionLog::new(&path).with_durability(Durability::Buffered);
    let t = Instant::now();
    for i in 0..links * 10 {
        log.link(&format!("session-{i}"), entries[i % entries.len()])?;
    }
    let fast = (links * 10) as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:<52} {:>16.0} {:>16}",
        "links/s, Durability::Buffered (no fsync)", fast, "-"
    );

    // 2. A large index: a log of N links, and the same compacted; SQLite with N rows.
    let big = root.join("big.jsonl");
    write_log(&big, n, &ids)?;
    let big_db_path = root.join("big.db");
    {
        let mut db = sqlite(&big_db_path)?;
        let tx = db.transaction()?;
        {
            let mut ins = tx.prepare("INSERT INTO sessions VALUES (?1, ?2, ?3, ?4)")?;
            for i in 0..n {
                ins.execute(params![
                    key(i),
                    ids[i % 4],
                    "0123456789abcdef",
                    "2026-11-25T16:00:00Z"
                ])?;
            }
        }
        tx.commit()?;
    }
    println!(
        "{:<52} {:>13.1} MB {:>13.1} MB",
        "file size",
        mb(fs::metadata(&big)?.len()),
        mb(fs::metadata(&big_db_path)?.len())
    );

    // 3. Load time and memory of the long-lived index.
    let rss0 = rss_kb();
    let t = Instant::now();
    let mut index = SessionIndex::open(&big)?;
    let load = t.elapsed();
    let rss1 = rss_kb();
    assert_eq!(index.len(), n);
    println!(
        "{:<52} {:>13.0} ms {:>16}",
        "load the index (uncompacted log)",
        ms(load),
        "(no load)"
    );
    println!(
        "{:<52} {:>13.0} MB {:>16}",
        "  memory of the loaded index (RSS growth)",
        (rss1.saturating_sub(rss0)) as f64 / 1024.0,
        "-"
    );

    // 4. Point lookups in a long-lived index vs a long-lived SQLite connection.
    let probes: Vec<String> = (0..100_000).map(|i| key(mix(i) % n)).collect();
    let t = Instant::now();
    let mut hits = 0usize;
    for _ in 0..10 {
        for k in &probes {
            hits += usize::from(index.cached(k).is_some());
        }
    }
    let cached = (probes.len() * 10) as f64 / t.elapsed().as_secs_f64();
    black_box(hits);
    let t = Instant::now();
    for k in &probes {
        hits += usize::from(index.get(k)?.is_some());
    }
    let fresh = probes.len() as f64 / t.elapsed().as_secs_f64();
    black_box(hits);
    let db = Connection::open(&big_db_path)?;
    let mut q = db.prepare("SELECT persona, revision FROM sessions WHERE session = ?1")?;
    let t = Instant::now();
    for k in &probes {
        let r: (String, String) = q.query_row([k], |r| Ok((r.get(0)?, r.get(1)?)))?;
        black_box(r);
    }
    let sq = probes.len() as f64 / t.elapsed().as_secs_f64();
    row("lookups/s, in memory (`cached`)", cached, sq);
    row("lookups/s, seeing other writers first (`get`)", fresh, sq);
    drop(q);
    drop(index);

    // 5. One-shot lookups: open the file, find one session, close.
    let compacted = root.join("compacted.jsonl");
    fs::copy(&big, &compacted)?;
    let t = Instant::now();
    SessionLog::new(&compacted).compact()?;
    let compact_time = t.elapsed();
    let t = Instant::now();
    let reloaded = SessionIndex::open(&compacted)?;
    let load_compacted = t.elapsed();
    drop(reloaded);
    println!(
        "{:<52} {:>13.0} ms {:>16}",
        "compact the index",
        ms(compact_time),
        "-"
    );
    println!(
        "{:<52} {:>13.0} ms {:>16}",
        "load the index (compacted)",
        ms(load_compacted),
        "-"
    );
    let one_shot = |path: &Path, rounds: usize| -> Result<Duration, Box<dyn std::error::Error>> {
        let t = Instant::now();
        for i in 0..rounds {
            let log = SessionLog::new(path);
            black_box(log.get(&key(mix(i) % n))?);
        }
        Ok(t.elapsed() / rounds as u32)
    };
    let sorted = one_shot(&compacted, 2000)?;
    let unsorted = one_shot(&big, 3)?;
    let t = Instant::now();
    for i in 0..2000 {
        let db = Connection::open(&big_db_path)?;
        let r: String = db.query_row(
            "SELECT persona FROM sessions WHERE session = ?1",
            [key(mix(i) % n)],
            |r| r.get(0),
        )?;
        black_box(r);
    }
    let sq_once = t.elapsed() / 2000;
    println!(
        "{:<52} {:>13.3} ms {:>13.3} ms",
        "one-shot lookup, library (compacted index)",
        ms(sorted),
        ms(sq_once)
    );
    println!(
        "{:<52} {:>13.3} ms {:>13.3} ms",
        "one-shot lookup, library (uncompacted log)",
        ms(unsorted),
        ms(sq_once)
    );

    // 6. The command line: `personactl session show` against the compacted index.
    let bin = env!("CARGO_BIN_EXE_personactl");
    let run = |args: &[&str]| -> Result<Duration, Box<dyn std::error::Error>> {
        let rounds = 30;
        let t = Instant::now();
        for i in 0..rounds {
            let s = key(mix(i) % n);
            let mut full: Vec<&str> = args.to_vec();
            full.push(&s);
            let out = Command::new(bin).current_dir(&root).args(&full).output()?;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(t.elapsed() / rounds as u32)
    };
    let c = compacted.to_string_lossy().into_owned();
    let show = run(&["--sessions", &c, "session", "show", "--format", "json"])?;
    let none = root.join("none.jsonl").to_string_lossy().into_owned();
    let baseline = run(&["--sessions", &none, "session", "show", "--format", "json"])?;
    println!(
        "{:<52} {:>13.2} ms {:>16}",
        "`personactl session show` (whole process)",
        ms(show),
        "-"
    );
    println!(
        "{:<52} {:>13.2} ms {:>16}",
        "  the same without an index file (process + personas)",
        ms(baseline),
        "-"
    );
    let _ = fs::remove_dir_all(&root);
    Ok(())
}

fn sqlite(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS sessions (session TEXT PRIMARY KEY, persona TEXT NOT NULL, revision TEXT, at TEXT NOT NULL)",
    )?;
    Ok(db)
}

/// Writes a log of `n` link records (as `personactl` writes them), in one go.
fn write_log(path: &Path, n: usize, ids: &[&str]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(fs::File::create(path)?);
    writeln!(out, r#"{{"format":"personactl-sessions","version":1}}"#)?;
    let at = Timestamp::from_unix(1_795_622_400);
    for i in 0..n {
        writeln!(
            out,
            r#"{{"op":"link","session":"{}","persona":"{}","revision":"0123456789abcdef","at":"{at}"}}"#,
            key(i),
            ids[i % ids.len()]
        )?;
    }
    out.flush()
}

/// A session id like a chat service's: a prefix and a hex number, in no sorted order.
fn key(i: usize) -> String {
    format!("chat-{:016x}", mix(i))
}

fn mix(i: usize) -> usize {
    let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as usize
}

fn rss_kb() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn row(name: &str, ours: f64, theirs: f64) {
    println!(
        "{name:<52} {ours:>16.0} {theirs:>16.0}   ({:.1}×)",
        ours / theirs
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
