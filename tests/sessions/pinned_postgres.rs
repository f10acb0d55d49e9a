//! PostgreSQL only: the stored revisions' migration (schema version 2) down to version 1 and
//! up again.

use personas::{PgStore, SessionStore};
use serde_json::Value;

use super::{Backend, Project, entry, pg};

fn versions(url: &str) -> Vec<i32> {
    pg::client(url)
        .query(
            "SELECT version FROM personactl_schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn the_revisions_migration_goes_down_to_version_1_and_up_again() {
    let p = Project::postgres();
    let Backend::Postgres(url) = &p.backend else {
        unreachable!()
    };
    p.ok(&["session", "link", "s1", "coach"], 0);
    let mut store = PgStore::connect(url).unwrap();
    assert_eq!(store.stored_revisions().unwrap().len(), 1);
    assert_eq!(versions(url), [1, 2]);

    assert_eq!(store.migrate_down(1).unwrap(), 1);
    assert_eq!(versions(url), [1]);
    let gone: bool = pg::client(url)
        .query_one("SELECT to_regclass('personactl_revisions') IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(gone, "version 1 has no revisions table");
    let links: i64 = pg::client(url)
        .query_one("SELECT count(*) FROM personactl_sessions", &[])
        .unwrap()
        .get(0);
    assert_eq!(links, 1, "links are kept");

    // Up again (the next connection migrates): the link is now one made before revisions
    // were stored.
    let out = p.ok(
        &["session", "show", "s1", "--pinned", "--format", "json"],
        0,
    );
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(versions(url), [1, 2]);
    assert_eq!(
        (&s["resolved"], &s["pinned"]),
        (&"coach".into(), &Value::Null)
    );
    assert!(
        s["pinned_reason"]
            .as_str()
            .unwrap()
            .contains("before revisions were stored")
    );
    // The same store carries on, on a new connection; a new link stores the revision again.
    store.link("s2", entry(&p.catalog(), "coach")).unwrap();
    let out = p.ok(
        &["session", "show", "s1", "--pinned", "--format", "json"],
        0,
    );
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["pinned"]["name"], "Coach");
}

/// Whether a compaction holds its advisory lock (waiting out the leases, or dropping).
fn compaction_under_way(url: &str) -> bool {
    pg::client(url)
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks
                 WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND granted)",
            &[],
        )
        .unwrap()
        .get(0)
}

/// A link at a revision this store holds a lease on, made while a compaction waits out the
/// leases, keeps that revision stored; once a later compaction has dropped it, the next link
/// at it (its lease run out) stores it again.
#[test]
fn a_link_under_a_lease_during_a_compaction_keeps_its_revision() {
    let p = Project::postgres();
    let Backend::Postgres(url) = &p.backend else {
        unreachable!()
    };
    let catalog = p.catalog();
    let (coach, therapist) = (entry(&catalog, "coach"), entry(&catalog, "therapist"));
    let mut compactor = PgStore::connect(url).unwrap();
    let mut store = PgStore::connect(url).unwrap();
    // Storing coach's revision takes a lease on it; then no session names it.
    store.link("s1", coach).unwrap();
    store.link("s1", therapist).unwrap();
    std::thread::scope(|s| {
        let compaction = s.spawn(move || compactor.compact().unwrap());
        while !compaction_under_way(url) && !compaction.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        store.link("s2", coach).unwrap();
        compaction.join().unwrap();
    });
    let mut revisions = vec![coach.revision().to_owned(), therapist.revision().to_owned()];
    revisions.sort();
    assert_eq!(store.stored_revisions().unwrap(), revisions);
    assert_eq!(
        store.stored_revision(coach.revision()).unwrap().as_deref(),
        Some(&*coach.persona)
    );

    // No session names it now: the next compaction drops it; a link after stores it again.
    store.unlink("s2").unwrap();
    PgStore::connect(url).unwrap().compact().unwrap();
    assert_eq!(
        store.stored_revisions().unwrap(),
        [therapist.revision().to_owned()]
    );
    store.link("s3", coach).unwrap();
    assert_eq!(store.stored_revisions().unwrap(), revisions);
    let mut fresh = PgStore::connect(url).unwrap();
    assert_eq!(
        fresh.stored_revision(coach.revision()).unwrap().as_deref(),
        Some(&*coach.persona)
    );
}
