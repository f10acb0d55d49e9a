//! The sessions index, through the real `personactl` binary and the library, against both
//! backends: the JSON Lines file and a real PostgreSQL server (the one `.ci/run` starts, or a
//! throwaway cluster; see `tests/util/pg.rs`). The backend-agnostic tests run once per backend
//! (`file::…`, `postgres::…`); `file_only` covers crashes and compaction of the file, and
//! `postgres_only` restarts, unreachable databases, concurrent replicas and migration.

#[cfg(feature = "postgres")]
#[path = "../util/pg.rs"]
mod pg;
#[path = "../util/mod.rs"]
mod util;

mod file_only;
mod model;
mod pinned;
mod pinned_file;
#[cfg(feature = "postgres")]
mod pinned_postgres;
#[cfg(feature = "postgres")]
mod postgres_only;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use util::{Cmd, TempTree};

use personas::{
    Catalog, Durability, Entry, Link, Lookup, SessionBackend, SessionLog, SessionStore,
};
use serde_json::Value;

/// Where a project's sessions are.
#[derive(Debug, Clone)]
enum Backend {
    /// `sessions.jsonl` beside `personas/` (the default location: no option passed).
    File,
    /// A fresh database of its own (passed as `PERSONAS_SESSIONS`).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres(String),
}

/// A temporary project: `personas/` with the shipped defaults, and its sessions backend.
struct Project {
    dir: tempfile::TempDir,
    backend: Backend,
}

impl Project {
    /// A project whose sessions are in the file `sessions.jsonl`.
    fn new() -> Self {
        Self::with(Backend::File)
    }

    /// A project whose sessions are in a new PostgreSQL database.
    #[cfg(feature = "postgres")]
    fn postgres() -> Self {
        Self::with(Backend::Postgres(pg::fresh_db()))
    }

    fn with(backend: Backend) -> Self {
        let dir = TempTree::new().defaults("personas").into_temp_dir();
        Project { dir, backend }
    }

    fn personas(&self) -> PathBuf {
        self.dir.path().join("personas")
    }

    fn sessions(&self) -> PathBuf {
        self.dir.path().join("sessions.jsonl")
    }

    /// What `--sessions` names: the file (relative to the project) or the URL.
    fn spec(&self) -> String {
        match &self.backend {
            Backend::File => "sessions.jsonl".into(),
            Backend::Postgres(url) => url.clone(),
        }
    }

    fn backend(&self) -> SessionBackend {
        match &self.backend {
            Backend::File => SessionBackend::File(self.sessions()),
            Backend::Postgres(url) => SessionBackend::parse(url),
        }
    }

    /// A store for a few operations (as the CLI opens it); for the file, unsynced writes.
    fn store(&self) -> Box<dyn SessionStore> {
        match &self.backend {
            Backend::File => {
                Box::new(SessionLog::new(self.sessions()).with_durability(Durability::Buffered))
            }
            Backend::Postgres(_) => self.backend().open().expect("the store opens"),
        }
    }

    /// A store as a long-lived process opens it (the file: a `SessionIndex`).
    fn long_lived(&self) -> Box<dyn SessionStore> {
        self.backend().open_long_lived().expect("the store opens")
    }

    /// Every live session and its persona, read afresh.
    fn links(&self) -> Vec<(String, Link)> {
        self.store().list(None).expect("the store lists")
    }

    /// The stored state, exactly: the file's bytes (`None` when there is no file), or every
    /// row of the table.
    fn dump(&self) -> Option<Vec<u8>> {
        match &self.backend {
            Backend::File => fs::read(self.sessions()).ok(),
            Backend::Postgres(_) => {
                let rows = self.links();
                (!rows.is_empty()).then(|| format!("{rows:?}").into_bytes())
            }
        }
    }

    fn catalog(&self) -> Catalog {
        Catalog::load(&self.personas()).expect("the personas load")
    }

    /// `personactl ARGS…` in the project folder, with the environment `util::Cmd` clears (but
    /// `PERSONAS_SESSIONS` = the database's URL for PostgreSQL).
    fn cmd(&self, args: &[&str]) -> Cmd {
        let cmd = Cmd::new().cwd(self.dir.path()).args(args);
        match &self.backend {
            Backend::Postgres(url) => cmd.env("PERSONAS_SESSIONS", url),
            Backend::File => cmd,
        }
    }

    /// Runs `personactl ARGS…` to the end (the raw output, for the tests that look at bytes).
    #[allow(dead_code)] // kept beside `cmd` for tests written against the first helper
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("personactl runs")
    }

    /// The `std::process::Command` of [`Project::cmd`], for tests that spawn it.
    fn command(&self, args: &[&str]) -> Command {
        self.cmd(args).command()
    }

    /// Runs `personactl` and expects exit code `code`; returns stdout.
    #[track_caller]
    fn ok(&self, args: &[&str], code: i32) -> String {
        self.cmd(args).run().code(code).stdout
    }

    fn show_json(&self, session: &str) -> Value {
        let out = self.ok(&["session", "show", session, "--format", "json"], 0);
        serde_json::from_str(&out).expect("show prints JSON")
    }
}

/// Runs each named test (a `fn(Project)`) once per backend: `file::NAME`, `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod file {
            $(#[test] fn $name() { super::$name(super::Project::new()); })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Project::postgres()); })*
        }
    };
}

on_both_backends!(
    link_show_unlink_list_through_the_cli,
    an_unknown_legacy_session_falls_back_to_the_default,
    a_renamed_persona_is_found_by_alias_and_a_deleted_one_falls_back,
    a_changed_persona_is_reported_as_changed,
    refused_inputs_write_nothing,
    concurrent_processes_lose_no_link,
    concurrent_threads_and_a_compaction_lose_no_link,
    a_long_lived_index_sees_other_processes_links_and_compactions,
    migrating_to_the_other_backend_and_back_keeps_every_link,
    pinned_sessions_keep_their_persona_through_an_edit_a_rename_and_a_delete,
    upgrade_relinks_to_the_current_revision,
    list_stale_shows_the_sessions_whose_persona_changed,
    many_processes_linking_one_new_revision_store_it_once,
    damaged_stored_content_is_reported_not_served,
    compaction_keeps_exactly_the_referenced_revisions,
    migrating_copies_revisions_both_ways,
    links_made_before_revisions_were_stored_keep_working,
    the_api_returns_the_pinned_persona,
    links_racing_compactions_never_name_a_dropped_revision,
    concurrent_links_each_bringing_a_new_revision_store_every_one,
);

use pinned::{
    compaction_keeps_exactly_the_referenced_revisions,
    concurrent_links_each_bringing_a_new_revision_store_every_one,
    damaged_stored_content_is_reported_not_served,
    links_made_before_revisions_were_stored_keep_working,
    links_racing_compactions_never_name_a_dropped_revision,
    list_stale_shows_the_sessions_whose_persona_changed,
    many_processes_linking_one_new_revision_store_it_once, migrating_copies_revisions_both_ways,
    pinned_sessions_keep_their_persona_through_an_edit_a_rename_and_a_delete,
    the_api_returns_the_pinned_persona, upgrade_relinks_to_the_current_revision,
};

fn entry<'a>(catalog: &'a Catalog, id: &str) -> &'a Entry {
    catalog.get(id).expect("a shipped persona")
}

fn link_show_unlink_list_through_the_cli(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    p.ok(&["session", "link", "s2", "therapist"], 0);
    let shown = p.ok(&["session", "show", "s1", "--format", "json"], 0);
    assert!(
        shown.starts_with(
            r#"{"session":"s1","persona":"coach","resolved":"coach","fallback":false,"#
        ),
        "{shown}"
    );
    let shown = p.show_json("s1");
    assert_eq!(shown["revision"], entry(&p.catalog(), "coach").revision());
    assert_eq!(shown["changed"], false);

    let list: Value =
        serde_json::from_str(&p.ok(&["session", "list", "--format", "json"], 0)).unwrap();
    let pairs: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["session"].as_str().unwrap(),
                i["persona"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, [("s1", "coach"), ("s2", "therapist")]);
    let only: Value = serde_json::from_str(&p.ok(
        &[
            "session",
            "list",
            "--persona",
            "therapist",
            "--format",
            "json",
        ],
        0,
    ))
    .unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);

    p.ok(&["session", "unlink", "s1"], 0);
    let shown = p.show_json("s1");
    assert_eq!(shown["persona"], Value::Null);
    assert_eq!(shown["resolved"], "journaling-assistant");
    assert_eq!(shown["fallback"], true);
    assert!(p.ok(&["session", "show", "s1"], 0).contains("fallback"));
}

fn an_unknown_legacy_session_falls_back_to_the_default(p: Project) {
    let shown = p.ok(&["session", "show", "from-2019", "--format", "json"], 0);
    assert!(shown.starts_with(
        r#"{"session":"from-2019","persona":null,"resolved":"journaling-assistant","fallback":true,"#
    ));
    let other = p.ok(
        &[
            "--default-persona",
            "coach",
            "session",
            "show",
            "from-2019",
            "--format",
            "json",
        ],
        0,
    );
    assert!(other.contains(r#""resolved":"coach""#));
    assert_eq!(p.dump(), None, "showing creates nothing");
}

fn a_renamed_persona_is_found_by_alias_and_a_deleted_one_falls_back(p: Project) {
    let story = p.personas().join("story-teller.toml");
    fs::copy(&story, p.personas().join("old-coach.toml")).unwrap();
    fs::write(
        p.personas().join("old-coach.toml"),
        fs::read_to_string(&story)
            .unwrap()
            .replace("name = \"Story Teller\"", "name = \"Old\""),
    )
    .unwrap();
    p.ok(&["session", "link", "s1", "old-coach"], 0);
    p.ok(&["session", "link", "s2", "therapist"], 0);

    // Rename: old-coach.toml goes away, coach lists it among its aliases.
    fs::remove_file(p.personas().join("old-coach.toml")).unwrap();
    let coach = p.personas().join("coach.toml");
    let text = fs::read_to_string(&coach).unwrap();
    assert!(text.contains("name = \"Coach\""));
    fs::write(
        &coach,
        text.replace(
            "name = \"Coach\"",
            "name = \"Coach\"\naliases = [\"old-coach\"]",
        ),
    )
    .unwrap();
    // Delete: therapist.toml goes away.
    fs::remove_file(p.personas().join("therapist.toml")).unwrap();

    let s1 = p.show_json("s1");
    assert_eq!(
        (
            &s1["persona"],
            &s1["resolved"],
            &s1["fallback"],
            &s1["via_alias"],
            &s1["changed"]
        ),
        (
            &"old-coach".into(),
            &"coach".into(),
            &false.into(),
            &true.into(),
            &true.into()
        )
    );
    let s2 = p.show_json("s2");
    assert_eq!(
        (&s2["persona"], &s2["resolved"], &s2["fallback"]),
        (
            &"therapist".into(),
            &"journaling-assistant".into(),
            &true.into()
        )
    );

    // validate reports the dangling link (therapist), not the aliased one.
    let spec = p.spec();
    let report = p
        .cmd(&["validate", "--sessions", &spec, "--format", "json"])
        .run()
        .code(1)
        .stdout_json();
    let diags: Vec<_> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == spec.as_str())
        .collect();
    assert_eq!(diags.len(), 1, "{report}");
    assert_eq!(diags[0]["code"], "sessions.dangling");
    // The file points at the line of the link; a database has no lines.
    let line = if matches!(p.backend, Backend::File) {
        3
    } else {
        1
    };
    assert_eq!(diags[0]["line"], line);
    assert_eq!(diags[0]["column"], 1);
    assert!(diags[0]["message"].as_str().unwrap().contains("therapist"));
}

fn a_changed_persona_is_reported_as_changed(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    let coach = p.personas().join("coach.toml");
    let text = fs::read_to_string(&coach).unwrap();
    fs::write(
        &coach,
        text.replace("name = \"Coach\"", "name = \"Coach 2\""),
    )
    .unwrap();
    let shown = p.show_json("s1");
    assert_eq!(shown["changed"], true);
    assert_ne!(shown["revision"], shown["linked_revision"]);
    assert!(
        p.ok(&["session", "show", "s1"], 0)
            .contains("changed since")
    );
}

fn refused_inputs_write_nothing(p: Project) {
    let long = "x".repeat(257);
    let refused = refused_commands(&long);
    // Without any link: nothing is created.
    for args in &refused {
        p.ok(args, 1);
        assert_eq!(p.dump(), None, "{args:?} wrote something");
    }
    // With one: it stays exactly as it was.
    p.ok(&["session", "link", "s1", "coach"], 0);
    let before = p.dump();
    for args in &refused {
        p.ok(args, 1);
        assert_eq!(p.dump(), before, "{args:?} changed the sessions");
    }
}

/// Commands that must be refused (exit 1) and write nothing.
fn refused_commands(long: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["session", "link", "s9", "no-such-persona"],
        vec!["session", "link", "", "coach"],
        vec!["session", "link", long, "coach"],
        vec!["session", "link", "tab\there", "coach"],
        vec!["session", "link", "new\nline", "coach"],
        vec!["session", "unlink", "never-linked"],
        vec!["session", "unlink", ""],
        vec!["session", "show", "bell\u{7}"],
    ]
}

fn concurrent_processes_lose_no_link(p: Project) {
    const PROCS: usize = 12;
    const ROUNDS: usize = 3;
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    for round in 0..ROUNDS {
        let children: Vec<_> = (0..PROCS)
            .map(|i| {
                let session = format!("r{round}-p{i}");
                p.command(&["session", "link", &session, ids[i % ids.len()]])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("personactl starts")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
    }
    if matches!(p.backend, Backend::File) {
        let text = fs::read_to_string(p.sessions()).unwrap();
        assert_eq!(
            text.lines().count(),
            1 + PROCS * ROUNDS,
            "one line per link:\n{text}"
        );
        assert!(text.ends_with('\n'));
    }
    let mut store = p.store();
    assert_eq!(store.list(None).unwrap().len(), PROCS * ROUNDS);
    assert_eq!(store.skipped(), 0, "no interleaved line");
    for round in 0..ROUNDS {
        for i in 0..PROCS {
            let link = store
                .get(&format!("r{round}-p{i}"))
                .unwrap()
                .expect("every link present");
            assert_eq!(&*link.persona, ids[i % ids.len()]);
        }
    }
    p.ok(&["validate", "--sessions", &p.spec()], 0);
}

fn concurrent_threads_and_a_compaction_lose_no_link(p: Project) {
    let catalog = p.catalog();
    let coach = entry(&catalog, "coach");
    const THREADS: usize = 6;
    const LINKS: usize = 150;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let p = &p;
            s.spawn(move || {
                let mut store = p.store();
                for i in 0..LINKS {
                    store.link(&format!("t{t}-{i}"), coach).unwrap();
                }
            });
        }
        let p = &p;
        s.spawn(move || {
            let mut store = p.long_lived();
            for _ in 0..5 {
                store.compact().unwrap();
            }
        });
    });
    let mut store = p.long_lived();
    assert_eq!(store.list(None).unwrap().len(), THREADS * LINKS);
    assert_eq!(store.skipped(), 0);
    let mut one_shot = p.store();
    for t in 0..THREADS {
        for i in 0..LINKS {
            assert!(one_shot.get(&format!("t{t}-{i}")).unwrap().is_some());
        }
    }
}

fn a_long_lived_index_sees_other_processes_links_and_compactions(p: Project) {
    let catalog = p.catalog();
    let mut index = p.long_lived();
    assert!(index.get("s1").unwrap().is_none());
    p.ok(&["session", "link", "s1", "coach"], 0);
    assert_eq!(&*index.get("s1").unwrap().expect("seen").persona, "coach");
    p.ok(&["session", "link", "s1", "therapist"], 0);
    p.ok(&["session", "link", "s2", "coach"], 0);
    let r = index
        .resolve("s1", &catalog, "journaling-assistant")
        .unwrap();
    assert_eq!(r.entry.id, "therapist");
    p.ok(&["session", "compact"], 0);
    p.ok(&["session", "link", "s3", "story-teller"], 0);
    p.ok(&["session", "unlink", "s2"], 0);
    assert!(index.get("s2").unwrap().is_none());
    assert_eq!(
        &*index.get("s3").unwrap().expect("seen").persona,
        "story-teller"
    );
    assert_eq!(index.list(None).unwrap().len(), 2);
    // And the other way round: what the index writes, the CLI reads.
    index.link("s4", entry(&catalog, "coach")).unwrap();
    assert_eq!(p.show_json("s4")["resolved"], "coach");
}

/// A new, empty store of the other kind than `p`'s: a database for a file project (a second
/// file without the `postgres` feature), a file for a database project.
fn other_kind(p: &Project) -> String {
    match &p.backend {
        #[cfg(feature = "postgres")]
        Backend::File => pg::fresh_db(),
        #[cfg(not(feature = "postgres"))]
        Backend::File => p.dir.path().join("other.jsonl").display().to_string(),
        Backend::Postgres(_) => p.dir.path().join("other.jsonl").display().to_string(),
    }
}

/// A new, empty store of the same kind as `p`'s.
fn same_kind(p: &Project) -> String {
    match &p.backend {
        Backend::File => p.dir.path().join("back.jsonl").display().to_string(),
        #[cfg(feature = "postgres")]
        Backend::Postgres(_) => pg::fresh_db(),
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres(_) => unreachable!("no database without the feature"),
    }
}

fn links_in(spec: &str) -> Vec<(String, Link)> {
    SessionBackend::parse(spec)
        .open()
        .and_then(|mut s| s.list(None))
        .expect("the target lists")
}

fn migrating_to_the_other_backend_and_back_keeps_every_link(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    p.ok(&["session", "link", "s2", "therapist"], 0);
    p.ok(&["session", "link", "é 🎭 \"q\"", "story-teller"], 0);
    p.ok(&["session", "unlink", "s2"], 0);
    // A link made before the persona changed keeps its old revision through the copies.
    let coach = p.personas().join("coach.toml");
    let text = fs::read_to_string(&coach).unwrap();
    fs::write(
        &coach,
        text.replace("name = \"Coach\"", "name = \"Coach 2\""),
    )
    .unwrap();
    p.ok(&["session", "link", "s4", "coach"], 0);
    let before = p.links();
    assert_eq!(before.len(), 3);
    assert_ne!(before[1].1.revision, before[2].1.revision);

    // There: a session the target already has (linked elsewhere) is overwritten; others it
    // alone holds are left alone.
    let other = other_kind(&p);
    p.ok(
        &["--sessions", &other, "session", "link", "s1", "therapist"],
        0,
    );
    p.ok(
        &[
            "--sessions",
            &other,
            "session",
            "link",
            "only-there",
            "coach",
        ],
        0,
    );
    let out = p.ok(&["session", "migrate", "--to", &other], 0);
    assert!(
        out.contains("copied 3 link(s)") && out.contains("(0 already there)"),
        "{out}"
    );
    let out = p.ok(&["session", "migrate", "--to", &other], 0);
    assert!(
        out.contains("copied 0 link(s)") && out.contains("(3 already there)"),
        "{out}"
    );
    let there: Vec<_> = links_in(&other)
        .into_iter()
        .filter(|(s, _)| s != "only-there")
        .collect();
    assert_eq!(there, before, "persona, revision and time kept");
    let shown = p.ok(
        &[
            "--sessions",
            &other,
            "session",
            "show",
            "s1",
            "--format",
            "json",
        ],
        0,
    );
    assert!(shown.contains(r#""resolved":"coach""#), "{shown}");
    assert!(shown.contains(r#""changed":true"#), "{shown}");

    // And back, into a new store of the first kind.
    let back = same_kind(&p);
    for (copied, already) in [(4, 0), (0, 4)] {
        let out = p.ok(
            &["--sessions", &other, "session", "migrate", "--to", &back],
            0,
        );
        let want = format!("copied {copied} link(s)");
        assert!(
            out.contains(&want) && out.contains(&format!("({already} already there)")),
            "{out}"
        );
    }
    let returned: Vec<_> = links_in(&back)
        .into_iter()
        .filter(|(s, _)| s != "only-there")
        .collect();
    assert_eq!(returned, before);
    // Copying a store onto itself is refused as a mistake.
    let spec = p.spec();
    p.cmd(&["--sessions", &spec, "session", "migrate", "--to", &spec])
        .run()
        .code(2);
}
