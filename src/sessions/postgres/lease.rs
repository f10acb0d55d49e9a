//! Leases: how a store links at a revision it has seen stored without checking, each time,
//! that a compaction has not dropped it meanwhile.
//!
//! A link that checks its revision (or stores it) also takes a lease, unless a compaction is
//! under way: the statement takes the compaction's advisory lock shared for a moment and
//! returns the database's clock just after. Until that time plus [`REVISION_LEASE`], nothing
//! can be dropped: a compaction takes the advisory lock (no new leases), waits on the
//! database's clock until every lease granted before has run out, and only then locks the
//! sessions table and drops the revisions no session names.
//!
//! A store keeps one chain of leases: a lease that begins before the last one ends extends
//! it. While the chain is unbroken, every revision seen stored since it began is still
//! stored, and a link at one is written with a comparison of the database's clock with the
//! chain's end instead of a lookup in the revisions table. The comparison runs once the
//! statement holds its lock on the sessions table: either the link is written before the
//! compaction locks the table (the compaction sees it, and keeps its revision), or it runs
//! after, when the lease has run out, and is not written (the link falls back to the check,
//! and a new chain begins). A link now and then takes a new lease on the way, so a busy
//! store's chain does not run out.
//!
//! This assumes the database server's clock does not step back during a compaction. Leases
//! are the connection's: a store that reconnects (perhaps to another server, after a
//! failover) begins with none.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use postgres::GenericClient;

/// How long a lease lasts on the database's clock; a compaction that has revisions to drop
/// waits this long (and a few milliseconds) first.
pub const REVISION_LEASE: Duration = Duration::from_millis(250);

/// What a compaction waits beyond [`REVISION_LEASE`]: timestamps are sent to the database
/// cut to microseconds.
const MARGIN: Duration = Duration::from_millis(5);

/// The chain is used while its last lease is younger than this on this machine's clock: the
/// lease began on the server before the answer came back, so it ends there a round trip
/// sooner. (A link the server finds too late is not written, and falls back to the check.)
const TRUSTED: Duration = Duration::from_millis(REVISION_LEASE.as_millis() as u64 * 3 / 4);

/// A link under a lease older than this takes a new one on the way.
const RENEW: Duration = Duration::from_millis(REVISION_LEASE.as_millis() as u64 / 4);

/// The advisory lock a compaction holds while it waits out the leases and drops revisions
/// ("pactlcmp").
pub(super) const COMPACTION_KEY: i64 = 0x7061_6374_6c63_6d70;

/// What a statement appends to take a lease: the database's clock just after the lock was
/// taken shared, or NULL while a compaction holds it.
pub(super) fn returning() -> String {
    format!(
        "RETURNING CASE WHEN pg_try_advisory_xact_lock_shared({COMPACTION_KEY})
             THEN clock_timestamp() END"
    )
}

/// What a link under a lease sends: the chain's end, and whether to take a new lease too.
#[derive(Clone, Copy, Debug)]
pub(super) struct Trusted {
    /// The chain's end, on the database's clock.
    pub until: SystemTime,
    /// Take a new lease on the way (the last one is getting old).
    pub renew: bool,
}

/// The revisions a store has seen stored, and its chain of leases.
#[derive(Debug, Default)]
pub(super) struct Leases {
    /// Each revision seen stored, with the chain it was seen in.
    known: HashMap<String, u64>,
    /// The current chain (a new number each time one breaks).
    chain: u64,
    /// The current chain's end on the database's clock, and when it was last extended on
    /// this machine's clock; none while there is no chain.
    end: Option<(SystemTime, Instant)>,
}

impl Leases {
    /// Whether a link at `rev` may go without checking it, and with what.
    pub fn trusted(&self, rev: &str) -> Option<Trusted> {
        let (until, granted) = self.end?;
        let age = granted.elapsed();
        (self.known.get(rev) == Some(&self.chain) && age < TRUSTED).then_some(Trusted {
            until,
            renew: age >= RENEW,
        })
    }

    /// Whether `rev` was seen stored (in any chain): a link at it checks it is still there
    /// rather than sending its content.
    pub fn knows(&self, rev: &str) -> bool {
        self.known.contains_key(rev)
    }

    /// A statement saw `rev` stored (checked it, stored it, or linked under the chain) and
    /// took a lease beginning at `start` (none: a compaction is under way).
    pub fn took(&mut self, rev: &str, start: Option<SystemTime>) {
        let now = Instant::now();
        match (start, self.end) {
            (Some(start), Some((until, _))) if start < until => {
                self.end = Some((until.max(start + REVISION_LEASE), now));
            }
            (Some(start), _) => {
                self.chain += 1;
                self.end = Some((start + REVISION_LEASE, now));
            }
            (None, _) => self.broken(),
        }
        self.known.insert(rev.to_owned(), self.chain);
    }

    /// The chain ran out (a link under it was not written): every revision is checked again.
    pub fn broken(&mut self) {
        self.chain += 1;
        self.end = None;
    }

    /// `rev` is not stored after all.
    pub fn forget(&mut self, rev: &str) {
        self.known.remove(rev);
    }

    /// Forgets everything: a new connection, a compaction, a migration.
    pub fn clear(&mut self) {
        self.known.clear();
        self.broken();
    }
}

/// Under the compaction's advisory lock (so no new leases): waits until every lease granted
/// before has run out on the database's clock.
pub(super) fn wait_out(client: &mut impl GenericClient) -> Result<(), postgres::Error> {
    const CLOCK: &str = "SELECT clock_timestamp()";
    let start: SystemTime = client.query_one(CLOCK, &[])?.get(0);
    let end = start + REVISION_LEASE + MARGIN;
    loop {
        let now: SystemTime = client.query_one(CLOCK, &[])?.get(0);
        match end.duration_since(now) {
            Ok(left) if !left.is_zero() => std::thread::sleep(left.min(Duration::from_secs(1))),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_000 + ms)
    }

    #[test]
    fn a_revision_is_trusted_only_in_the_chain_it_was_seen_in() {
        let mut leases = Leases::default();
        assert!(leases.trusted("a").is_none(), "nothing seen yet");
        leases.took("a", Some(at(0)));
        let t = leases.trusted("a").expect("seen in this chain");
        assert_eq!(t.until, at(250));
        assert!(!t.renew);
        assert!(leases.trusted("b").is_none(), "never seen");

        // A lease that begins before the chain ends extends it, and keeps "a" trusted.
        leases.took("b", Some(at(100)));
        assert_eq!(leases.trusted("a").unwrap().until, at(350));
        assert!(leases.trusted("b").is_some());

        // One that begins after the end starts a new chain: "a" must be checked again.
        leases.took("c", Some(at(400)));
        assert!(leases.trusted("a").is_none());
        assert!(leases.trusted("b").is_none());
        assert!(
            leases.knows("a"),
            "still known stored: checked, not sent again"
        );
        assert_eq!(leases.trusted("c").unwrap().until, at(650));

        // No lease (a compaction is under way): no chain at all.
        leases.took("a", None);
        assert!(leases.trusted("a").is_none());
        assert!(leases.trusted("c").is_none());
        leases.took("a", Some(at(700)));
        assert!(leases.trusted("a").is_some());
        assert!(leases.trusted("c").is_none());

        leases.broken();
        assert!(leases.trusted("a").is_none());
        leases.clear();
        assert!(!leases.knows("a"));
    }

    #[test]
    fn an_old_lease_asks_for_a_new_one_then_is_not_trusted() {
        let mut leases = Leases::default();
        leases.took("a", Some(at(0)));
        // As if granted RENEW ago on this machine's clock.
        let (until, _) = leases.end.unwrap();
        leases.end = Some((until, Instant::now() - RENEW));
        assert!(leases.trusted("a").unwrap().renew);
        leases.end = Some((until, Instant::now() - TRUSTED));
        assert!(leases.trusted("a").is_none());
    }
}
