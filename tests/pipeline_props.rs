//! Property tests of the one check pipeline:
//!
//! - random sequences of store operations on a personas directory: after every accepted
//!   operation `validate` passes on the directory; after every refused one the directory is
//!   byte for byte unchanged;
//! - random sequences of file edits: the registry's incremental state after each equals a
//!   fresh full check of the same files (same diagnostics; every persona of the full check
//!   live with the same revision; anything else live is the last good version of a file that
//!   is invalid now), prompt budgets included; and the verdict alone (`diagnostics_only`)
//!   equals the full check's;
//! - random sequences of file edits: `reassemble` onto the previous catalog equals a fresh
//!   `assemble`, and shares every entry that did not change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use personas::check::{Options, Tree, assemble, check, check_files, reassemble};
use personas::{Registry, Store, ValidateOptions, WriteOp, validate_paths};
use proptest::prelude::*;

const IDS: [&str; 5] = ["coach", "poet", "sage", "kid", "journaling-assistant"];

fn id() -> impl Strategy<Value = &'static str> {
    prop::sample::select(IDS.to_vec())
}

/// A valid persona text, optionally extending a parent and with aliases.
fn persona(name: &str, extends: Option<&str>, aliases: &[&str]) -> String {
    let mut text = String::new();
    if let Some(parent) = extends {
        text.push_str(&format!("extends = \"{parent}\"\n"));
    }
    text.push_str(&format!(
        "name = \"{name}\"\ndescription = \"About {name}.\"\nicon = \"🙂\"\nsystem_prompt = \"You are {name}.\"\n"
    ));
    if !aliases.is_empty() {
        let list: Vec<String> = aliases.iter().map(|a| format!("\"{a}\"")).collect();
        text.push_str(&format!("aliases = [{}]\n", list.join(", ")));
    }
    text
}

#[derive(Debug, Clone)]
enum Op {
    Create(&'static str, Option<&'static str>, Vec<&'static str>),
    SetAliases(&'static str, Vec<&'static str>),
    SetExtends(&'static str, &'static str),
    UnsetExtends(&'static str),
    SetIdKey(&'static str, &'static str),
    Rename(&'static str, &'static str),
    Delete(&'static str),
    WriteText(&'static str, Option<&'static str>),
    Batch(Vec<(&'static str, Option<&'static str>, bool)>),
}

fn op() -> impl Strategy<Value = Op> {
    let aliases = prop::collection::vec(
        prop::sample::select(vec!["old", "mentor", "coach", "poet", "kid"]),
        0..3,
    );
    prop_oneof![
        (id(), prop::option::of(id()), aliases.clone()).prop_map(|(a, b, c)| Op::Create(a, b, c)),
        (id(), aliases).prop_map(|(a, b)| Op::SetAliases(a, b)),
        (id(), id()).prop_map(|(a, b)| Op::SetExtends(a, b)),
        id().prop_map(Op::UnsetExtends),
        (id(), id()).prop_map(|(a, b)| Op::SetIdKey(a, b)),
        (id(), id()).prop_map(|(a, b)| Op::Rename(a, b)),
        id().prop_map(Op::Delete),
        (id(), prop::option::of(id())).prop_map(|(a, b)| Op::WriteText(a, b)),
        prop::collection::vec((id(), prop::option::of(id()), any::<bool>()), 1..4)
            .prop_map(Op::Batch),
    ]
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|a| format!("\"{a}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn apply(store: &Store, op: &Op) -> bool {
    let result = match op {
        Op::Create(id, extends, aliases) => store
            .create_text(id, &persona(id, *extends, aliases))
            .map(|_| ()),
        Op::SetAliases(id, aliases) => store.set(id, "aliases", &list(aliases)).map(|_| ()),
        Op::SetExtends(id, parent) => store.set(id, "extends", parent).map(|_| ()),
        Op::UnsetExtends(id) => store.unset(id, "extends").map(|_| ()),
        Op::SetIdKey(id, value) => store.set(id, "id", value).map(|_| ()),
        Op::Rename(old, new) => store.rename(old, new).map(|_| ()),
        Op::Delete(id) => store.delete(id).map(|_| ()),
        Op::WriteText(id, extends) => store
            .write_text(id, &persona(&format!("{id} again"), *extends, &[]))
            .map(|_| ()),
        Op::Batch(items) => {
            let ops: Vec<WriteOp> = items
                .iter()
                .map(|(id, extends, delete)| {
                    if *delete {
                        WriteOp::Delete {
                            id: (*id).to_owned(),
                        }
                    } else {
                        WriteOp::Create {
                            id: (*id).to_owned(),
                            text: persona(id, *extends, &[]),
                        }
                    }
                })
                .collect();
            store.apply(&ops).map(|_| ())
        }
    };
    result.is_ok()
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), fs::read(&path).expect("read"));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn accepted_writes_keep_the_directory_valid_and_refused_ones_change_nothing(
        ops in prop::collection::vec(op(), 1..14)
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("p");
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join("journaling-assistant.toml"), persona("Journal", None, &[])).expect("write");
        fs::write(dir.join("coach.toml"), persona("Coach", None, &[])).expect("write");
        let store = Store::new(&dir);
        let options = ValidateOptions {
            default_persona: Some("journaling-assistant".into()),
            dir: Some(dir.clone()),
        };
        for op in &ops {
            let before = files(&dir);
            let accepted = apply(&store, op);
            if accepted {
                let report = validate_paths(std::slice::from_ref(&dir), &options).expect("validate");
                prop_assert!(report.is_ok(), "{op:?} was accepted but validate says {:#?}", report.diagnostics);
            } else {
                prop_assert_eq!(files(&dir), before, "{:?} was refused but changed the directory", op);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// A store that checks against a live registry (as the server does) accepts and refuses
    /// exactly what a store that reads the directory does.
    #[test]
    fn a_registry_backed_store_gives_the_verdicts_of_a_full_check(
        ops in prop::collection::vec(op(), 1..14)
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dirs = [tmp.path().join("disk"), tmp.path().join("live")];
        for dir in &dirs {
            fs::create_dir(dir).expect("mkdir");
            fs::write(dir.join("journaling-assistant.toml"), persona("Journal", None, &[])).expect("write");
            fs::write(dir.join("coach.toml"), persona("Coach", None, &[])).expect("write");
        }
        let disk = Store::new(&dirs[0]);
        let registry = Registry::open(&dirs[1]).expect("open");
        let live = Store::new(&dirs[1]).with_registry(registry);
        for (n, op) in ops.iter().enumerate() {
            let a = apply(&disk, op);
            let b = apply(&live, op);
            prop_assert_eq!(a, b, "verdicts differ on {:?} after {:?}", op, &ops[..n]);
            let rel = |dir: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
                files(dir).into_iter().map(|(p, b)| (p.strip_prefix(dir).expect("inside").to_path_buf(), b)).collect()
            };
            prop_assert_eq!(rel(&dirs[0]), rel(&dirs[1]));
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    /// Folder, id, parent, aliases, and a prompt budget (`[model] max_prompt_tokens`).
    Write(
        &'static str,
        &'static str,
        Option<&'static str>,
        Vec<&'static str>,
        Option<u32>,
    ),
    Broken(&'static str, &'static str),
    Remove(&'static str, &'static str),
}

fn folder() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "team/", "z/"])
}

fn edit() -> impl Strategy<Value = Edit> {
    let aliases = prop::collection::vec(prop::sample::select(vec!["old", "coach", "poet"]), 0..2);
    prop_oneof![
        // Every prompt ("You are … n.") is over a budget of 2 tokens, and none over 50.
        4 => (folder(), id(), prop::option::of(id()), aliases, prop::option::of(prop::sample::select(vec![2u32, 50])))
            .prop_map(|(f, i, e, a, b)| Edit::Write(f, i, e, a, b)),
        1 => (folder(), id()).prop_map(|(f, i)| Edit::Broken(f, i)),
        2 => (folder(), id()).prop_map(|(f, i)| Edit::Remove(f, i)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn incremental_reload_equals_a_fresh_full_check(edits in prop::collection::vec(edit(), 1..16)) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("p");
        fs::create_dir_all(dir.join("team")).expect("mkdir");
        fs::create_dir_all(dir.join("z")).expect("mkdir");
        fs::write(dir.join("journaling-assistant.toml"), persona("Journal", None, &[])).expect("write");
        let registry = Registry::open(&dir).expect("open");
        for (n, e) in edits.iter().enumerate() {
            let path = match e {
                Edit::Write(f, id, extends, aliases, budget) => {
                    let path = dir.join(format!("{f}{id}.toml"));
                    let mut text = persona(&format!("{id} {n}"), *extends, aliases);
                    if let Some(b) = budget {
                        text.push_str(&format!("[model]\nmax_prompt_tokens = {b}\n"));
                    }
                    fs::write(&path, text).expect("write");
                    path
                }
                Edit::Broken(f, id) => {
                    let path = dir.join(format!("{f}{id}.toml"));
                    fs::write(&path, format!("name = \"{id}\"\nicon = [\n")).expect("write");
                    path
                }
                Edit::Remove(f, id) => {
                    let path = dir.join(format!("{f}{id}.toml"));
                    let _ = fs::remove_file(&path);
                    path
                }
            };
            registry.reload_paths(&[path]).expect("reload");
            let full = check(&Tree::from_dir(&dir).expect("tree"), &Options {
                default_persona: Some("journaling-assistant".into()),
                diagnostics_only: false,
            });
            // The verdict alone (as `validate` and the store compute it) is the same.
            let verdict = check(&Tree::from_dir(&dir).expect("tree"), &Options {
                default_persona: Some("journaling-assistant".into()),
                diagnostics_only: true,
            });
            prop_assert_eq!(&verdict.diagnostics, &full.diagnostics);
            let errors: Vec<_> = full.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
            let status = registry.status();
            prop_assert_eq!(status.errors.as_ref(), &errors, "after {:?}", &edits[..=n]);
            let snapshot = registry.snapshot();
            // A file with an error now may keep its last good version live (the registry's
            // promise); everything else must be exactly what the full check resolved.
            let broken = |path: &Path| errors.iter().any(|d| d.path == path);
            for (id, entry) in &full.entries {
                let live = snapshot.get(id);
                prop_assert!(live.is_some(), "{} is valid but not live after {:?}", id, &edits[..=n]);
                let live = live.expect("checked");
                if !broken(&live.path) {
                    prop_assert_eq!(&live.revision(), &entry.revision(), "{} after {:?}", id, &edits[..=n]);
                    prop_assert_eq!(&live.path, &entry.path);
                }
            }
            for live in snapshot.iter() {
                if full.entries.get(&live.id).is_none_or(|e| e.path != live.path) {
                    prop_assert!(
                        broken(&live.path),
                        "{} is live from {} but neither valid nor kept as last good: {:?}",
                        live.id, live.path.display(), &edits[..=n]
                    );
                }
            }
        }
    }
}

/// Writes, breaks or removes one file of `dir` (an [`Edit`]).
fn apply_edit(dir: &Path, n: usize, e: &Edit) {
    match e {
        Edit::Write(f, id, extends, aliases, budget) => {
            let mut text = persona(&format!("{id} {}", n % 2), *extends, aliases);
            if let Some(b) = budget {
                text.push_str(&format!("[model]\nmax_prompt_tokens = {b}\n"));
            }
            fs::write(dir.join(format!("{f}{id}.toml")), text).expect("write");
        }
        Edit::Broken(f, id) => {
            let text = format!("name = \"{id}\"\nicon = [\n");
            fs::write(dir.join(format!("{f}{id}.toml")), text).expect("write");
        }
        Edit::Remove(f, id) => {
            let _ = fs::remove_file(dir.join(format!("{f}{id}.toml")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn reassemble_equals_a_fresh_assemble_and_shares_unchanged_entries(
        edits in prop::collection::vec(edit(), 1..16),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("p");
        fs::create_dir_all(dir.join("team")).expect("mkdir");
        fs::create_dir_all(dir.join("z")).expect("mkdir");
        fs::write(dir.join("journaling-assistant.toml"), persona("Journal", None, &[])).expect("write");
        fs::write(dir.join("poet.toml"), persona("Poet", Some("journaling-assistant"), &[])).expect("write");
        let options = Options {
            default_persona: Some("journaling-assistant".into()),
            diagnostics_only: false,
        };
        let tree = Tree::from_dir(&dir).expect("tree");
        let mut previous = assemble(&tree, &check_files(&tree), &options);
        for (n, e) in edits.iter().enumerate() {
            apply_edit(&dir, n, e);
            let tree = Tree::from_dir(&dir).expect("tree");
            let files = check_files(&tree);
            let fresh = assemble(&tree, &files, &options);
            let again = reassemble(&tree, &files, &options, &previous);
            prop_assert_eq!(&again.diagnostics, &fresh.diagnostics, "after {:?}", &edits[..=n]);
            prop_assert_eq!(&again.entries, &fresh.entries, "after {:?}", &edits[..=n]);
            prop_assert_eq!(again.files, fresh.files);
            for (id, entry) in &again.entries {
                if let Some(before) = previous.entries.get(id)
                    && before.path == entry.path
                    && before.persona == entry.persona
                {
                    prop_assert!(
                        std::sync::Arc::ptr_eq(&before.persona, &entry.persona),
                        "{} did not change but was resolved anew after {:?}", id, &edits[..=n]
                    );
                }
            }
            previous = again;
        }
    }
}
