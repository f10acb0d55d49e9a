//! The registry with real files in temporary directories and real file notifications.
//! No sleep is an assertion: every test waits for the event it expects (10 s at most).

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use personas::{Event, Lookup, Registry, Watcher};
use util::{TIMEOUT, TempTree, eventually, names, next_reload, persona, until};

fn with_aliases(name: &str, aliases: &[&str]) -> String {
    let list: Vec<String> = aliases.iter().map(|a| format!("\"{a}\"")).collect();
    format!("{}aliases = [{}]\n", persona(name), list.join(", "))
}

/// A `personas/` folder in a temporary directory, with the files given.
struct Fixture {
    tree: TempTree,
    dir: PathBuf,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Self {
        let tree = TempTree::new();
        let dir = tree.path("personas");
        fs::create_dir(&dir).expect("create the personas directory");
        let f = Fixture { tree, dir };
        for (rel, text) in files {
            f.write(rel, text);
        }
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        self.tree.write(&format!("personas/{rel}"), text);
    }

    /// Opens the registry, subscribes and starts watching.
    fn watch(&self, debounce_ms: u64) -> (Registry, Receiver<Event>, Watcher) {
        // Every fixture that watches has a `coach`: the default persona of these tests.
        let registry = Registry::builder(&self.dir)
            .default_persona("coach")
            .debounce(Duration::from_millis(debounce_ms))
            .open()
            .expect("open the registry");
        let events = registry.subscribe();
        let watcher = registry.watch().expect("start watching");
        (registry, events, watcher)
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn name_of(registry: &Registry, id: &str) -> Option<String> {
    registry.snapshot().get(id).map(|e| e.persona.name.clone())
}

#[test]
fn open_gives_a_consistent_snapshot() {
    let f = Fixture::new(&[
        ("journaling-assistant.toml", &persona("Journal")),
        ("coach.toml", &with_aliases("Coach", &["trainer"])),
        ("fiction/story-teller.toml", &persona("Story")),
        ("broken.toml", "name = \"Broken\"\n"),
        ("notes.md", "not a persona"),
    ]);
    let registry = Registry::open(&f.dir).expect("open");
    let snap = registry.snapshot();
    assert_eq!(snap.generation(), 1);
    assert_eq!(snap.len(), 3);
    let ids: Vec<&str> = snap.ids().collect();
    assert_eq!(ids, ["coach", "journaling-assistant", "story-teller"]);
    let iterated: Vec<&str> = snap.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(iterated, ids);
    assert_eq!(
        snap.by_alias("trainer").map(|e| e.id.as_str()),
        Some("coach")
    );
    assert_eq!(snap.find("trainer").map(|e| e.id.as_str()), Some("coach"));
    let fallback = snap
        .find_or_default("no-such-persona")
        .expect("the default");
    assert_eq!(fallback.id, "journaling-assistant");
    assert_eq!(
        snap.default_persona().map(|e| e.id.as_str()),
        Some("journaling-assistant")
    );
    fn via_lookup(l: &impl Lookup) -> Option<String> {
        l.get("coach").map(|e| e.persona.name.clone())
    }
    assert_eq!(via_lookup(&*snap).as_deref(), Some("Coach"));
    let status = registry.status();
    assert!(!status.success);
    assert_eq!((status.personas, status.files), (3, 4));
    assert!(
        status
            .errors
            .iter()
            .all(|d| d.path.ends_with("broken.toml"))
    );
    assert!(!status.errors.is_empty());
}

#[test]
fn a_revision_is_hashed_when_asked_and_is_the_same_as_a_full_loads() {
    let f = Fixture::new(&[
        ("coach.toml", &persona("Coach")),
        ("tutor.toml", &with_aliases("Tutor", &["teacher"])),
    ]);
    let registry = Registry::open(&f.dir).expect("open the registry");
    let catalog = personas::Catalog::load(&f.dir).expect("load the catalog");
    let snapshot = registry.snapshot();
    for id in ["coach", "tutor"] {
        let live = snapshot.get(id).expect("live");
        let full = catalog.get(id).expect("loaded");
        // Equal before either revision is hashed, and a copy made before carries it after.
        assert_eq!(live, full, "{id}");
        let copy = live.clone();
        assert_eq!(live.revision(), personas::revision(&live.persona), "{id}");
        assert_eq!(live.revision(), full.revision(), "{id}");
        assert_eq!(copy.revision(), live.revision(), "{id}");
        assert_eq!(live.revision().len(), 16, "{id}");
    }
    assert_ne!(
        snapshot.get("coach").expect("coach").revision(),
        snapshot.get("tutor").expect("tutor").revision()
    );
}

#[test]
fn in_place_edit_is_one_update() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (registry, rx, _w) = f.watch(200);
    f.write("coach.toml", &persona("Coach v2"));
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("updated", "coach"), ("reloaded", "-")])
    );
    assert_eq!(events[0].path(), f.path("coach.toml"));
    assert_eq!(events[0].generation(), 2);
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach v2"));
    assert_eq!(registry.snapshot().generation(), 2);
}

#[test]
fn write_temp_then_rename_is_an_update_never_remove_and_add() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (registry, rx, _w) = f.watch(200);
    f.write("coach.toml.tmp", &persona("Coach renamed over"));
    fs::rename(f.path("coach.toml.tmp"), f.path("coach.toml")).expect("rename");
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("updated", "coach"), ("reloaded", "-")])
    );
    assert_eq!(
        name_of(&registry, "coach").as_deref(),
        Some("Coach renamed over")
    );
}

#[test]
fn truncate_then_write_keeps_the_persona_throughout() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (registry, rx, _w) = f.watch(30);
    // Truncate, and let the registry see the empty file before the new content arrives.
    fs::File::create(f.path("coach.toml")).expect("truncate");
    let events = until(&rx, |e| matches!(e, Event::Invalid { .. }));
    assert!(events.iter().all(|e| !matches!(e, Event::Removed { .. })));
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach"));
    f.write("coach.toml", &persona("Coach v2"));
    let events = until(&rx, |e| matches!(e, Event::Updated { .. }));
    assert!(events.iter().all(|e| !matches!(e, Event::Removed { .. })));
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach v2"));
}

#[test]
fn broken_edit_keeps_the_last_good_version_until_fixed() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (registry, rx, _w) = f.watch(200);
    f.write(
        "coach.toml",
        "name = \"Coach\"\ndescription = \"x\"\nsystem_prompt = \"y\"\n",
    );
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("invalid", "coach"), ("reloaded", "-")])
    );
    let Event::Invalid {
        diagnostics,
        generation,
        ..
    } = &events[0]
    else {
        unreachable!("checked above")
    };
    assert_eq!(*generation, 2);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code.as_str() == "schema.required"),
        "{diagnostics:?}"
    );
    assert_eq!(
        name_of(&registry, "coach").as_deref(),
        Some("Coach"),
        "last good kept"
    );
    let status = registry.status();
    assert!(!status.success && !status.errors.is_empty());

    f.write("coach.toml", &persona("Coach fixed"));
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("updated", "coach"), ("reloaded", "-")])
    );
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach fixed"));
    let status = registry.status();
    assert!(status.success && status.errors.is_empty(), "{status:?}");
}

#[test]
fn delete_removes_and_a_new_file_adds() {
    let f = Fixture::new(&[
        ("coach.toml", &persona("Coach")),
        ("poet.toml", &persona("Poet")),
    ]);
    let (registry, rx, _w) = f.watch(200);
    fs::remove_file(f.path("coach.toml")).expect("delete");
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("removed", "coach"), ("reloaded", "-")])
    );
    assert!(registry.snapshot().get("coach").is_none());
    f.write("group/new-one.toml", &persona("New"));
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("added", "new-one"), ("reloaded", "-")])
    );
    assert_eq!(events[0].path(), f.path("group/new-one.toml"));
    assert_eq!(registry.snapshot().len(), 2);
}

#[test]
fn two_hundred_files_at_once_are_one_generation() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    // A generous quiet time: the writer below may be descheduled on a busy machine.
    let (registry, rx, _w) = f.watch(400);
    for i in 0..200 {
        f.write(&format!("bulk/p-{i:03}.toml"), &persona(&format!("P{i}")));
    }
    let events = next_reload(&rx);
    let added = events.iter().filter(|e| e.name() == "added").count();
    assert_eq!(added, 200, "{:?}", names(&events));
    assert_eq!(events.len(), 201);
    assert!(events.iter().all(|e| e.generation() == 2));
    let snap = registry.snapshot();
    assert_eq!((snap.generation(), snap.len()), (2, 201));
}

#[test]
fn an_edit_shares_every_other_entry_with_the_previous_snapshot() {
    let f = Fixture::new(&[
        ("coach.toml", &persona("Coach")),
        ("poet.toml", &persona("Poet")),
    ]);
    let registry = Registry::open(&f.dir).expect("open");
    let before = registry.snapshot();
    f.write("coach.toml", &persona("Coach v2"));
    assert_eq!(
        registry
            .reload_paths(&[f.path("coach.toml")])
            .expect("reload"),
        2
    );
    let after = registry.snapshot();
    assert!(std::ptr::eq(
        before.get("poet").expect("poet before"),
        after.get("poet").expect("poet after")
    ));
    assert!(!std::ptr::eq(
        before.get("coach").expect("coach before"),
        after.get("coach").expect("coach after")
    ));
    assert_eq!(
        before.get("coach").expect("coach before").persona.name,
        "Coach",
        "old snapshot unchanged"
    );
}

#[test]
fn explicit_reload_without_a_watcher() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let registry = Registry::open(&f.dir).expect("open");
    let rx = registry.subscribe();
    assert_eq!(
        registry.reload().expect("reload"),
        1,
        "nothing changed: same generation"
    );
    f.write("coach.toml", &persona("Coach v2"));
    f.write("poet.toml", &persona("Poet"));
    assert_eq!(registry.reload().expect("reload"), 2);
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("updated", "coach"), ("added", "poet"), ("reloaded", "-")])
    );
    fs::remove_dir_all(&f.dir).expect("remove the directory");
    assert!(matches!(
        registry.reload(),
        Err(personas::Error::NotFound { .. })
    ));
    assert_eq!(
        registry.snapshot().len(),
        2,
        "a missing directory keeps the personas"
    );
    assert!(!registry.status().success);
}

#[test]
fn duplicate_id_keeps_the_first_loaded_file() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (registry, rx, _w) = f.watch(200);
    f.write("team/coach.toml", &persona("Coach copy"));
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("invalid", "coach"), ("reloaded", "-")])
    );
    let Event::Invalid {
        diagnostics, path, ..
    } = &events[0]
    else {
        unreachable!("checked above")
    };
    assert_eq!(path, &f.path("team/coach.toml"));
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code.as_str() == "id.duplicate")
    );
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach"));
    // The first file goes: the other one takes the id over.
    fs::remove_file(f.path("coach.toml")).expect("delete");
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("updated", "coach"), ("reloaded", "-")])
    );
    assert_eq!(events[0].path(), f.path("team/coach.toml"));
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach copy"));
    assert!(registry.status().success);
}

#[test]
fn non_persona_files_never_cause_events() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (_registry, rx, _w) = f.watch(200);
    for (rel, text) in [
        ("notes.md", "notes"),
        (".hidden.toml", &persona("Hidden")),
        (".coach.toml.swp", "swap"),
        ("coach.toml~", "backup"),
        ("coach.toml.tmp", "temp"),
        ("4913", ""),
        ("team/.draft.toml", &persona("Draft")),
        (".git/config", "[core]"),
    ] {
        f.write(rel, text);
    }
    fs::remove_file(f.path("4913")).expect("delete the probe file");
    // Then a real edit: the first reload must be about it alone.
    f.write("coach.toml", &persona("Coach v2"));
    let events = next_reload(&rx);
    assert_eq!(
        names(&events),
        pairs(&[("updated", "coach"), ("reloaded", "-")])
    );
}

#[test]
fn directory_deleted_and_recreated_is_survived() {
    let f = Fixture::new(&[
        ("coach.toml", &persona("Coach")),
        ("poet.toml", &persona("Poet")),
    ]);
    let (registry, rx, _w) = f.watch(200);
    fs::remove_dir_all(&f.dir).expect("remove the directory");
    eventually("the status to report the missing directory", || {
        registry.status().watch_error.is_some() || !registry.status().success
    });
    assert_eq!(
        registry.snapshot().len(),
        2,
        "personas kept while the directory is gone"
    );

    fs::create_dir(&f.dir).expect("re-create");
    f.write("coach.toml", &persona("Coach again"));
    f.write("poet.toml", &persona("Poet"));
    let mut seen = Vec::new();
    until(&rx, |e| {
        seen.push((e.name(), e.id().map(str::to_owned)));
        e.name() == "updated" && e.id() == Some("coach")
    });
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach again"));
    assert!(seen.iter().all(|(n, _)| *n != "removed"), "{seen:?}");
    // The watch is armed on the new directory: an in-place edit is seen.
    f.write("poet.toml", &persona("Poet v2"));
    until(&rx, |e| e.name() == "updated" && e.id() == Some("poet"));
    assert_eq!(name_of(&registry, "poet").as_deref(), Some("Poet v2"));
    eventually("a successful status", || registry.status().success);
}

#[cfg(unix)]
#[test]
fn configmap_data_symlink_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let f = Fixture::new(&[("..2026_01_01_00_00_00.1/coach.toml", &persona("Coach"))]);
    symlink("..2026_01_01_00_00_00.1", f.path("..data")).expect("..data");
    symlink("..data/coach.toml", f.path("coach.toml")).expect("top-level link");
    let (registry, rx, _w) = f.watch(200);
    assert_eq!(name_of(&registry, "coach").as_deref(), Some("Coach"));
    assert_eq!(registry.snapshot().len(), 1);

    // What the kubelet does: a new timestamped folder, a new link, renamed over `..data`.
    f.write(
        "..2026_02_02_00_00_00.2/coach.toml",
        &persona("Coach from ConfigMap v2"),
    );
    symlink("..2026_02_02_00_00_00.2", f.path("..data_tmp")).expect("..data_tmp");
    fs::rename(f.path("..data_tmp"), f.path("..data")).expect("swap ..data");
    fs::remove_dir_all(f.path("..2026_01_01_00_00_00.1")).expect("remove the old folder");

    let events = until(&rx, |e| e.name() == "updated");
    assert_eq!(names(&events), pairs(&[("updated", "coach")]));
    assert_eq!(events[0].path(), f.path("coach.toml"));
    assert_eq!(
        name_of(&registry, "coach").as_deref(),
        Some("Coach from ConfigMap v2")
    );
}

#[test]
fn readers_see_all_old_or_all_new_ids_during_a_renaming_burst() {
    const N: usize = 30;
    let files: Vec<(String, String)> = (0..N)
        .map(|i| (format!("old-{i}.toml"), persona(&format!("Old {i}"))))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let f = Fixture::new(&refs);
    let (registry, rx, _w) = f.watch(400);
    let done = Arc::new(AtomicBool::new(false));
    let mixes = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (registry, done, mixes) = (registry.clone(), Arc::clone(&done), Arc::clone(&mixes));
            std::thread::spawn(move || {
                let mut saw_new = false;
                let deadline = Instant::now() + TIMEOUT;
                // Until the burst is applied and this reader has seen it (or time runs out).
                while !(done.load(Ordering::SeqCst) && saw_new) && Instant::now() < deadline {
                    let snap = registry.snapshot();
                    let old = (0..N)
                        .filter(|i| snap.get(&format!("old-{i}")).is_some())
                        .count();
                    let new = (0..N)
                        .filter(|i| snap.get(&format!("new-{i}")).is_some())
                        .count();
                    let aliased = (0..N)
                        .filter(|i| snap.by_alias(&format!("old-{i}")).is_some())
                        .count();
                    if !((old == N && new == 0 && aliased == 0)
                        || (old == 0 && new == N && aliased == N))
                    {
                        mixes.lock().expect("no reader panicked").push((
                            snap.generation(),
                            old,
                            new,
                            aliased,
                        ));
                    }
                    saw_new |= new == N;
                }
                saw_new
            })
        })
        .collect();
    for i in 0..N {
        f.write(
            &format!("new-{i}.toml"),
            &with_aliases(&format!("New {i}"), &[&format!("old-{i}")]),
        );
        fs::remove_file(f.path(&format!("old-{i}.toml"))).expect("delete");
    }
    let events = next_reload(&rx);
    done.store(true, Ordering::SeqCst);
    let saw_new: Vec<bool> = readers
        .into_iter()
        .map(|r| r.join().expect("reader"))
        .collect();
    assert!(
        mixes.lock().expect("no reader panicked").is_empty(),
        "mixed snapshots: {:?}",
        mixes.lock().expect("no reader panicked")
    );
    assert_eq!(events.iter().filter(|e| e.name() == "removed").count(), N);
    assert_eq!(events.iter().filter(|e| e.name() == "added").count(), N);
    assert!(events.iter().all(|e| e.generation() == 2));
    assert!(
        saw_new.iter().all(|s| *s),
        "every reader ends on the new generation"
    );
}

#[test]
fn dropping_the_watcher_stops_its_thread() {
    let f = Fixture::new(&[("coach.toml", &persona("Coach"))]);
    let (registry, rx, watcher) = f.watch(200);
    let (tx, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(watcher);
        let _ = tx.send(());
    });
    dropped
        .recv_timeout(TIMEOUT)
        .expect("the watcher stops promptly");
    // The registry still works without it.
    f.write("coach.toml", &persona("Coach v2"));
    assert_eq!(registry.reload().expect("reload"), 2);
    assert_eq!(
        names(&next_reload(&rx)),
        pairs(&[("updated", "coach"), ("reloaded", "-")])
    );
}

#[test]
fn missing_directory_is_a_typed_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let err = Registry::open(tmp.path().join("nope")).expect_err("missing");
    assert!(matches!(err, personas::Error::NotFound { .. }), "{err}");
    let _: &Path = tmp.path();
}

#[test]
fn alias_collisions_are_reported_and_cleared_as_files_change() {
    let f = Fixture::new(&[
        ("coach.toml", &with_aliases("Coach", &["trainer"])),
        ("poet.toml", &persona("Poet")),
    ]);
    let registry = Registry::builder(&f.dir)
        .default_persona("coach")
        .open()
        .expect("open");
    let rx = registry.subscribe();
    // An edit that gives poet coach's alias: reported on poet, coach keeps the alias.
    f.write("poet.toml", &with_aliases("Poet", &["trainer"]));
    registry
        .reload_paths(&[f.path("poet.toml")])
        .expect("reload");
    let events = next_reload(&rx);
    let invalid = events
        .iter()
        .find_map(|e| match e {
            Event::Invalid { diagnostics, .. } => Some(diagnostics),
            _ => None,
        })
        .expect("an invalid event");
    assert!(
        invalid.iter().any(|d| d.code.as_str() == "id.duplicate"),
        "{invalid:?}"
    );
    assert_eq!(
        registry
            .snapshot()
            .by_alias("trainer")
            .map(|e| e.id.as_str()),
        Some("coach")
    );
    // An edit of poet's prompt alone keeps the problem reported.
    f.write("poet.toml", &with_aliases("Poet again", &["trainer"]));
    registry
        .reload_paths(&[f.path("poet.toml")])
        .expect("reload");
    assert!(!registry.status().success);
    assert!(next_reload(&rx).iter().any(|e| e.name() == "invalid"));
    // Dropping the alias clears it.
    f.write("poet.toml", &persona("Poet"));
    registry
        .reload_paths(&[f.path("poet.toml")])
        .expect("reload");
    assert!(registry.status().success, "{:?}", registry.status().errors);
    assert_eq!(
        names(&next_reload(&rx)),
        pairs(&[("updated", "poet"), ("reloaded", "-")])
    );
}

#[cfg(unix)]
#[test]
fn a_dangling_link_is_one_error_of_the_status_from_open_and_from_a_reload() {
    let t = TempTree::new();
    t.write("coach.toml", &persona("Coach"));
    t.write("journaling-assistant.toml", &persona("Journal"));
    std::os::unix::fs::symlink(t.path("nowhere.toml"), t.path("ghost.toml")).unwrap();
    let registry = Registry::open(t.root()).unwrap();
    let status = registry.status();
    assert!(!status.success);
    assert_eq!(status.errors.len(), 1, "{:?}", status.errors);
    assert!(status.errors[0].path.ends_with("ghost.toml"));
    assert_eq!(registry.snapshot().len(), 2, "the rest is live");
    fs::remove_file(t.path("ghost.toml")).unwrap();
    registry.reload_paths(&[t.path("ghost.toml")]).unwrap();
    assert!(registry.status().success, "{:?}", registry.status().errors);
    std::os::unix::fs::symlink(t.path("nowhere.toml"), t.path("ghost.toml")).unwrap();
    registry.reload().unwrap();
    assert_eq!(registry.status().errors.len(), 1);
}
