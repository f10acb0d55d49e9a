//! PostgreSQL only: a database restart between writes (library, CLI and HTTP server), an
//! unreachable database, replicas starting and linking at once, schema versions.

use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use personas::SessionError;
use serde_json::Value;

use super::{Backend, Project, entry, pg, util};

/// `personactl serve` over a project's personas and database; killed on drop.
struct Serve(util::Server);

impl Serve {
    fn start(p: &Project) -> Self {
        Serve(util::Server::spawn(p.cmd(&[
            "serve",
            "--addr",
            "127.0.0.1:0",
        ])))
    }

    /// `METHOD /api/sessions/SESSION/persona`, with a body for PUT.
    fn call(&self, method: &str, session: &str, body: Option<&str>) -> (u16, Value) {
        let path = format!("/api/sessions/{session}/persona");
        let method = if body.is_some() { "PUT" } else { method };
        self.0.call(method, &path, body, None)
    }

    fn link(&self, session: &str, persona: &str) -> u16 {
        self.call(
            "PUT",
            session,
            Some(&format!(r#"{{"persona":"{persona}"}}"#)),
        )
        .0
    }
}

/// A project on a database of a cluster of its own, which the test may stop and start.
fn own_cluster() -> (pg::Cluster, Project) {
    let cluster = pg::Cluster::start(&[]).unwrap_or_else(|e| panic!("{}\n({e})", pg::HOW_TO));
    pg::create_db(&cluster.url("postgres"), "chat");
    let p = Project::with(Backend::Postgres(cluster.url("chat")));
    (cluster, p)
}

#[test]
fn a_database_restart_between_writes_loses_nothing_and_clients_reconnect() {
    let (cluster, p) = own_cluster();
    let catalog = p.catalog();
    p.ok(&["session", "link", "cli-1", "coach"], 0);
    let mut store = p.long_lived();
    store.link("lib-1", entry(&catalog, "therapist")).unwrap();
    let server = Serve::start(&p);
    assert_eq!(server.link("http-1", "story-teller"), 200);

    cluster.stop().unwrap();
    // While it is down: clear errors, quickly.
    let t = Instant::now();
    p.cmd(&["session", "link", "cli-2", "coach"])
        .run()
        .code(2)
        .stderr_contains("cannot connect");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(matches!(
        store.get("lib-1"),
        Err(SessionError::Database { .. })
    ));
    assert_eq!(server.link("http-2", "coach"), 503);

    cluster
        .resume()
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log()));
    // The same long-lived store and server carry on, on a new connection.
    store.link("lib-2", entry(&catalog, "coach")).unwrap();
    assert_eq!(server.link("http-3", "coach"), 200);
    p.ok(&["session", "link", "cli-3", "therapist"], 0);
    let (status, body) = server.call("GET", "http-1", None);
    assert_eq!((status, &body["resolved"]), (200, &"story-teller".into()));

    // And a restart of `personactl serve` itself: a new process sees everything.
    drop(server);
    let server = Serve::start(&p);
    let (_, body) = server.call("GET", "lib-2", None);
    assert_eq!(body["resolved"], "coach");
    let sessions: Vec<String> = p.links().into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        sessions,
        ["cli-1", "cli-3", "http-1", "http-3", "lib-1", "lib-2"],
        "everything written before and after the restart, nothing written while it was down"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error_not_a_hang() {
    let p = Project::new();
    // Nothing listens on port 1: refused at once. The password is never printed.
    let refused = "postgres://app:hunter2@127.0.0.1:1/chat";
    let out = p
        .cmd(&["--sessions", refused, "session", "show", "s1"])
        .run()
        .code(2)
        .stderr_contains("postgres://app@127.0.0.1:1/chat: cannot connect")
        .stderr_contains("hint:");
    assert!(!out.stderr.contains("hunter2"), "{out}");

    // A port that accepts connections and never answers: the connect timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://app@{}/chat?connect_timeout=1",
        silent.local_addr().unwrap()
    );
    for args in [
        vec!["session", "link", "s1", "coach"],
        vec!["session", "list"],
        vec!["serve", "--addr", "127.0.0.1:0"],
    ] {
        let t = Instant::now();
        let out = p.cmd(&args).arg("--sessions").arg(&url).run();
        let took = t.elapsed();
        out.code(2).stderr_contains("no answer within 1 s");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    drop(silent);
    assert!(!p.sessions().exists());
}

#[test]
fn replicas_starting_together_migrate_an_empty_database_once_and_lose_no_link() {
    let p = Project::postgres();
    let spawn = |args: &[&str]| -> Child {
        p.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("personactl starts")
    };
    // Eight processes on a database without a schema yet, each linking its own session, and
    // eight more all linking one shared session.
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    let mut children: Vec<Child> = (0..8)
        .map(|i| spawn(&["session", "link", &format!("replica-{i}"), ids[i % 4]]))
        .collect();
    children.extend((0..8).map(|i| spawn(&["session", "link", "shared", ids[i % 4]])));
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let Backend::Postgres(url) = &p.backend else {
        unreachable!()
    };
    let mut db = pg::client(url);
    let versions: Vec<i32> = db
        .query("SELECT version FROM personactl_schema_migrations", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2], "each migration applied once");
    let links = p.links();
    assert_eq!(links.len(), 9, "{links:?}");
    let shared = &links.iter().find(|(s, _)| s == "shared").unwrap().1;
    assert!(ids.contains(&&*shared.persona));
    // The table has what point lookups and listing by persona need.
    let indexes: Vec<String> = db
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'personactl_sessions' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        indexes.iter().any(|i| i.contains("(persona, session)")),
        "{indexes:?}"
    );
    assert!(
        indexes
            .iter()
            .any(|i| i.contains("UNIQUE") && i.contains("(session)")),
        "{indexes:?}"
    );
}

#[test]
fn a_schema_newer_than_this_build_is_refused_and_left_alone() {
    let p = Project::postgres();
    p.ok(&["session", "link", "s1", "coach"], 0);
    let Backend::Postgres(url) = &p.backend else {
        unreachable!()
    };
    pg::client(url)
        .batch_execute(
            "INSERT INTO personactl_schema_migrations (version, name) VALUES (99, 'future')",
        )
        .unwrap();
    p.cmd(&["session", "link", "s2", "coach"])
        .run()
        .code(2)
        .stderr_contains("version 99, newer than this personactl supports (2)");
    let count: i64 = pg::client(url)
        .query_one("SELECT count(*) FROM personactl_sessions", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[test]
fn compact_on_postgres_says_there_is_nothing_to_do() {
    let p = Project::postgres();
    p.ok(&["session", "link", "s1", "coach"], 0);
    let out = p.ok(&["session", "compact"], 0);
    assert!(out.contains("nothing to compact"), "{out}");
    assert_eq!(p.links().len(), 1);
}
