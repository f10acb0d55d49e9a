//! Sessions that keep their persona: stored revisions, pin or follow, upgrade, `--stale`,
//! damaged content, compaction and migration of revisions, links made before revisions were
//! stored. Run on both backends through `on_both_backends!` in `main.rs`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::Arc;

use personas::{Catalog, Link, Persona, Policy, SessionError, SessionStore, Timestamp, Unpinned};
use serde_json::Value;

use super::{Backend, Project, entry, links_in, other_kind, same_kind};

const DEFAULT: &str = "journaling-assistant";

impl Project {
    /// Rewrites one persona file, replacing `from` (which must be there) with `to`.
    pub(crate) fn edit(&self, id: &str, from: &str, to: &str) {
        let path = self.personas().join(format!("{id}.toml"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{id}.toml holds {from:?}");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn pinned_json(&self, session: &str, code: i32) -> Value {
        let out = self.ok(
            &["session", "show", session, "--pinned", "--format", "json"],
            code,
        );
        serde_json::from_str(&out).expect("show --pinned prints JSON")
    }

    /// Damages the stored content of `revision` (the revision itself left as it was).
    fn tamper(&self, revision: &str) {
        match &self.backend {
            Backend::File => {
                let path = self.dir.path().join("sessions.revisions.jsonl");
                let text = fs::read_to_string(&path).unwrap();
                let line = text
                    .lines()
                    .find(|l| l.contains(revision))
                    .expect("the revision is stored");
                let damaged = line.replacen("\"name\":\"", "\"name\":\"Evil ", 1);
                assert_ne!(line, damaged);
                fs::write(&path, text.replacen(line, &damaged, 1)).unwrap();
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(url) => {
                let n = super::pg::client(url)
                    .execute(
                        "UPDATE personactl_revisions SET persona = replace(persona, '\"name\":\"', '\"name\":\"Evil ') WHERE revision = $1",
                        &[&revision],
                    )
                    .unwrap();
                assert_eq!(n, 1);
            }
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres(_) => unreachable!(),
        }
    }
}

fn json_of(persona: &Persona) -> Value {
    serde_json::to_value(persona).unwrap()
}

fn snapshot(catalog: &Catalog, id: &str) -> (String, Arc<Persona>) {
    let e = entry(catalog, id);
    (e.revision().to_owned(), Arc::clone(&e.persona))
}

pub(crate) fn pinned_sessions_keep_their_persona_through_an_edit_a_rename_and_a_delete(p: Project) {
    p.ok(&["session", "link", "s-edit", "coach"], 0);
    p.ok(&["session", "link", "s-rename", "story-teller"], 0);
    p.ok(&["session", "link", "s-delete", "therapist"], 0);
    let before = p.catalog();
    let (coach_rev, coach) = snapshot(&before, "coach");
    let (_, story) = snapshot(&before, "story-teller");
    let (_, therapist) = snapshot(&before, "therapist");

    // An edit, a rename (story-teller → narrator, which lists the old id), a delete.
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 2\"");
    let story_text = fs::read_to_string(p.personas().join("story-teller.toml")).unwrap();
    fs::remove_file(p.personas().join("story-teller.toml")).unwrap();
    fs::write(
        p.personas().join("narrator.toml"),
        story_text.replacen(
            "name = \"Story Teller\"",
            "name = \"Narrator\"\naliases = [\"story-teller\"]",
            1,
        ),
    )
    .unwrap();
    fs::remove_file(p.personas().join("therapist.toml")).unwrap();
    let after = p.catalog();

    // The CLI: the resolution (follow) as before, plus the pinned persona.
    let s = p.pinned_json("s-edit", 0);
    assert_eq!(s["resolved"], "coach");
    assert_eq!(s["changed"], true);
    assert_eq!(s["pinned"], json_of(&coach));
    assert_eq!(s["pinned_revision"], coach_rev.as_str());
    assert_eq!(s["pinned_reason"], Value::Null);
    assert_eq!(s["revision"], entry(&after, "coach").revision());
    let s = p.pinned_json("s-rename", 0);
    assert_eq!(
        (&s["resolved"], &s["via_alias"]),
        (&"narrator".into(), &true.into())
    );
    assert_eq!(s["pinned"], json_of(&story));
    let s = p.pinned_json("s-delete", 0);
    assert_eq!(
        (&s["resolved"], &s["fallback"]),
        (&DEFAULT.into(), &true.into())
    );
    assert_eq!(s["pinned"], json_of(&therapist));
    let human = p.ok(&["session", "show", "s-delete", "--pinned"], 0);
    assert!(human.contains("pinned: `Wellbeing Companion`"), "{human}");
    // Without --pinned, the output is what it always was.
    let plain = p.show_json("s-edit");
    assert!(plain.get("pinned").is_none(), "{plain}");

    // The library: Pin gives the persona as linked, Follow the current one.
    let mut store = p.long_lived();
    for (session, pinned, now) in [
        ("s-edit", &coach, "coach"),
        ("s-rename", &story, "narrator"),
        ("s-delete", &therapist, DEFAULT),
    ] {
        let got = store.pinned(session, &after, DEFAULT).unwrap();
        assert_eq!(got.persona(Policy::Pin), &**pinned, "{session}");
        assert_eq!(
            got.persona(Policy::Follow),
            &*entry(&after, now).persona,
            "{session}"
        );
        assert!(got.newer(), "{session}");
        assert_eq!(got.reason, None);
    }
    // Follow is unchanged: resolve() gives what it gave before this feature.
    let r = store.resolve("s-edit", &after, DEFAULT).unwrap();
    assert_eq!((r.entry.id.as_str(), r.changed()), ("coach", true));
}

pub(crate) fn upgrade_relinks_to_the_current_revision(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    let (old_rev, old) = snapshot(&p.catalog(), "coach");
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 2\"");
    let (new_rev, new) = snapshot(&p.catalog(), "coach");
    assert_eq!(p.pinned_json("s1", 0)["pinned"], json_of(&old));

    let out = p.ok(&["session", "upgrade", "s1"], 0);
    assert!(out.contains(&old_rev) && out.contains(&new_rev), "{out}");
    let s = p.pinned_json("s1", 0);
    assert_eq!(s["pinned"], json_of(&new));
    assert_eq!(
        (&s["changed"], &s["linked_revision"]),
        (&false.into(), &new_rev.as_str().into())
    );
    let out = p.ok(&["session", "upgrade", "s1"], 0);
    assert!(out.contains("already"), "{out}");

    // A deleted persona: nothing to upgrade to (exit 1), the link stays as it was.
    let before = p.links();
    fs::remove_file(p.personas().join("coach.toml")).unwrap();
    let out = p.run(&["session", "upgrade", "s1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no longer exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(p.links(), before);
    p.ok(&["session", "upgrade", "never-linked"], 1);
    assert_eq!(p.pinned_json("s1", 0)["pinned"], json_of(&new));
}

pub(crate) fn list_stale_shows_the_sessions_whose_persona_changed(p: Project) {
    p.ok(&["session", "link", "a", "coach"], 0);
    p.ok(&["session", "link", "b", "therapist"], 0);
    p.ok(&["session", "link", "c", "story-teller"], 0);
    let stale = |p: &Project| -> Vec<Value> {
        let out = p.ok(&["session", "list", "--stale", "--format", "json"], 0);
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(stale(&p).is_empty());
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 2\"");
    fs::remove_file(p.personas().join("therapist.toml")).unwrap();
    let items = stale(&p);
    let sessions: Vec<&str> = items
        .iter()
        .map(|i| i["session"].as_str().unwrap())
        .collect();
    assert_eq!(sessions, ["a", "b"]);
    let coach_now = entry(&p.catalog(), "coach").revision().to_owned();
    assert_eq!(items[0]["current_revision"], coach_now.as_str());
    assert_ne!(items[0]["revision"], items[0]["current_revision"]);
    assert_eq!(items[1]["current"], Value::Null);
    let table = p.ok(&["session", "list", "--stale"], 0);
    assert!(
        table.contains("deleted") && table.contains(&coach_now),
        "{table}"
    );
    assert!(!table.contains("story-teller"), "{table}");
    p.ok(&["session", "upgrade", "a"], 0);
    let sessions: Vec<String> = stale(&p)
        .iter()
        .map(|i| i["session"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sessions, ["b"]);
}

pub(crate) fn many_processes_linking_one_new_revision_store_it_once(p: Project) {
    // A revision no session has been linked at yet, then many processes linking to it at once.
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 3\"");
    let (rev, coach) = snapshot(&p.catalog(), "coach");
    const PROCS: usize = 12;
    const ROUNDS: usize = 2;
    for round in 0..ROUNDS {
        let children: Vec<Child> = (0..PROCS)
            .map(|i| {
                p.command(&["session", "link", &format!("r{round}-{i}"), "coach"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("personactl starts")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
    }
    let mut store = p.store();
    assert_eq!(
        store.stored_revisions().unwrap(),
        std::slice::from_ref(&rev),
        "stored once"
    );
    if matches!(p.backend, Backend::File) {
        let text = fs::read_to_string(p.dir.path().join("sessions.revisions.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 2, "a header and one record:\n{text}");
    }
    let links = store.list(None).unwrap();
    assert_eq!(links.len(), PROCS * ROUNDS, "nothing lost");
    let catalog = p.catalog();
    for (session, _) in &links {
        let got = store.pinned(session, &catalog, DEFAULT).unwrap();
        assert_eq!(got.pinned.as_deref(), Some(&*coach), "{session}");
    }
}

pub(crate) fn damaged_stored_content_is_reported_not_served(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    let (rev, coach) = snapshot(&p.catalog(), "coach");
    p.tamper(&rev);

    let s = p.pinned_json("s1", 1);
    assert_eq!(s["pinned"], Value::Null);
    let reason = s["pinned_reason"].as_str().unwrap();
    assert!(
        reason.contains("not served") && reason.contains(&rev),
        "{reason}"
    );
    assert_eq!(s["resolved"], "coach", "the resolution is still given");
    let out = p.run(&["session", "show", "s1", "--pinned"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    let mut store = p.store();
    assert!(matches!(
        store.stored_revision(&rev),
        Err(SessionError::RevisionMismatch { .. })
    ));
    let catalog = p.catalog();
    let got = store.pinned("s1", &catalog, DEFAULT).unwrap();
    assert!(matches!(got.reason, Some(Unpinned::Damaged { .. })));
    assert_eq!(
        got.persona(Policy::Pin),
        &*coach,
        "Pin follows: never the damaged copy"
    );

    // The next link at that revision stores a good copy again.
    p.ok(&["session", "link", "s2", "coach"], 0);
    assert_eq!(p.pinned_json("s1", 0)["pinned"], json_of(&coach));
    assert_eq!(
        p.store().stored_revision(&rev).unwrap().as_deref(),
        Some(&*coach)
    );
}

pub(crate) fn compaction_keeps_exactly_the_referenced_revisions(p: Project) {
    p.ok(&["session", "link", "a", "coach"], 0);
    let (rev1, coach1) = snapshot(&p.catalog(), "coach");
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 2\"");
    p.ok(&["session", "link", "b", "coach"], 0);
    let rev2 = entry(&p.catalog(), "coach").revision().to_owned();
    p.ok(&["session", "link", "c", "therapist"], 0);
    p.ok(&["session", "link", "d", "story-teller"], 0);
    p.ok(&["session", "unlink", "d"], 0);
    p.ok(&["session", "link", "c", "coach"], 0);
    assert_eq!(p.store().stored_revisions().unwrap().len(), 4);

    let out = p.ok(&["session", "compact"], 0);
    assert!(
        out.contains("2 stored revision(s) kept, 2 dropped"),
        "{out}"
    );
    let mut want = vec![rev1, rev2];
    want.sort();
    assert_eq!(p.store().stored_revisions().unwrap(), want);
    assert_eq!(p.pinned_json("a", 0)["pinned"], json_of(&coach1));
    // Nothing left to drop, and links after a compaction store their revision again.
    let out = p.ok(&["session", "compact"], 0);
    assert!(
        out.contains("2 stored revision(s) kept, 0 dropped"),
        "{out}"
    );
    p.ok(&["session", "link", "e", "therapist"], 0);
    assert_eq!(p.store().stored_revisions().unwrap().len(), 3);
    let therapist = snapshot(&p.catalog(), "therapist").1;
    assert_eq!(p.pinned_json("e", 0)["pinned"], json_of(&therapist));
}

pub(crate) fn migrating_copies_revisions_both_ways(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    let coach1 = snapshot(&p.catalog(), "coach").1;
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 2\"");
    p.ok(&["session", "link", "s2", "coach"], 0);
    let coach2 = snapshot(&p.catalog(), "coach").1;
    // A link made before revisions were stored: its link is copied, its content cannot be.
    p.store()
        .import(&[(
            "old".into(),
            Link {
                persona: "therapist".into(),
                revision: Some("00000000000000aa".into()),
                at: Timestamp::from_unix(1_700_000_000),
            },
        )])
        .unwrap();
    let ours = p.store().stored_revisions().unwrap();
    assert_eq!(ours.len(), 2);

    let other = other_kind(&p);
    let out = p.run(&["session", "migrate", "--to", &other]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("copied 3 link(s)") && stdout.contains("2 stored revision(s)"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("1 linked revision(s) have no stored content")
    );
    let again = p.ok(&["session", "migrate", "--to", &other], 0);
    assert!(again.contains("0 stored revision(s)"), "{again}");
    let mut there = personas::SessionBackend::parse(&other).open().unwrap();
    assert_eq!(there.stored_revisions().unwrap(), ours);
    let catalog = p.catalog();
    let pinned =
        |store: &mut Box<dyn SessionStore>, s: &str| store.pinned(s, &catalog, DEFAULT).unwrap();
    assert_eq!(pinned(&mut there, "s1").pinned.as_deref(), Some(&*coach1));
    assert_eq!(pinned(&mut there, "s2").pinned.as_deref(), Some(&*coach2));
    assert!(matches!(
        pinned(&mut there, "old").reason,
        Some(Unpinned::NotStored { .. })
    ));

    // And back, into a new store of the first kind.
    let back = same_kind(&p);
    let out = p.ok(
        &["--sessions", &other, "session", "migrate", "--to", &back],
        0,
    );
    assert!(out.contains("2 stored revision(s)"), "{out}");
    let mut returned = personas::SessionBackend::parse(&back).open().unwrap();
    assert_eq!(returned.stored_revisions().unwrap(), ours);
    assert_eq!(
        pinned(&mut returned, "s1").pinned.as_deref(),
        Some(&*coach1)
    );
    assert_eq!(links_in(&back).len(), 3);
}

pub(crate) fn links_made_before_revisions_were_stored_keep_working(p: Project) {
    // What a store written by an earlier personactl holds: links, and no stored content.
    let catalog = p.catalog();
    let coach = entry(&catalog, "coach");
    let at = Timestamp::from_unix(1_790_000_000);
    p.store()
        .import(&[
            (
                "old".into(),
                Link {
                    persona: "coach".into(),
                    revision: Some(coach.revision().into()),
                    at,
                },
            ),
            (
                "older".into(),
                Link {
                    persona: "coach".into(),
                    revision: None,
                    at,
                },
            ),
        ])
        .unwrap();
    if matches!(p.backend, Backend::File) {
        assert!(!p.dir.path().join("sessions.revisions.jsonl").exists());
    }
    let s = p.pinned_json("old", 0);
    assert_eq!(
        (&s["resolved"], &s["fallback"]),
        (&"coach".into(), &false.into())
    );
    assert_eq!(s["pinned"], Value::Null);
    let reason = s["pinned_reason"].as_str().unwrap();
    assert!(reason.contains("before revisions were stored"), "{reason}");
    assert!(
        p.pinned_json("older", 0)["pinned_reason"]
            .as_str()
            .unwrap()
            .contains("no revision")
    );
    assert!(
        p.pinned_json("never", 0)["pinned_reason"]
            .as_str()
            .unwrap()
            .contains("not linked")
    );
    // Pin falls back to follow for them; follow is as before.
    let got = p.store().pinned("old", &catalog, DEFAULT).unwrap();
    assert_eq!(got.persona(Policy::Pin), &*coach.persona);
    assert!(!got.newer());
    assert_eq!(p.show_json("old")["resolved"], "coach");
    assert_eq!(
        p.ok(&["session", "list", "--stale", "--format", "json"], 0)
            .trim(),
        "[]"
    );
    // A new link beside them stores its revision; upgrading an old one is a no-op here (it is
    // at the current revision), and a new link at that revision makes it pinnable.
    p.ok(&["session", "link", "new", "coach"], 0);
    assert_eq!(p.pinned_json("old", 0)["pinned"], json_of(&coach.persona));
    p.ok(&["validate", "--sessions", &p.spec()], 0);
}

pub(crate) fn the_api_returns_the_pinned_persona(p: Project) {
    p.ok(&["session", "link", "s1", "coach"], 0);
    let coach = snapshot(&p.catalog(), "coach").1;
    p.edit("coach", "name = \"Coach\"", "name = \"Coach 2\"");
    let mut child = p
        .command(&["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("a first line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let get = |query: &str| -> (u16, Value) {
        let r = agent
            .get(&format!("{base}/api/sessions/s1/persona{query}"))
            .call()
            .expect("the server answers");
        let status = r.status().as_u16();
        let text = r.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    let (status, body) = get("?pinned=true");
    let (plain_status, plain) = get("");
    let (bad_status, _) = get("?pinned=maybe");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pinned"], json_of(&coach));
    assert_eq!(
        (&body["resolved"], &body["changed"]),
        (&"coach".into(), &true.into())
    );
    assert_eq!(plain_status, 200);
    assert!(plain.get("pinned").is_none(), "{plain}");
    assert_eq!(plain["resolved"], "coach");
    assert_eq!(bad_status, 400);
}

pub(crate) fn links_racing_compactions_never_name_a_dropped_revision(p: Project) {
    let catalog = p.catalog();
    let ids = ["coach", "therapist", "story-teller", "productivity-partner"];
    std::thread::scope(|s| {
        for t in 0..4 {
            let (p, catalog) = (&p, &catalog);
            s.spawn(move || {
                let mut store = p.store();
                for i in 0..60 {
                    // Each session moves between personas: old revisions become unreferenced.
                    let session = format!("t{t}-{}", i % 3);
                    store
                        .link(&session, entry(catalog, ids[(t + i) % 4]))
                        .unwrap();
                }
            });
        }
        let p = &p;
        s.spawn(move || {
            let mut store = p.store();
            for _ in 0..20 {
                store.compact().unwrap();
            }
        });
    });
    let mut store = p.store();
    for (session, link) in store.list(None).unwrap() {
        let rev = link.revision.as_deref().unwrap();
        assert!(
            store.stored_revision(rev).unwrap().is_some(),
            "{session} names {rev}, which was dropped"
        );
    }
}

/// Writers on their own handles, each link bringing a revision nobody stored yet (the file
/// backend's flushes of the revisions file are shared between them): every link is there and
/// pins exactly its own persona.
pub(crate) fn concurrent_links_each_bringing_a_new_revision_store_every_one(p: Project) {
    const THREADS: usize = 4;
    const LINKS: usize = 25;
    let catalog = p.catalog();
    let base = entry(&catalog, "coach");
    let variants: Vec<personas::Entry> = (0..THREADS * LINKS)
        .map(|i| {
            let mut persona = (*base.persona).clone();
            persona.system_prompt.push_str(&format!("\n(variant {i})"));
            personas::Entry::new(base.id.clone(), base.path.clone(), Arc::new(persona))
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (p, variants) = (&p, &variants);
            s.spawn(move || {
                let mut store = p.store();
                for i in 0..LINKS {
                    store
                        .link(&format!("t{t}-{i}"), &variants[t * LINKS + i])
                        .unwrap();
                }
            });
        }
    });
    let mut store = p.long_lived();
    assert_eq!(store.list(None).unwrap().len(), THREADS * LINKS);
    assert_eq!(store.skipped(), 0);
    assert_eq!(store.stored_revisions().unwrap().len(), THREADS * LINKS);
    for t in 0..THREADS {
        for i in 0..LINKS {
            let v = &variants[t * LINKS + i];
            let pinned = store
                .pinned(&format!("t{t}-{i}"), &catalog, "journaling-assistant")
                .unwrap();
            assert_eq!(pinned.pinned.as_deref(), Some(&*v.persona), "t{t}-{i}");
        }
    }
}
