//! Composition: `extends`, prompt variables, `render` and `explain`, with real files and the
//! real binary (and the registry with real file notifications).

mod util;

use std::fs;
use std::path::Path;
use std::time::Duration;

use personas::{Event, Registry};
use serde_json::{Value, json};
use util::{TempTree, changes, next_reload, personactl, replace};

const BASE: &str = include_str!("fixtures/valid/base.toml");

const CHILD: &str = include_str!("fixtures/valid/child.toml");

/// `(line, column, code)` of every diagnostic of `validate --format json` on `dir`.
fn diagnostics(dir: &Path) -> Vec<(String, usize, usize, String)> {
    let run = personactl()
        .args(["validate", "--format", "json"])
        .arg(dir)
        .run();
    let doc: Value = serde_json::from_str(&run.stdout).expect("json report");
    doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            let path = d["path"].as_str().unwrap_or_default();
            let file = Path::new(path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                file,
                d["line"].as_u64().unwrap_or(0) as usize,
                d["column"].as_u64().unwrap_or(0) as usize,
                d["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn d(file: &str, line: usize, column: usize, code: &str) -> (String, usize, usize, String) {
    (file.to_owned(), line, column, code.to_owned())
}

fn show_json(dir: &Path, id: &str) -> Value {
    let run = personactl()
        .personas(dir)
        .args(["show", id, "--format", "json"])
        .run()
        .success();
    serde_json::from_str(&run.stdout).expect("json persona")
}

#[test]
fn merge_rules_field_by_field() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD);
    let dir = tree.path("p");
    assert_eq!(diagnostics(&dir), []);
    let p = show_json(&dir, "child");
    assert_eq!(p["id"], "child");
    assert_eq!(p["name"], "Child", "scalars override");
    assert_eq!(
        p["description"], "Shared rules.",
        "missing scalars are inherited"
    );
    assert_eq!(p["icon"], "🧩");
    assert_eq!(p["greeting"], "Hello from {{persona_name}}.");
    assert_eq!(p["system_prompt"], "Child first.\nBe kind. Tone: {{tone}}.");
    assert_eq!(
        p.get("tags"),
        None,
        "arrays replace, even with an empty one"
    );
    assert_eq!(
        p["starters"],
        json!(["Start here."]),
        "absent arrays are inherited"
    );
    assert_eq!(p["model"], json!({"temperature": 1.5, "max_tokens": 100}));
    assert_eq!(p["vars"], json!({"tone": "dry", "place": "home"}));
    assert_eq!(p["extensions"], json!({"ui": {"accent": "red", "size": 2}}));
    for never in ["hidden", "order", "aliases"] {
        assert_eq!(p.get(never), None, "`{never}` is never inherited");
    }
    // A hidden base persona has visible children.
    let list = personactl()
        .personas(&dir)
        .args(["list", "--format", "json"])
        .run();
    let list: Value = serde_json::from_str(&list.stdout).expect("json list");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, ["child"]);
}

#[test]
fn show_prints_the_resolved_persona_and_raw_the_file() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD);
    let dir = tree.path("p");
    let raw = personactl()
        .personas(&dir)
        .args(["show", "child", "--raw"])
        .run()
        .success();
    assert_eq!(raw.stdout, CHILD);
    let resolved = personactl()
        .personas(&dir)
        .args(["show", "child"])
        .run()
        .success();
    assert!(
        resolved.stdout.starts_with("#:schema"),
        "{}",
        resolved.stdout
    );
    assert!(resolved.stdout.contains("description = \"Shared rules.\""));
    assert!(!resolved.stdout.contains("extends"));
    assert!(!resolved.stdout.contains("{{parent}}"));
}

#[test]
fn required_keys_may_come_from_the_parent_but_not_without_extends() {
    let child_only = "extends = \"base\"\nname = \"Only a name\"\n";
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", child_only)
        .file("p/flat.toml", "name = \"Flat\"\n");
    let found = diagnostics(&tree.path("p"));
    // description, icon and system_prompt: one diagnostic each.
    assert_eq!(
        found,
        [
            d("flat.toml", 1, 1, "schema.required"),
            d("flat.toml", 1, 1, "schema.required"),
            d("flat.toml", 1, 1, "schema.required")
        ]
    );
}

#[test]
fn cycles_of_length_one_two_and_three() {
    let tree = TempTree::new()
        .file("p/solo.toml", "extends = \"solo\"\n")
        .file("p/a.toml", "# a\nextends = \"b\"\n")
        .file("p/b.toml", "extends = \"a\"\n")
        .file("p/x.toml", "name = \"X\"\nextends = \"y\"\n")
        .file("p/y.toml", "extends = \"z\"\n")
        .file("p/z.toml", "extends  =  \"x\"\n")
        .file("p/leaf.toml", "extends = \"x\"\n");
    let found = diagnostics(&tree.path("p"));
    assert_eq!(
        found,
        [
            d("a.toml", 2, 11, "extends.cycle"),
            d("b.toml", 1, 11, "extends.cycle"),
            d("leaf.toml", 1, 11, "extends.invalid-parent"),
            d("solo.toml", 1, 11, "extends.cycle"),
            d("x.toml", 2, 11, "extends.cycle"),
            d("y.toml", 1, 11, "extends.cycle"),
            d("z.toml", 1, 13, "extends.cycle"),
        ]
    );
    personactl()
        .arg("validate")
        .arg(tree.path("p"))
        .run()
        .code(1)
        .stdout_contains("`extends` forms a cycle: x → y → z → x")
        .stdout_contains("cycle: solo → solo");
}

#[test]
fn missing_and_invalid_parents_are_errors_at_the_extends_value() {
    let tree = TempTree::new()
        .file("p/orphan.toml", "name = \"O\"\n\nextends = \"ghost\"\n")
        .file(
            "p/broken.toml",
            &BASE.replace("temperature = 0.5", "temperature = 9"),
        )
        .file("p/child.toml", &CHILD.replace("\"base\"", "\"broken\""))
        .file("p/grandchild.toml", "extends = \"child\"\n");
    let found = diagnostics(&tree.path("p"));
    assert_eq!(
        found,
        [
            d("broken.toml", 14, 15, "schema.range"),
            d("child.toml", 1, 11, "extends.invalid-parent"),
            d("grandchild.toml", 1, 11, "extends.invalid-parent"),
            d("orphan.toml", 3, 11, "extends.missing"),
        ]
    );
    // Left out of the catalog, not silently resolved against something else.
    personactl()
        .personas(tree.path("p"))
        .args(["show", "grandchild"])
        .run()
        .code(1)
        .stderr_contains("extends.invalid-parent");
}

#[test]
fn parent_placeholder_through_three_levels() {
    let tree = TempTree::new()
        .file(
            "p/root.toml",
            "name = \"R\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"ROOT {{persona_name}}\"\n",
        )
        .file("p/mid.toml", "extends = \"root\"\nsystem_prompt = \"MID [{{parent}}]\"\n")
        .file("p/low.toml", "extends = \"mid\"\nname = \"Low\"\n")
        .file(
            "p/leaf.toml",
            "extends = \"low\"\nname = \"Leaf\"\nsystem_prompt = \"LEAF ({{ parent }}) and {{{{parent}}\"\n",
        );
    let dir = tree.path("p");
    assert_eq!(diagnostics(&dir), []);
    let run = personactl()
        .personas(&dir)
        .args(["render", "leaf"])
        .run()
        .success();
    assert_eq!(run.stdout, "LEAF (MID [ROOT Leaf]) and {{parent}}\n");
    let explained = personactl()
        .personas(&dir)
        .args(["explain", "leaf", "--format", "json"])
        .run()
        .success();
    let e: Value = serde_json::from_str(&explained.stdout).expect("json");
    let prompt = e["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["key"] == "system_prompt")
        .expect("system_prompt explained");
    assert_eq!(prompt["includes"], json!(["mid", "root"]));
}

#[test]
fn every_variable_error_at_its_position() {
    let flat = concat!(
        "name = \"Flat\"\n",
        "description = \"d\"\n",
        "icon = \"i\"\n",
        "greeting = \"Tab\\t\\\"q\\\" {{nope}}\"\n",
        "system_prompt = \"\"\"\n",
        "Line one \\u00e9 {{ ok_var }}\n",
        "  {{ bad\n",
        "{{}} and {{2x}} and {{{{literal}} and {{parent}}\n",
        "\"\"\"\n",
        "\n",
        "[vars]\n",
        "ok_var = \"\"\n",
        "date = \"no\"\n",
    );
    let tree = TempTree::new()
        .file("p/flat.toml", flat)
        .file("p/base.toml", BASE)
        .file(
            "p/child.toml",
            "extends = \"base\"\ngreeting = '''\n{{place}} {{ tone }} {{unknown}}'''\n",
        );
    let found = diagnostics(&tree.path("p"));
    assert_eq!(
        found,
        [
            d("child.toml", 3, 22, "vars.undeclared"),
            d("flat.toml", 4, 24, "vars.undeclared"),
            d("flat.toml", 7, 3, "vars.malformed"),
            d("flat.toml", 8, 1, "vars.malformed"),
            d("flat.toml", 8, 10, "vars.malformed"),
            d("flat.toml", 8, 39, "vars.undeclared"),
            d("flat.toml", 13, 1, "vars.reserved"),
        ]
    );
}

#[test]
fn render_fills_variables_from_caller_defaults_and_builtins() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file(
            "p/child.toml",
            "extends = \"base\"\nname = \"Kid\"\nsystem_prompt = \"{{parent}} {{persona_name}} {{place}} {{user_name}} {{date}}\"\n",
        );
    let dir = tree.path("p");
    let run = personactl()
        .personas(&dir)
        .args([
            "render",
            "child",
            "--date",
            "2025-01-31",
            "--var",
            "user_name=Ana",
            "--var",
            "tone=dry",
        ])
        .run()
        .success();
    assert_eq!(run.stdout, "Be kind. Tone: dry. Kid home Ana 2025-01-31\n");
    personactl()
        .personas(&dir)
        .args(["render", "child", "--var", "colour=red"])
        .run()
        .code(2)
        .stderr_contains("declares no variable `colour`");
    personactl()
        .personas(&dir)
        .args(["render", "child", "--date", "2025-02-30"])
        .run()
        .code(2);
}

#[test]
fn render_check_detects_a_stale_snapshot() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD);
    let dir = tree.path("p");
    let snap = tree.path("snap");
    let render = |flag: &str| {
        personactl()
            .personas(&dir)
            .args(["render", "--all", flag])
            .arg(&snap)
            .run()
    };
    render("--check").assert_exit(1); // nothing written yet
    render("--out").assert_exit(0);
    let child_md = fs::read_to_string(snap.join("child.md")).expect("written");
    assert!(
        child_md.starts_with("---\nid: child\nname: \"Child\"\n"),
        "{child_md}"
    );
    assert!(child_md.contains("extends: [base]\n"), "{child_md}");
    assert!(
        child_md.ends_with("---\n\nChild first.\nBe kind. Tone: dry.\n"),
        "{child_md}"
    );
    assert!(
        snap.join("base.md").is_file(),
        "hidden personas are rendered too"
    );
    let fresh = render("--check");
    fresh.assert_exit(0);

    // A change to the parent makes the child's snapshot stale.
    fs::write(
        dir.join("base.toml"),
        BASE.replace("Be kind.", "Be very kind."),
    )
    .expect("edit");
    let stale = render("--check");
    stale.assert_exit(1);
    assert!(
        stale.stdout.contains("changed:") && stale.stdout.contains("child.md"),
        "{}",
        stale.stdout
    );
    render("--out").assert_exit(0);
    render("--check").assert_exit(0);

    // A deleted persona leaves a file that is no longer a persona.
    fs::remove_file(dir.join("child.toml")).expect("rm");
    let left = render("--check");
    left.assert_exit(1);
    assert!(
        left.stdout.contains("no longer a persona"),
        "{}",
        left.stdout
    );
    render("--out").assert_exit(0);
    assert!(!snap.join("child.md").exists());
}

#[test]
fn explain_points_at_the_right_lines() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD)
        .file(
            "p/leaf.toml",
            "# leaf\nextends = \"child\"\n\nicon = \"🍃\"\n",
        );
    let run = personactl()
        .personas(tree.path("p"))
        .args(["explain", "leaf", "--format", "json"])
        .run()
        .success();
    let e: Value = serde_json::from_str(&run.stdout).expect("json");
    let chain: Vec<&str> = e["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(chain, ["leaf", "child", "base"]);
    let field = |key: &str| -> (String, u64, u64, bool, Value) {
        let f = e["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["key"] == key)
            .unwrap_or_else(|| panic!("{key} explained: {e:#}"));
        (
            f["from"].as_str().unwrap_or_default().to_owned(),
            f["line"].as_u64().unwrap_or(0),
            f["column"].as_u64().unwrap_or(0),
            f["own"].as_bool().unwrap_or(false),
            f["through"].clone(),
        )
    };
    assert_eq!(field("icon"), ("leaf".into(), 4, 1, true, json!([])));
    assert_eq!(field("name"), ("child".into(), 2, 1, false, json!([])));
    assert_eq!(
        field("description"),
        ("base".into(), 2, 1, false, json!(["child"]))
    );
    assert_eq!(
        field("model.temperature"),
        ("child".into(), 9, 1, false, json!([]))
    );
    assert_eq!(
        field("model.max_tokens"),
        ("base".into(), 15, 1, false, json!(["child"]))
    );
    assert_eq!(
        field("vars.tone"),
        ("child".into(), 12, 1, false, json!([]))
    );
    assert_eq!(
        field("vars.place"),
        ("base".into(), 19, 1, false, json!(["child"]))
    );
    assert_eq!(
        field("extensions.ui"),
        ("child".into(), 15, 1, false, json!([]))
    );
    assert!(
        !e["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["key"] == "hidden"),
        "`hidden` is not inherited, so not explained"
    );
    personactl()
        .personas(tree.path("p"))
        .args(["explain", "leaf"])
        .run()
        .success()
        .stdout_contains("inherited from base through child");
}

fn prompt(registry: &Registry, id: &str) -> String {
    registry
        .snapshot()
        .get(id)
        .map(|e| e.persona.system_prompt.clone())
        .unwrap_or_default()
}

#[test]
fn hot_reload_of_a_parent_updates_the_family_in_one_swap() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD)
        .file("p/grandchild.toml", "extends = \"child\"\nname = \"G\"\n")
        .file(
            "p/other.toml",
            &CHILD.replace("name = \"Child\"", "name = \"Other\""),
        )
        .file(
            "p/unrelated.toml",
            "name = \"U\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"u\"\n",
        );
    let dir = tree.path("p");
    let registry = Registry::builder(&dir)
        .default_persona("unrelated")
        .debounce(Duration::from_millis(200))
        .open()
        .expect("open");
    assert!(
        registry.status().errors.is_empty(),
        "{:?}",
        registry.status().errors
    );
    assert_eq!(
        prompt(&registry, "grandchild"),
        "Child first.\nBe kind. Tone: {{tone}}."
    );
    let events = registry.subscribe();
    let _watch = registry.watch().expect("watch");
    let unrelated = registry.snapshot().get_arc("unrelated").expect("live");

    // The parent changes: every descendant is re-resolved in the same generation.
    replace(
        &dir.join("base.toml"),
        &BASE.replace("Be kind.", "Be brave."),
    );
    let seen = next_reload(&events);
    assert_eq!(
        changes(&seen),
        [
            ("updated".into(), "base".into()),
            ("updated".into(), "child".into()),
            ("updated".into(), "grandchild".into()),
            ("updated".into(), "other".into()),
        ]
    );
    let generations: Vec<u64> = seen.iter().map(Event::generation).collect();
    assert!(generations.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
    let snap = registry.snapshot();
    assert_eq!(snap.generation(), generations[0]);
    for id in ["child", "grandchild", "other"] {
        let p = &snap.get(id).expect("live").persona.system_prompt;
        assert!(p.ends_with("Be brave. Tone: {{tone}}."), "{id}: {p}");
    }
    assert!(
        std::sync::Arc::ptr_eq(&unrelated, &snap.get_arc("unrelated").expect("live")),
        "an unrelated persona is shared, not re-resolved"
    );

    // The parent turns invalid: the whole family keeps its last good version.
    replace(
        &dir.join("base.toml"),
        &BASE.replace("icon = \"🧩\"", "icon = 7"),
    );
    let seen = next_reload(&events);
    assert_eq!(changes(&seen), [("invalid".into(), "base".into())]);
    assert!(prompt(&registry, "grandchild").ends_with("Be brave. Tone: {{tone}}."));
    assert_eq!(
        registry
            .snapshot()
            .get("base")
            .expect("last good")
            .persona
            .icon,
        "🧩"
    );
    let status = registry.status();
    let codes: Vec<&str> = status.errors.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"extends.invalid-parent"), "{codes:?}");

    // A child edited while its parent is broken is held back too, then applied on the fix.
    replace(
        &dir.join("grandchild.toml"),
        "extends = \"child\"\nname = \"G2\"\n",
    );
    let seen = next_reload(&events);
    assert_eq!(changes(&seen), [("invalid".into(), "grandchild".into())]);
    assert_eq!(
        registry
            .snapshot()
            .get("grandchild")
            .expect("live")
            .persona
            .name,
        "G"
    );

    replace(
        &dir.join("base.toml"),
        &BASE.replace("Be kind.", "Be calm."),
    );
    let seen = next_reload(&events);
    assert_eq!(
        changes(&seen),
        [
            ("updated".into(), "base".into()),
            ("updated".into(), "child".into()),
            ("updated".into(), "grandchild".into()),
            ("updated".into(), "other".into()),
        ]
    );
    let snap = registry.snapshot();
    assert_eq!(snap.get("grandchild").expect("live").persona.name, "G2");
    assert!(
        snap.get("other")
            .expect("live")
            .persona
            .system_prompt
            .ends_with("Be calm. Tone: {{tone}}.")
    );
    assert!(
        registry.status().errors.is_empty(),
        "{:?}",
        registry.status().errors
    );
}

#[test]
fn reload_without_a_watcher_skips_children_whose_parent_did_not_change() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD);
    let dir = tree.path("p");
    let registry = Registry::open(&dir).expect("open");
    let before = registry.snapshot().get_arc("child").expect("live");
    // Only a comment changes: same persona, no event, the same shared entry.
    fs::write(dir.join("base.toml"), format!("# a comment\n{BASE}")).expect("write");
    let events = registry.subscribe();
    registry
        .reload_paths(&[dir.join("base.toml")])
        .expect("reload");
    assert!(
        events.try_recv().is_err(),
        "nothing a reader can see changed"
    );
    assert!(std::sync::Arc::ptr_eq(
        &before,
        &registry.snapshot().get_arc("child").expect("live")
    ));
}

#[test]
fn new_from_a_child_copies_the_resolved_persona() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD);
    let dir = tree.path("p");
    personactl()
        .personas(&dir)
        .args(["new", "copy", "--from", "child"])
        .run()
        .success();
    let copy = fs::read_to_string(dir.join("copy.toml")).expect("written");
    assert!(!copy.contains("extends"), "{copy}");
    assert!(copy.contains("description = \"Shared rules.\""), "{copy}");
    assert_eq!(diagnostics(&dir), []);
}

#[test]
fn a_deleted_parent_keeps_the_children_live_until_it_returns() {
    let tree = TempTree::new()
        .file("p/base.toml", BASE)
        .file("p/child.toml", CHILD);
    let dir = tree.path("p");
    // The default persona is the child, which stays live (its last good version).
    let registry = Registry::builder(&dir)
        .default_persona("child")
        .open()
        .expect("open");
    let events = registry.subscribe();
    fs::remove_file(dir.join("base.toml")).expect("rm");
    registry
        .reload_paths(&[dir.join("base.toml")])
        .expect("reload");
    let seen: Vec<Event> = events.try_iter().collect();
    assert_eq!(changes(&seen), [("removed".into(), "base".into())]);
    assert_eq!(
        registry
            .snapshot()
            .get("child")
            .expect("last good")
            .persona
            .name,
        "Child"
    );
    let status = registry.status();
    let codes: Vec<(&str, usize, usize)> = status
        .errors
        .iter()
        .map(|d| (d.code.as_str(), d.line, d.column))
        .collect();
    // The default persona (the child) is kept live, but, as `validate` says, no file defines
    // it validly now.
    assert_eq!(
        codes,
        [("default.missing", 1, 1), ("extends.missing", 1, 11)]
    );

    fs::write(dir.join("base.toml"), BASE.replace("Be kind.", "Be back.")).expect("write");
    registry
        .reload_paths(&[dir.join("base.toml")])
        .expect("reload");
    let seen: Vec<Event> = events.try_iter().collect();
    assert_eq!(
        changes(&seen),
        [
            ("added".into(), "base".into()),
            ("updated".into(), "child".into())
        ]
    );
    assert!(registry.status().errors.is_empty());
    assert!(
        registry
            .snapshot()
            .get("child")
            .expect("live")
            .persona
            .system_prompt
            .ends_with("Be back. Tone: {{tone}}.")
    );
}

#[test]
fn a_bad_variable_name_points_at_its_key() {
    let text = "name = \"N\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"p\"\n\n[vars]\nok = \"1\"\nBad-Name = \"x\"\n";
    let tree = TempTree::new().file("p/n.toml", text);
    assert_eq!(
        diagnostics(&tree.path("p")),
        [d("n.toml", 8, 1, "schema.pattern")]
    );
}
