//! The sessions backends side by side, in one run on one disk: the JSON Lines file index,
//! SQLite (WAL, synchronous=FULL) and PostgreSQL (a local server with its default, durable
//! settings: fsync and synchronous_commit on), with 1 and 4 concurrent writers and readers.
//!
//! - links/s: every link durable when it returns (fdatasync / commit), each writer its own
//!   handle or connection, distinct sessions;
//! - lookups/s: point lookups of random existing sessions among N, each reader its own
//!   long-lived handle or connection (the file: a `SessionIndex`, which first checks the file
//!   for other writers' links; and one-shot `SessionLog::get` on the compacted file).
//!
//! `cargo bench --bench sessions_backends` (N: `SESSIONS_BENCH_N`, default 100,000). The
//! PostgreSQL server is `PERSONACTL_BENCH_PG_URL` (a user that may CREATE DATABASE), else a
//! throwaway cluster started from `/usr/lib/postgresql/*/bin` (see `tests/util/pg.rs`).

#[path = "../tests/util/pg.rs"]
mod pg;

use std::fs;
use std::path::Path;
use std::time::Instant;

use personas::{
    Catalog, Entry, Link, Lookup, PgStore, SessionIndex, SessionLog, SessionStore, Timestamp,
};
use rusqlite::{Connection, params};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let n: usize = std::env::var("SESSIONS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sessions-backends-bench");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    personas::init(&root.join("personas"))?;
    let catalog = Catalog::load(&root.join("personas"))?;
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    let entries: Vec<&Entry> = ids.iter().filter_map(|id| catalog.get(id)).collect();
    let entries: &[&Entry] = &entries;

    let (_cluster, admin) = match std::env::var("PERSONACTL_BENCH_PG_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            let c = pg::Cluster::start(&[])?;
            let url = c.url("postgres");
            (Some(c), url)
        }
    };
    let db = |name: &str| -> String {
        let name = format!("{name}_{}", std::process::id());
        pg::create_db(&admin, &name);
        pg::with_db(&admin, &name)
    };

    println!("sessions backends, N = {n}; every write durable when it returns\n");
    println!(
        "{:<44} {:>14} {:>14} {:>14}",
        "measure", "file index", "SQLite", "PostgreSQL"
    );

    // 1. Durable links/s with 1 and 4 writers.
    for writers in [1, 4] {
        let per = 2000 / writers;
        let file = root.join(format!("links-{writers}.jsonl"));
        let ours = rate(writers, per, |w| {
            let mut log = SessionLog::new(&file);
            Box::new(move |i| {
                log.link(&format!("w{w}-{i}"), entries[i % entries.len()])?;
                Ok(())
            })
        })?;
        let sqlite_path = root.join(format!("links-{writers}.db"));
        drop(sqlite(&sqlite_path)?);
        let lite = rate(writers, per, |w| {
            let conn = sqlite(&sqlite_path).expect("SQLite opens");
            Box::new(move |i| {
                let e = entries[i % entries.len()];
                conn.execute(
                    "INSERT OR REPLACE INTO sessions VALUES (?1, ?2, ?3, ?4)",
                    params![format!("w{w}-{i}"), e.id, e.revision(), 1_795_622_400i64],
                )?;
                Ok(())
            })
        })?;
        let url = db(&format!("links{writers}"));
        drop(PgStore::connect(&url)?);
        let post = rate(writers, per, |w| {
            let mut store = PgStore::connect(&url).expect("PostgreSQL connects");
            Box::new(move |i| {
                store.link(&format!("w{w}-{i}"), entries[i % entries.len()])?;
                Ok(())
            })
        })?;
        row(&format!("links/s, {writers} writer(s)"), ours, lite, post);
    }

    // 2. N sessions in each backend.
    let at = Timestamp::from_unix(1_795_622_400);
    let links: Vec<(String, Link)> = (0..n)
        .map(|i| {
            let e = entries[i % entries.len()];
            (
                key(i),
                Link {
                    persona: e.id.as_str().into(),
                    revision: Some(e.revision().into()),
                    at,
                },
            )
        })
        .collect();
    let big = root.join("big.jsonl");
    let t = Instant::now();
    SessionLog::new(&big).append_links(&links)?;
    let file_load = n as f64 / t.elapsed().as_secs_f64();
    SessionLog::new(&big).compact()?;
    let big_db = root.join("big.db");
    let t = Instant::now();
    {
        let mut conn = sqlite(&big_db)?;
        let tx = conn.transaction()?;
        {
            let mut ins = tx.prepare("INSERT INTO sessions VALUES (?1, ?2, ?3, ?4)")?;
            for (s, l) in &links {
                ins.execute(params![s, &*l.persona, l.revision.as_deref(), l.at.unix()])?;
            }
        }
        tx.commit()?;
    }
    let lite_load = n as f64 / t.elapsed().as_secs_f64();
    let big_url = db("big");
    let mut store = PgStore::connect(&big_url)?;
    let t = Instant::now();
    store.import(&links)?;
    let pg_load = n as f64 / t.elapsed().as_secs_f64();
    pg::client(&big_url).batch_execute("ANALYZE personactl_sessions")?;
    row(
        "bulk load links/s (session migrate)",
        file_load,
        lite_load,
        pg_load,
    );

    // 3. Lookups/s with 1 and 4 readers.
    for readers in [1, 4] {
        let per = 20_000 / readers;
        let index = rate(readers, per, |r| {
            let mut index = SessionIndex::open(&big).expect("the index loads");
            Box::new(move |i| {
                let found = index.get(&key(mix(r * 1_000_003 + i) % n))?;
                assert!(found.is_some());
                Ok(())
            })
        })?;
        let lite = rate(readers, per, |r| {
            let conn = Connection::open(&big_db).expect("SQLite opens");
            Box::new(move |i| {
                let persona: String = conn
                    .prepare_cached("SELECT persona FROM sessions WHERE session = ?1")?
                    .query_row([key(mix(r * 1_000_003 + i) % n)], |row| row.get(0))?;
                std::hint::black_box(persona);
                Ok(())
            })
        })?;
        let post = rate(readers, per, |r| {
            let mut store = PgStore::connect(&big_url).expect("PostgreSQL connects");
            Box::new(move |i| {
                let found = store.get(&key(mix(r * 1_000_003 + i) % n))?;
                assert!(found.is_some());
                Ok(())
            })
        })?;
        row(
            &format!("lookups/s, {readers} reader(s), long-lived"),
            index,
            lite,
            post,
        );
        let one_shot = rate(readers, per / 4, |r| {
            let log = SessionLog::new(&big);
            Box::new(move |i| {
                assert!(log.get(&key(mix(r * 1_000_003 + i) % n))?.is_some());
                Ok(())
            })
        })?;
        println!(
            "{:<44} {:>14.0} {:>14} {:>14}",
            format!("  file: one-shot get (compacted), {readers} reader(s)"),
            one_shot,
            "",
            ""
        );
    }
    let _ = fs::remove_dir_all(&root);
    Ok(())
}

/// One operation of one worker: its `i`-th.
type Op<'a> = Box<dyn FnMut(usize) -> Res<()> + Send + 'a>;

/// Operations per second of `workers` threads running `per` operations each, concurrently;
/// each worker's handle is made (by `make`) before the clock starts.
fn rate<'a>(workers: usize, per: usize, make: impl Fn(usize) -> Op<'a> + Sync) -> Res<f64> {
    let ops: Vec<Op<'a>> = (0..workers).map(&make).collect();
    let start = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = ops
            .into_iter()
            .map(|mut op| s.spawn(move || (0..per).try_for_each(&mut op)))
            .collect();
        for h in handles {
            h.join().map_err(|_| "a worker panicked")??;
        }
        Ok(())
    })?;
    Ok((workers * per) as f64 / start.elapsed().as_secs_f64())
}

fn sqlite(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.busy_timeout(std::time::Duration::from_secs(30))?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS sessions (session TEXT PRIMARY KEY, persona TEXT NOT NULL, revision TEXT, at INTEGER NOT NULL)",
    )?;
    Ok(db)
}

fn key(i: usize) -> String {
    format!("chat-{:016x}", mix(i))
}

fn mix(i: usize) -> usize {
    let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as usize
}

fn row(name: &str, file: f64, sqlite: f64, postgres: f64) {
    println!("{name:<44} {file:>14.0} {sqlite:>14.0} {postgres:>14.0}");
}
