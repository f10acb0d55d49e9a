//! What storing revisions beside the links costs, in one run on one disk: durable links/s
//! with revisions stored, beside a plain link (the link record alone, as before revisions were
//! stored), for 1 and 4 writers, when links reuse a few stored revisions, when they reuse
//! many (each one's PostgreSQL lease has run out when a link comes back to it: every link
//! checks its revision is still stored) and when every link brings a new one; for the file
//! index and PostgreSQL. Then the load time of a large index with many stored revisions.
//!
//! - plain link, file: `SessionStore::import` of one link (one locked append + fdatasync, the
//!   code path of a link before this feature); PostgreSQL: the same upsert statement a link
//!   used before (one round trip, one commit).
//! - every write durable when it returns (fdatasync / commit), each writer its own handle or
//!   connection, distinct sessions.
//!
//! `cargo bench --bench sessions_revisions` (links per measure: `REVISIONS_BENCH_LINKS`,
//! default 1000, run in alternating blocks of `REVISIONS_BENCH_BLOCK` links per writer,
//! default 50, plain and with revisions on the same file or database; the large index:
//! `REVISIONS_BENCH_N` sessions, default 1,000,000, and
//! `REVISIONS_BENCH_R` revisions, default 10,000). PostgreSQL: as in `sessions_backends`.
//!
//! Each row gives the cost twice: the time per link of all blocks with revisions over all
//! plain blocks (`cost`), and the median over the pairs of blocks run back to back of one's
//! time over the other's (`blocks`), which one slow spell of a shared machine moves less.

#[path = "../tests/util/pg.rs"]
mod pg;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use personas::{
    Catalog, Entry, Link, Lookup, PgStore, SessionIndex, SessionLog, SessionStore, Timestamp,
};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Res<()> {
    let links = env("REVISIONS_BENCH_LINKS", 1000);
    let n = env("REVISIONS_BENCH_N", 1_000_000);
    let r = env("REVISIONS_BENCH_R", 10_000);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sessions-revisions-bench");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    personas::init(&root.join("personas"))?;
    let catalog = Catalog::load(&root.join("personas"))?;
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    let entries: Vec<&Entry> = ids.iter().filter_map(|id| catalog.get(id)).collect();
    let entries: &[&Entry] = &entries;
    // A new revision for every link: the shipped personas, each a little different.
    let fresh: Vec<Entry> = (0..links * 2 + r)
        .map(|i| variant(entries[i % 4], i))
        .collect();
    let fresh: &[Entry] = &fresh;
    // Stored revisions that links reuse in turn, so many that on PostgreSQL a revision's
    // lease has run out by the time a link comes back to it: every link checks.
    let cold: Vec<Entry> = (0..env("REVISIONS_BENCH_COLD", 4000))
        .map(|i| variant(entries[i % 4], 1_000_000 + i))
        .collect();
    let cold_refs: Vec<&Entry> = cold.iter().collect();
    let set = &Set {
        entries,
        cold: &cold_refs,
        fresh,
    };

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

    println!("stored revisions: durable links/s, {links} links per measure\n");
    println!(
        "{:<40} {:>10} {:>10} {:>7} {:>7}   {:>10} {:>10} {:>7} {:>7}",
        "", "file", "", "", "", "PostgreSQL", "", "", ""
    );
    println!(
        "{:<40} {:>10} {:>10} {:>7} {:>7}   {:>10} {:>10} {:>7} {:>7}",
        "measure", "plain", "revisions", "cost", "blocks", "plain", "revisions", "cost", "blocks"
    );
    let at = Timestamp::from_unix(1_795_622_400);
    // Each pair (plain, with revisions) runs in alternating blocks of `block` links per writer
    // (plain, revisions, revisions, plain, …) on the same file or database: the drift of a
    // shared machine falls on both alike.
    let block = env("REVISIONS_BENCH_BLOCK", 50).max(1);
    // PostgreSQL plain links/s (reuse), for 1 and 4 writers.
    let mut durable_plain = Vec::new();
    for writers in [1, 4] {
        let per = links / writers;
        let mut file_rates = Vec::new();
        let mut pg_rates = Vec::new();
        for kind in [Kind::Reuse, Kind::Cold, Kind::New] {
            let name = format!("{kind:?}").to_lowercase();
            let pick = move |w: usize, i: usize| set.pick(kind, writers, per, w, i);
            let file = root.join(format!("{name}-{writers}.jsonl"));
            let mut warm = SessionLog::new(&file);
            for e in set.stored(kind) {
                warm.link("warm", e)?;
            }
            file_rates.push(paired(
                writers,
                per,
                block,
                |w| {
                    // Plain: the link record alone (`import`), the path of a link before.
                    let mut log = SessionLog::new(&file);
                    Box::new(move |i| {
                        log.import(&[(format!("p{w}-{i}"), link_of(pick(w, i), at))])?;
                        Ok(())
                    })
                },
                |w| {
                    let mut log = SessionLog::new(&file);
                    if !matches!(kind, Kind::New) {
                        // This handle has seen every revision it will link at.
                        for i in 0..per {
                            log.link(&format!("w{w}-{i}"), pick(w, i))
                                .expect("a warm-up link is written");
                        }
                    }
                    Box::new(move |i| {
                        log.link(&format!("r{w}-{i}"), pick(w, i))?;
                        Ok(())
                    })
                },
            )?);
            let url = db(&format!("{name}{writers}"));
            warm_pg(&url, set.stored(kind))?;
            // New revisions on PostgreSQL: other personas than the file's.
            pg_rates.push(pg_pair(
                &url,
                writers,
                per,
                block,
                !matches!(kind, Kind::New),
                pick,
                move |w, i| match kind {
                    Kind::New => &fresh[links + w * per + i],
                    _ => pick(w, i),
                },
            )?);
        }
        row(
            &format!("reuse a revision, {writers} writer(s)"),
            file_rates[0],
            pg_rates[0],
        );
        durable_plain.push(pg_rates[0].a);
        row(
            &format!("reuse one of {}, {writers} writer(s)", cold.len()),
            file_rates[1],
            pg_rates[1],
        );
        row(
            &format!("a new revision each, {writers} writer(s)"),
            file_rates[2],
            pg_rates[2],
        );
    }

    // What a link at a reused revision costs beyond a plain one on PostgreSQL, apart
    // from the commit's wait: both sides with `synchronous_commit = off`, so that a link's
    // time is its statement and round trip. The difference per link, added to a durable
    // plain link's time from above, is what it costs a durable link.
    println!(
        "\nPostgreSQL, a stored revision reused, commits not waited for (synchronous_commit = off):"
    );
    for (k, writers) in [1, 4].into_iter().enumerate() {
        let per = links / writers;
        for kind in [Kind::Reuse, Kind::Cold] {
            let url = db(&format!("async{writers}{kind:?}").to_lowercase());
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}options=-c%20synchronous_commit%3Doff");
            warm_pg(&url, set.stored(kind))?;
            let reuse = move |w: usize, i: usize| set.pick(kind, writers, per, w, i);
            let pair = pg_pair(&url, writers, per, block, true, reuse, reuse)?;
            let extra = 1.0 / pair.b - 1.0 / pair.a;
            let what = match kind {
                Kind::Cold => format!("one of {}", cold.len()),
                _ => "one of 4".to_owned(),
            };
            println!(
                "  {writers} writer(s), {what:<12}: plain {:.0} links/s, revisions {:.0}: {:.2}× (blocks {:.2}×), {:+.1} µs a link; \
                 on a durable plain link ({:.0} µs): {:.3}×",
                pair.a,
                pair.b,
                pair.a / pair.b,
                pair.median_cost,
                extra * 1e6,
                1e6 / durable_plain[k],
                1.0 + extra * durable_plain[k]
            );
        }
    }

    // A large index: N sessions over R stored revisions.
    let big = root.join("big.jsonl");
    let mut log = SessionLog::new(&big);
    let contents: Vec<(String, Arc<personas::Persona>)> = fresh[..r]
        .iter()
        .map(|e| (e.revision().to_owned(), Arc::clone(&e.persona)))
        .collect();
    log.import_revisions(&contents)?;
    let all: Vec<(String, Link)> = (0..n)
        .map(|i| (format!("chat-{i:016x}"), link_of(&fresh[i % r], at)))
        .collect();
    log.import(&all)?;
    drop(all);
    let revisions_bytes = fs::metadata(root.join("big.revisions.jsonl"))?.len();
    let mut plain = Vec::new();
    let mut with = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let index = SessionIndex::open(&big)?;
        plain.push(t.elapsed().as_secs_f64());
        drop(index);
        let t = Instant::now();
        let mut index = SessionIndex::open(&big)?;
        let pinned = index.pinned("chat-0000000000000007", &catalog, "journaling-assistant")?;
        assert!(pinned.pinned.is_some());
        with.push(t.elapsed().as_secs_f64());
        assert_eq!(index.stored_revisions()?.len(), r);
    }
    println!(
        "\nload {n} sessions ({} MB of links) and {r} revisions ({} MB):",
        fs::metadata(&big)?.len() >> 20,
        revisions_bytes >> 20
    );
    println!(
        "  SessionIndex::open: {:.0} ms; open + first pinned lookup (indexes the revisions): {:.0} ms (median of 5)",
        median(&mut plain) * 1e3,
        median(&mut with) * 1e3
    );
    let _ = fs::remove_dir_all(&root);
    Ok(())
}

/// What the links of one measure are at.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// The 4 shipped personas in turn, stored before.
    Reuse,
    /// Many stored revisions in turn (`REVISIONS_BENCH_COLD`, default 4,000).
    Cold,
    /// A revision nobody stored yet, for every link.
    New,
}

/// The personas links are at, by [`Kind`].
struct Set<'a> {
    /// The 4 shipped personas, stored before.
    entries: &'a [&'a Entry],
    /// Many personas, stored before.
    cold: &'a [&'a Entry],
    /// Personas nobody stored, one for each link.
    fresh: &'a [Entry],
}

impl<'a> Set<'a> {
    /// What link `i` of writer `w` (of `writers`, `per` links each) is at: a new revision for
    /// each link of each writer; else stored ones in turn, the 4 shipped personas, or the
    /// cold ones, each writer from its own place among them.
    fn pick(&self, kind: Kind, writers: usize, per: usize, w: usize, i: usize) -> &'a Entry {
        match kind {
            Kind::Reuse => self.entries[i % self.entries.len()],
            Kind::Cold => self.cold[(w * self.cold.len() / writers + i) % self.cold.len()],
            Kind::New => &self.fresh[w * per + i],
        }
    }

    /// The personas stored before the measure of `kind`.
    fn stored(&self, kind: Kind) -> &'a [&'a Entry] {
        match kind {
            Kind::Reuse => self.entries,
            Kind::Cold => self.cold,
            Kind::New => &[],
        }
    }
}

/// Stores the revisions of `stored` in the database at `url`, before a measure.
fn warm_pg(url: &str, stored: &[&Entry]) -> Res<()> {
    let mut warm = PgStore::connect(url)?;
    for e in stored {
        warm.link("warm", e)?;
    }
    Ok(())
}

/// A persona like `e`'s with its own revision, hashed now (before any clock starts, as a
/// loaded persona's was when this benchmark was written): the timed links measure the
/// store, not the hash.
fn variant(e: &Entry, i: usize) -> Entry {
    let mut persona = (*e.persona).clone();
    persona.system_prompt.push_str(&format!("\n(variant {i})"));
    let entry = Entry::new(e.id.clone(), e.path.clone(), Arc::new(persona));
    let _ = entry.revision();
    entry
}

fn link_of(e: &Entry, at: Timestamp) -> Link {
    Link {
        persona: e.id.as_str().into(),
        revision: Some(e.revision().into()),
        at,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One operation of one worker: its `i`-th.
type Op<'a> = Box<dyn FnMut(usize) -> Res<()> + Send + 'a>;

/// What [`paired`] measured: links per second of each side, and the median over the blocks
/// of the time of `b`'s block over `a`'s (less moved by one slow spell than the rates are).
#[derive(Clone, Copy)]
struct Pair {
    a: f64,
    b: f64,
    median_cost: f64,
}

/// Links per second of `a` and of `b` (each made per worker, before the clock starts), run
/// by `workers` threads concurrently, `per` operations each, in alternating blocks of `block`
/// (a b, b a, a b, …): each side's rate is its operations over the time of its own blocks.
fn paired<'a>(
    workers: usize,
    per: usize,
    block: usize,
    make_a: impl Fn(usize) -> Op<'a>,
    make_b: impl Fn(usize) -> Op<'a>,
) -> Res<Pair> {
    let mut sides: [Vec<Op<'a>>; 2] = [
        (0..workers).map(&make_a).collect(),
        (0..workers).map(&make_b).collect(),
    ];
    let mut time = [0.0f64; 2];
    let mut costs = Vec::new();
    for (k, start) in (0..per).step_by(block).enumerate() {
        let range = start..(start + block).min(per);
        let order = if k % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut this = [0.0f64; 2];
        for side in order {
            this[side] = run_block(&mut sides[side], range.clone())?;
            time[side] += this[side];
        }
        costs.push(this[1] / this[0]);
    }
    let n = (workers * per) as f64;
    Ok(Pair {
        a: n / time[0],
        b: n / time[1],
        median_cost: median(&mut costs),
    })
}

/// [`paired`] on PostgreSQL at `url`: the upsert a link was before revisions were stored
/// (prepared once, one round trip, one commit) with `plain(w, i)`, beside
/// `PgStore::link` with `stored(w, i)`. `warm`: each store links once at every revision it
/// will link at before the clock starts, then waits for its leases to run out (a service
/// that has seen them all; every timed link at a revision no other link came back to within
/// a lease checks it is still stored).
#[allow(clippy::too_many_arguments)] // a bench helper: each is one knob of the measure
fn pg_pair<'a>(
    url: &'a str,
    writers: usize,
    per: usize,
    block: usize,
    warm: bool,
    plain: impl Fn(usize, usize) -> &'a Entry + Copy + Send + 'a,
    stored: impl Fn(usize, usize) -> &'a Entry + Copy + Send + 'a,
) -> Res<Pair> {
    let at = Timestamp::from_unix(1_795_622_400);
    paired(
        writers,
        per,
        block,
        |w| {
            let mut client = pg::client(url);
            let upsert = client
                .prepare(
                    "INSERT INTO personactl_sessions (session, persona, revision, linked_at)
                     VALUES ($1, $2, $3, to_timestamp($4::bigint))
                     ON CONFLICT (session) DO UPDATE
                     SET persona = EXCLUDED.persona, revision = EXCLUDED.revision, linked_at = EXCLUDED.linked_at",
                )
                .expect("the statement prepares");
            Box::new(move |i| {
                let e = plain(w, i);
                client.execute(
                    &upsert,
                    &[&format!("p{w}-{i}"), &e.id, &e.revision(), &at.unix()],
                )?;
                Ok(())
            })
        },
        |w| {
            let mut store = PgStore::connect(url).expect("PostgreSQL connects");
            if warm {
                for i in 0..per {
                    store
                        .link(&format!("w{w}-{i}"), stored(w, i))
                        .expect("a warm-up link is written");
                }
                std::thread::sleep(personas::REVISION_LEASE);
            }
            Box::new(move |i| {
                store.link(&format!("r{w}-{i}"), stored(w, i))?;
                Ok(())
            })
        },
    )
}

/// Seconds for every worker of `ops` to run its operations `range`, concurrently.
fn run_block(ops: &mut [Op<'_>], range: std::ops::Range<usize>) -> Res<f64> {
    let start = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = ops
            .iter_mut()
            .map(|op| {
                let range = range.clone();
                s.spawn(move || range.into_iter().try_for_each(op))
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a worker panicked")??;
        }
        Ok(())
    })?;
    Ok(start.elapsed().as_secs_f64())
}

/// A row: links/s plain and with revisions, the cost (time per link, with / plain), and the
/// median of the blocks' costs.
fn row(name: &str, file: Pair, pg: Pair) {
    println!(
        "{name:<40} {:>10.0} {:>10.0} {:>6.2}× {:>6.2}×   {:>10.0} {:>10.0} {:>6.2}× {:>6.2}×",
        file.a,
        file.b,
        file.a / file.b,
        file.median_cost,
        pg.a,
        pg.b,
        pg.a / pg.b,
        pg.median_cost
    );
}
