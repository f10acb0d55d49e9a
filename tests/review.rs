//! `personactl diff`, `log` and `show --at` against real git repositories built here with the
//! `git` binary (fixed author, committer and dates, no user configuration).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A git repository in a temp dir, with a `personas/` folder.
struct Repo {
    dir: tempfile::TempDir,
    commits: u32,
}

fn git_env(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ana Author")
        .env("GIT_AUTHOR_EMAIL", "ana@example.com")
        .env("GIT_COMMITTER_NAME", "Ana Author")
        .env("GIT_COMMITTER_EMAIL", "ana@example.com")
        .env("LC_ALL", "C")
}

impl Repo {
    fn new() -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().expect("a temp dir can be created"),
            commits: 0,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(self.root(), args)
    }

    fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("a file path has a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write a test file");
        self
    }

    fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.root().join(rel)).expect("remove a test file");
        self
    }

    fn persona(&self, id: &str, name: &str, prompt: &str) -> &Self {
        self.write(&format!("personas/{id}.toml"), &persona(name, prompt))
    }

    /// Commits everything, with dates one day apart from 2024-01-01.
    fn commit(&mut self, message: &str) -> String {
        self.commits += 1;
        let date = format!("2024-01-{:02}T12:00:00+00:00", self.commits);
        self.git(&["add", "-A"]);
        let status = git_env(Command::new("git").current_dir(self.root()))
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args([
                "-c",
                "user.name=Ana Author",
                "-c",
                "user.email=ana@example.com",
            ])
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .status()
            .expect("git runs");
        assert!(status.success(), "git commit failed");
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Runs `personactl ARGS` in `cwd` (relative to the repository).
    fn run_in(&self, cwd: &str, args: &[&str]) -> Output {
        run(&self.root().join(cwd), args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_in("", args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    }
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_env(Command::new("git").current_dir(dir))
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_personactl"));
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("PERSONAS_DIR")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("NO_COLOR", "1")
        // A hostile user configuration must not matter: personactl reads none of it.
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PAGER", "false")
        .env("GIT_PAGER", "false");
    cmd.output().expect("personactl runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn persona(name: &str, prompt: &str) -> String {
    format!(
        "name = \"{name}\"\ndescription = \"The {name} persona.\"\nicon = \"🧭\"\nsystem_prompt = \"\"\"\n{prompt}\"\"\"\n"
    )
}

fn child(parent: &str, name: &str, line: &str) -> String {
    format!(
        "extends = \"{parent}\"\nname = \"{name}\"\nsystem_prompt = \"\"\"\n{{{{parent}}}}\n{line}\n\"\"\"\n"
    )
}

const BASE: &str = "name = \"Base\"\ndescription = \"Shared rules.\"\nicon = \"🧩\"\nhidden = true\nsystem_prompt = \"\"\"\nBe {{tone}} and brief.\n\"\"\"\n\n[model]\ntemperature = 0.7\n\n[vars]\ntone = \"warm\"\n";

/// A repository whose first commit holds a base with three children and two plain personas.
fn family() -> Repo {
    let mut repo = Repo::new();
    repo.write("personas/base.toml", BASE);
    for k in ["a", "b", "c"] {
        repo.write(
            &format!("personas/kid-{k}.toml"),
            &child("base", &format!("Kid {k}"), &format!("I am kid {k}.")),
        );
    }
    repo.persona(
        "coach",
        "Coach",
        "You are a coach.\nAsk one question at a time.\n",
    )
    .persona("story-teller", "Story Teller", "You tell stories.\n");
    repo.commit("first");
    repo
}

/// The persona entry with this id in a diff document.
fn entry<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["personas"]
        .as_array()
        .expect("personas is an array")
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no persona {id} in {doc}"))
}

fn ids(doc: &Value) -> Vec<String> {
    doc["personas"]
        .as_array()
        .expect("personas is an array")
        .iter()
        .map(|p| p["id"].as_str().expect("id is a string").to_owned())
        .collect()
}

#[test]
fn an_edit_of_a_child_is_changed_with_a_unified_diff_of_its_final_prompt() {
    let repo = family();
    repo.write(
        "personas/kid-a.toml",
        &child("base", "Kid a", "I am kid A, the eldest."),
    );
    let doc = repo.json(&["diff", "--format", "json"]);
    let keys: Vec<&String> = doc.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["base", "head", "personas", "summary"]);
    assert_eq!(doc["base"], repo.git(&["rev-parse", "HEAD"]).trim());
    assert_eq!(doc["head"], "worktree");
    assert_eq!(
        doc["summary"],
        json!({"added": 0, "removed": 0, "renamed": 0, "changed": 1, "invalid": 0, "unchanged": 5})
    );
    assert_eq!(ids(&doc), ["kid-a"]);
    let p = entry(&doc, "kid-a");
    let mut keys: Vec<&String> = p.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "diagnostics",
            "diff",
            "fields",
            "id",
            "renamed_from",
            "status",
            "via"
        ]
    );
    assert_eq!(p["status"], "changed");
    assert_eq!(p["renamed_from"], Value::Null);
    assert_eq!(p["via"], json!([]));
    assert_eq!(
        p["fields"],
        json!([{"field": "system_prompt",
                "old": "Be warm and brief.\n\nI am kid a.\n",
                "new": "Be warm and brief.\n\nI am kid A, the eldest.\n"}])
    );
    assert_eq!(
        p["diff"]["system_prompt"],
        "--- a/kid-a/system_prompt\n+++ b/kid-a/system_prompt\n@@ -1,3 +1,3 @@\n Be warm and brief.\n \n-I am kid a.\n+I am kid A, the eldest.\n"
    );
    assert_eq!(p["diff"].as_object().map(serde_json::Map::len), Some(1));
    assert_eq!(p["diagnostics"], json!([]));
}

#[test]
fn an_edit_of_a_base_changes_its_three_children_each_via_the_base() {
    let mut repo = family();
    repo.write(
        "personas/base.toml",
        &BASE.replace("and brief", "and very brief"),
    );
    let head = repo.commit("shorter answers");
    let doc = repo.json(&["diff", "HEAD~1", "HEAD", "--format", "json"]);
    assert_eq!(doc["head"], head);
    assert_eq!(ids(&doc), ["base", "kid-a", "kid-b", "kid-c"]);
    assert_eq!(entry(&doc, "base")["via"], json!([]));
    for k in ["a", "b", "c"] {
        let p = entry(&doc, &format!("kid-{k}"));
        assert_eq!(p["status"], "changed");
        assert_eq!(p["via"], json!(["base"]));
        let diff = p["diff"]["system_prompt"].as_str().expect("a diff");
        assert!(
            diff.contains("-Be warm and brief.\n+Be warm and very brief.\n"),
            "{diff}"
        );
    }
    assert_eq!(doc["summary"]["changed"], 4);
    assert_eq!(doc["summary"]["unchanged"], 2);
    // The human form says so too.
    let human = stdout(&repo.run(&["diff", "HEAD~1", "HEAD"]));
    assert!(human.contains("changed  kid-b (via base)"), "{human}");
}

#[test]
fn a_rename_with_an_alias_is_one_renamed_persona_not_a_removal_and_an_addition() {
    let repo = family();
    repo.remove("personas/coach.toml").write(
        "personas/mentor.toml",
        &format!(
            "aliases = [\"coach\"]\n{}",
            persona("Mentor", "You are a coach.\nAsk one question at a time.\n")
        ),
    );
    let doc = repo.json(&["diff", "--format", "json"]);
    assert_eq!(ids(&doc), ["mentor"]);
    let p = entry(&doc, "mentor");
    assert_eq!(p["status"], "renamed");
    assert_eq!(p["renamed_from"], "coach");
    assert_eq!(
        p["fields"],
        json!([
            {"field": "name", "old": "Coach", "new": "Mentor"},
            {"field": "description", "old": "The Coach persona.", "new": "The Mentor persona."},
            {"field": "aliases", "old": null, "new": ["coach"]},
        ])
    );
    assert_eq!(p["diff"], json!({}));
    assert_eq!(doc["summary"]["renamed"], 1);
    assert_eq!(doc["summary"]["removed"], 0);
    assert_eq!(doc["summary"]["added"], 0);
}

#[test]
fn a_deleted_and_an_added_persona() {
    let repo = family();
    repo.remove("personas/story-teller.toml")
        .persona("poet", "Poet", "You write short poems.\n");
    let doc = repo.json(&["diff", "--format", "json"]);
    assert_eq!(ids(&doc), ["poet", "story-teller"]);
    let added = entry(&doc, "poet");
    assert_eq!(added["status"], "added");
    assert_eq!(added["fields"], json!([]));
    assert_eq!(
        added["diff"]["system_prompt"],
        "--- a/poet/system_prompt\n+++ b/poet/system_prompt\n@@ -0,0 +1 @@\n+You write short poems.\n"
    );
    let removed = entry(&doc, "story-teller");
    assert_eq!(removed["status"], "removed");
    assert!(
        removed["diff"]["system_prompt"]
            .as_str()
            .is_some_and(|d| d.contains("-You tell stories.")),
        "{removed}"
    );
    assert_eq!(doc["summary"]["added"], 1);
    assert_eq!(doc["summary"]["removed"], 1);
}

#[test]
fn a_persona_that_becomes_invalid_carries_its_diagnostics_in_the_validate_shape() {
    let repo = family();
    repo.write(
        "personas/coach.toml",
        "name = \"Coach\"\ndescription = \"A coach.\"\nsystem_prompt = \"Hi.\"\n",
    );
    let doc = repo.json(&["diff", "--format", "json"]);
    let p = entry(&doc, "coach");
    assert_eq!(p["status"], "invalid");
    let d = &p["diagnostics"][0];
    let mut keys: Vec<&String> = d.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "code", "column", "hint", "line", "message", "path", "severity"
        ]
    );
    assert_eq!(d["path"], "personas/coach.toml");
    assert_eq!(d["code"], "schema.required");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 1);
    assert!(
        d["message"].as_str().is_some_and(|m| m.contains("icon")),
        "{d}"
    );
    assert_eq!(doc["summary"]["invalid"], 1);
    // --exit-code: something changed.
    assert_eq!(repo.run(&["diff", "--exit-code"]).status.code(), Some(1));
}

#[test]
fn variables_render_with_their_defaults_and_a_fixed_date_unless_given() {
    let mut repo = Repo::new();
    repo.write(
        "personas/guide.toml",
        "name = \"Guide\"\ndescription = \"Guides.\"\nicon = \"🧭\"\nsystem_prompt = \"Be {{tone}}, {{user_name}}. Today is {{date}}.\"\n\n[vars]\ntone = \"warm\"\n",
    );
    repo.commit("guide");
    repo.write(
        "personas/guide.toml",
        "name = \"Guide\"\ndescription = \"Guides.\"\nicon = \"🧭\"\nsystem_prompt = \"Be {{tone}}, {{user_name}}. Today is {{date}}.\"\n\n[vars]\ntone = \"calm\"\n",
    );
    let doc = repo.json(&["diff", "--format", "json"]);
    let p = entry(&doc, "guide");
    assert_eq!(
        p["fields"],
        json!([
            {"field": "system_prompt",
             "old": "Be warm, [user_name]. Today is [date].",
             "new": "Be calm, [user_name]. Today is [date]."},
            {"field": "vars.tone", "old": "warm", "new": "calm"},
        ])
    );
    // Given values apply to both sides: the rendered prompts are then equal.
    let doc = repo.json(&[
        "diff",
        "--format",
        "json",
        "--var",
        "tone=plain",
        "--var",
        "user_name=Ana",
        "--date",
        "2025-01-31",
    ]);
    let p = entry(&doc, "guide");
    assert_eq!(
        p["fields"],
        json!([{"field": "vars.tone", "old": "warm", "new": "calm"}])
    );
    assert_eq!(p["diff"], json!({}));
    // Nothing changed between two equal revisions, whatever the date.
    let same = repo.run(&[
        "diff",
        "HEAD",
        "HEAD",
        "--exit-code",
        "--date",
        "2030-12-31",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
}

#[test]
fn a_change_of_model_only_lists_the_model_fields_and_no_diff() {
    let repo = family();
    repo.write("personas/base.toml", &BASE.replace("0.7", "0.9"));
    let doc = repo.json(&["diff", "--format", "json"]);
    for id in ["base", "kid-a", "kid-b", "kid-c"] {
        let p = entry(&doc, id);
        assert_eq!(
            p["fields"],
            json!([{"field": "model.temperature", "old": 0.7, "new": 0.9}]),
            "{id}"
        );
        assert_eq!(p["diff"], json!({}), "{id}");
    }
    assert_eq!(entry(&doc, "kid-c")["via"], json!(["base"]));
}

#[test]
fn a_whitespace_only_change_of_a_prompt_is_shown_not_hidden() {
    let repo = family();
    repo.persona(
        "coach",
        "Coach",
        "You are a coach. \nAsk one question at a time.\n",
    );
    let doc = repo.json(&["diff", "--format", "json"]);
    let p = entry(&doc, "coach");
    assert_eq!(p["status"], "changed");
    assert_eq!(
        p["diff"]["system_prompt"],
        "--- a/coach/system_prompt\n+++ b/coach/system_prompt\n@@ -1,2 +1,2 @@\n-You are a coach.\n+You are a coach. \n Ask one question at a time.\n"
    );
    let human = stdout(&repo.run(&["diff"]));
    assert!(
        human.contains("system_prompt (whitespace only):"),
        "{human}"
    );
    assert!(human.contains("+You are a coach.·"), "{human}");
    let md = stdout(&repo.run(&["diff", "--format", "markdown"]));
    assert!(md.contains("`system_prompt` (whitespace only):"), "{md}");
    assert_eq!(repo.run(&["diff", "--exit-code"]).status.code(), Some(1));
}

#[test]
fn the_work_tree_side_has_uncommitted_and_untracked_files_but_not_ignored_ones() {
    let repo = family();
    repo.write(".gitignore", "scratch.toml\ndrafts/\n")
        .persona("coach", "Coach", "You are a patient coach.\n")
        .persona("poet", "Poet", "You write poems.\n")
        .persona("scratch", "Scratch", "Ignored.\n")
        .write(
            "personas/drafts/draft.toml",
            &persona("Draft", "Ignored too.\n"),
        );
    let doc = repo.json(&["diff", "--format", "json"]);
    assert_eq!(ids(&doc), ["coach", "poet"]);
    assert_eq!(entry(&doc, "coach")["status"], "changed");
    assert_eq!(entry(&doc, "poet")["status"], "added");
    // Staging changes nothing (the index is not a side), and diff never writes to it.
    let status_before = repo.git(&["status", "--porcelain"]);
    let index = std::fs::read(repo.root().join(".git/index")).expect("an index");
    repo.run(&["diff"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), status_before);
    assert_eq!(
        std::fs::read(repo.root().join(".git/index")).expect("an index"),
        index
    );
    // A tracked file stays in even when a pattern matches it, as in git.
    repo.write(".gitignore", "coach.toml\n");
    let doc = repo.json(&["diff", "--format", "json"]);
    assert!(ids(&doc).contains(&"coach".to_owned()), "{doc}");
}

#[test]
fn a_shallow_clone_that_holds_both_revisions_works() {
    let mut repo = family();
    repo.persona("coach", "Coach", "Second.\n");
    repo.commit("second");
    repo.persona("coach", "Coach", "Third.\n");
    repo.commit("third");
    let clone = tempfile::tempdir().expect("a temp dir");
    let url = format!("file://{}", repo.root().display());
    git_in(
        clone.path(),
        &["clone", "-q", "--depth", "2", &url, "shallow"],
    );
    let shallow = clone.path().join("shallow");
    assert!(shallow.join(".git/shallow").exists());
    let out = run(&shallow, &["diff", "HEAD~1", "HEAD", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        entry(&doc, "coach")["fields"][0]["new"],
        "Third.\n",
        "{doc}"
    );
    // Beyond the boundary: a clear error, exit 2.
    let out = run(&shallow, &["diff", "HEAD~2", "HEAD"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown revision `HEAD~2`"),
        "{}",
        stderr(&out)
    );
    // log stops where the history does.
    let out = run(&shallow, &["log", "coach", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["commits"][0]["subject"], "third");
}

#[test]
fn a_revision_that_does_not_exist_is_exit_2_with_a_clear_message() {
    let repo = family();
    let out = repo.run(&["diff", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error: unknown revision `no-such-branch`"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    let out = repo.run(&["show", "coach", "--at", "deadbeef"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn running_from_a_sub_folder_reads_the_same_personas_directory() {
    let repo = family();
    repo.write("docs/notes/readme.md", "notes\n")
        .persona("coach", "Coach", "Changed.\n");
    let root = repo.json(&["diff", "--format", "json"]);
    let out = repo.run_in(
        "docs/notes",
        &["--dir", "../../personas", "diff", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sub: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(sub["summary"], root["summary"]);
    assert_eq!(ids(&sub), ["coach"]);
    // A personas directory given as an absolute path works too.
    let abs = repo.root().join("personas");
    let out = repo.run_in(
        "docs",
        &[
            "--dir",
            abs.to_str().expect("utf-8"),
            "diff",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Even from a folder outside the repository: the repository is the directory's.
    let elsewhere = tempfile::tempdir().expect("a temp dir");
    let dir = abs.to_str().expect("utf-8");
    let out = run(
        elsewhere.path(),
        &["--dir", dir, "diff", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_outside: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(ids(&from_outside), ["coach"]);
}

#[test]
fn a_folder_outside_any_repository_is_exit_2() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::create_dir(dir.path().join("personas")).expect("mkdir");
    let out = run(dir.path(), &["diff"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not inside a git repository"),
        "{}",
        stderr(&out)
    );
    let out = run(dir.path(), &["log", "coach"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exit_code_is_0_when_nothing_changed() {
    let repo = family();
    let out = repo.run(&["diff", "--exit-code"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 changed"), "{}", stdout(&out));
    // Comments and layout do not change what a persona says.
    repo.write("personas/base.toml", &format!("# a comment\n{BASE}"));
    assert_eq!(repo.run(&["diff", "--exit-code"]).status.code(), Some(0));
}

/// A history: c1 coach extends base; c2 edits base; c3 renames coach to mentor; c4 edits
/// another persona; c5 edits mentor.
fn history() -> (Repo, Vec<String>) {
    let mut repo = Repo::new();
    let mut commits = Vec::new();
    repo.write("personas/base.toml", BASE)
        .write(
            "personas/coach.toml",
            &child("base", "Coach", "Coach people."),
        )
        .persona("poet", "Poet", "Poems.\n");
    commits.push(repo.commit("c1: add coach"));
    repo.write("personas/base.toml", &BASE.replace("warm", "kind"));
    commits.push(repo.commit("c2: kinder base"));
    repo.remove("personas/coach.toml").write(
        "personas/mentor.toml",
        &format!(
            "aliases = [\"coach\"]\n{}",
            child("base", "Coach", "Coach people.")
        ),
    );
    commits.push(repo.commit("c3: rename coach to mentor"));
    repo.persona("poet", "Poet", "Longer poems.\n");
    commits.push(repo.commit("c4: poet only"));
    repo.write("docs.md", "unrelated\n");
    commits.push(repo.commit("c5: outside the personas folder"));
    repo.write(
        "personas/mentor.toml",
        &format!(
            "aliases = [\"coach\"]\n{}",
            child("base", "Mentor", "Coach people.")
        ),
    );
    commits.push(repo.commit("c6: mentor's name"));
    (repo, commits)
}

#[test]
fn log_follows_a_rename_and_changes_through_a_parent_newest_first() {
    let (repo, c) = history();
    let doc = repo.json(&["log", "mentor", "--format", "json"]);
    assert_eq!(doc["id"], "mentor");
    let commits = doc["commits"].as_array().expect("an array");
    let got: Vec<(&str, &str)> = commits
        .iter()
        .map(|e| {
            (
                e["commit"].as_str().unwrap_or(""),
                e["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (c[5].as_str(), "changed"),
            (c[2].as_str(), "renamed"),
            (c[1].as_str(), "changed"),
            (c[0].as_str(), "added"),
        ]
    );
    let newest = &commits[0];
    let mut keys: Vec<&String> = newest.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "author",
            "commit",
            "date",
            "email",
            "fields",
            "id",
            "renamed_from",
            "revision",
            "status",
            "subject",
            "via"
        ]
    );
    assert_eq!(newest["author"], "Ana Author");
    assert_eq!(newest["email"], "ana@example.com");
    assert_eq!(newest["date"], "2024-01-06T12:00:00+00:00");
    assert_eq!(newest["subject"], "c6: mentor's name");
    assert_eq!(newest["fields"], json!(["name"]));
    // The revision after the commit is the one the registry gives the persona now.
    let catalog = personas::Catalog::load(&repo.root().join("personas")).expect("loads");
    assert_eq!(newest["revision"], catalog.entries["mentor"].revision());
    assert!(newest["revision"].as_str().is_some_and(|r| r.len() == 16));
    assert_eq!(commits[1]["renamed_from"], "coach");
    assert_eq!(commits[1]["id"], "mentor");
    assert_eq!(commits[2]["id"], "coach");
    assert_eq!(commits[2]["via"], json!(["base"]));
    assert_eq!(commits[2]["fields"], json!(["system_prompt", "vars.tone"]));
    // By the former id: the same history.
    let by_alias = repo.json(&["log", "coach", "--format", "json"]);
    assert_eq!(by_alias["commits"], doc["commits"]);
    // -n and --since.
    let two = repo.json(&["log", "mentor", "-n", "2", "--format", "json"]);
    assert_eq!(two["commits"].as_array().map(Vec::len), Some(2));
    let since = repo.json(&["log", "mentor", "--since", "2024-01-03", "--format", "json"]);
    assert_eq!(since["commits"].as_array().map(Vec::len), Some(2));
    // Human output names each commit.
    let human = stdout(&repo.run(&["log", "mentor"]));
    assert!(human.contains("renamed coach → mentor"), "{human}");
    assert!(human.contains("changed coach (via base)"), "{human}");
    // The poet's log has c4 and c1 only.
    let poet = repo.json(&["log", "poet", "--format", "json"]);
    let subjects: Vec<&str> = poet["commits"]
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert_eq!(subjects, ["c4: poet only", "c1: add coach"]);
}

#[test]
fn show_at_a_revision_shows_a_persona_that_is_deleted_now() {
    let mut repo = family();
    repo.remove("personas/story-teller.toml");
    repo.commit("drop the story teller");
    let now = repo.run(&["show", "story-teller"]);
    assert_eq!(now.status.code(), Some(1));
    let out = repo.run(&["show", "story-teller", "--at", "HEAD~1", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let p: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(p["id"], "story-teller");
    assert_eq!(p["name"], "Story Teller");
    assert_eq!(p["system_prompt"], "You tell stories.\n");
    // Resolved at that revision: a child shows its parent's text.
    let out = repo.run(&["show", "kid-a", "--at", "main~1", "--format", "json"]);
    let p: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(p["description"], "Shared rules.");
    // The log of the deleted persona ends with its removal.
    let log = repo.json(&["log", "story-teller", "--format", "json"]);
    assert_eq!(log["commits"][0]["status"], "removed");
    assert_eq!(log["commits"][0]["revision"], Value::Null);
}

#[test]
fn markdown_for_a_pull_request_comment() {
    let mut repo = family();
    repo.write(
        "personas/base.toml",
        &BASE
            .replace("and brief", "and brief ```")
            .replace("0.7", "0.9"),
    )
    .remove("personas/story-teller.toml")
    .persona("poet", "Poet", "You write <short> poems | haiku.\n")
    .write(
        "personas/coach.toml",
        "name = \"Coach\"\ndescription = \"A coach.\"\nsystem_prompt = \"Hi.\"\n",
    );
    repo.commit("a mixed change");
    let out = repo.run(&["diff", "HEAD~1", "HEAD", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}
