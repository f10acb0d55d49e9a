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
