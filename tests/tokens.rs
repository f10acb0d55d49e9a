//! Token counts and prompt budgets: counts compared with OpenAI's tiktoken; budgets in
//! `validate`, in writes (CLI and HTTP) and in the registry, with real files, the real binary
//! and a real server on 127.0.0.1.

mod util;

use std::path::Path;

use personas::{Catalog, Registry, Tokenizer, count_tokens};
use proptest::prelude::*;
use serde_json::{Value, json};
use util::{TempTree, personactl};

/// The reference counts: written by `scripts/tiktoken-reference.py` with OpenAI's own tiktoken
/// (the Python package, `encode_ordinary`; its version is in the file's `source`), for the
/// texts of `tests/fixtures/tokens/texts.json` and the shipped personas' prompts.
fn reference() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokens/tiktoken-counts.json"
    ))
    .expect("reference counts exist");
    serde_json::from_str(&text).expect("reference counts are JSON")
}

/// The second, independent implementation of the same encodings.
fn tiktoken_rs(tokenizer: Tokenizer, text: &str) -> usize {
    match tokenizer {
        Tokenizer::O200kBase => tiktoken_rs::o200k_base_singleton().encode_ordinary(text),
        Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton().encode_ordinary(text),
        other => unreachable!("no such tokenizer in this test: {other:?}"),
    }
    .len()
}

#[test]
fn counts_equal_tiktoken_on_fixed_texts() {
    let reference = reference();
    assert!(
        reference["source"]
            .as_str()
            .is_some_and(|s| s.contains("tiktoken")),
        "the counts say where they come from"
    );
    let texts = reference["texts"].as_array().expect("texts");
    assert!(texts.len() >= 15, "ASCII, emoji, CJK, code, whitespace, …");
    for t in texts {
        let name = t["name"].as_str().expect("name");
        let text = t["text"].as_str().expect("text");
        for tokenizer in Tokenizer::ALL {
            let expected = t[tokenizer.as_str()].as_u64().expect("a count") as usize;
            assert_eq!(tokenizer.count(text), expected, "{name} with {tokenizer}");
            assert_eq!(
                tiktoken_rs(tokenizer, text),
                expected,
                "{name}: tiktoken-rs"
            );
        }
    }
}

#[test]
fn shipped_personas_count_as_tiktoken_does() {
    let reference = reference();
    let catalog = Catalog::load(Path::new("personas")).expect("the shipped personas load");
    let expected = reference["personas"].as_object().expect("personas");
    assert_eq!(
        catalog.entries.len(),
        expected.len(),
        "every shipped persona"
    );
    for (id, entry) in &catalog.entries {
        for tokenizer in Tokenizer::ALL {
            let mut persona = (*entry.persona).clone();
            persona.model.get_or_insert_with(Default::default).tokenizer = Some(tokenizer);
            let counts = count_tokens(&persona);
            let want = &expected[id];
            let name = tokenizer.as_str();
            assert_eq!(counts.tokenizer, tokenizer);
            assert_eq!(
                counts.system_prompt as u64,
                want["system_prompt"][name].as_u64().expect("count"),
                "{id} system prompt, {name}"
            );
            assert_eq!(
                counts.greeting.map(|g| g as u64),
                want["greeting"][name].as_u64(),
                "{id} greeting, {name}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Two independent implementations of tiktoken's encodings agree on any text, and on
    /// whitespace-heavy text in particular (where the pre-tokenizer's look-ahead matters).
    #[test]
    fn bpe_openai_agrees_with_tiktoken_rs(
        any in "\\PC{0,120}",
        spaced in "[ \t\r\na-zA-Z0-9'.,{}<>|_-]{0,200}",
    ) {
        for tokenizer in Tokenizer::ALL {
            prop_assert_eq!(tokenizer.count(&any), tiktoken_rs(tokenizer, &any));
            prop_assert_eq!(tokenizer.count(&spaced), tiktoken_rs(tokenizer, &spaced));
        }
    }
}

fn persona(name: &str, prompt: &str, model: &str) -> String {
    format!(
        "name = \"{name}\"\ndescription = \"d\"\nicon = \"🧪\"\nsystem_prompt = \"\"\"\n{prompt}\"\"\"\n{model}"
    )
}

/// Roughly `n` tokens of prose (each `word ` is one token in both encodings).
fn words(n: usize) -> String {
    "word ".repeat(n)
}

fn validate_json(dir: &Path) -> (i32, Vec<Value>) {
    let run = personactl()
        .arg("validate")
        .arg(dir)
        .args(["--format", "json"])
        .run();
    let report: Value = serde_json::from_str(&run.stdout).expect("a JSON report");
    (
        run.code.expect("exited"),
        report["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

fn budget_errors(diagnostics: &[Value]) -> Vec<&Value> {
    diagnostics
        .iter()
        .filter(|d| d["code"] == "budget.prompt-tokens")
        .collect()
}

#[test]
fn a_prompt_over_its_own_budget_is_an_error_at_the_prompt() {
    let t = TempTree::new()
        .file(
            "p/long.toml",
            &persona("Long", &words(120), "[model]\nmax_prompt_tokens = 100\n"),
        )
        .file(
            "p/short.toml",
            &persona("Short", &words(50), "[model]\nmax_prompt_tokens = 100\n"),
        );
    let (code, diagnostics) = validate_json(&t.path("p"));
    assert_eq!(code, 1);
    let errors = budget_errors(&diagnostics);
    assert_eq!(errors.len(), 1, "{diagnostics:?}");
    let d = errors[0];
    assert!(d["path"].as_str().unwrap().ends_with("long.toml"));
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(17)),
        "at the system_prompt value"
    );
    let message = d["message"].as_str().unwrap();
    let count = Tokenizer::O200kBase.count(&words(120)).to_string();
    for part in [count.as_str(), "100", "o200k_base"] {
        assert!(message.contains(part), "{part} in {message}");
    }

    // The human output points at the same place, and the model name picks the tokenizer.
    let t2 = TempTree::new().file(
        "p/long.toml",
        &persona(
            "Long",
            &words(120),
            "[model]\nname = \"gpt-4-turbo\"\nmax_prompt_tokens = 100\n",
        ),
    );
    let human = personactl().arg("validate").arg(t2.path("p")).run();
    human.assert_exit(1);
    assert!(
        human
            .stderr
            .contains("long.toml:4:17: error[budget.prompt-tokens]")
            || human
                .stdout
                .contains("long.toml:4:17: error[budget.prompt-tokens]"),
        "{}{}",
        human.stdout,
        human.stderr
    );
    assert!(
        format!("{}{}", human.stdout, human.stderr).contains("cl100k_base"),
        "gpt-4 models count with cl100k_base"
    );
}

#[test]
fn a_child_inheriting_a_prompt_over_its_budget_is_flagged_at_extends() {
    let t = TempTree::new()
        .file("p/base.toml", &persona("Base", &words(120), ""))
        .file(
            "p/mid.toml",
            "extends = \"base\"\nname = \"Mid\"\n[vars]\nunused = \"x\"\n",
        )
        .file(
            "p/child.toml",
            "extends = \"mid\"\nname = \"Child\"\n[model]\nmax_prompt_tokens = 100\n",
        );
    let (code, diagnostics) = validate_json(&t.path("p"));
    assert_eq!(code, 1);
    let errors = budget_errors(&diagnostics);
    assert_eq!(
        errors.len(),
        1,
        "only the child has a budget: {diagnostics:?}"
    );
    let d = errors[0];
    assert!(d["path"].as_str().unwrap().ends_with("child.toml"));
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(11))
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("inherited from `base`"),
        "names the ancestor whose prompt it is: {d}"
    );
}

#[test]
fn a_budget_is_inherited_and_parent_placeholders_count() {
    // The base's budget applies to the child; the child's prompt includes the base's with
    // {{parent}}, which pushes it over.
    let t = TempTree::new()
        .file(
            "p/base.toml",
            &persona("Base", &words(60), "[model]\nmax_prompt_tokens = 100\n"),
        )
        .file(
            "p/child.toml",
            &format!(
                "extends = \"base\"\nname = \"Child\"\nsystem_prompt = \"\"\"\n{{{{parent}}}}\n{}\"\"\"\n",
                words(60)
            ),
        );
    let (code, diagnostics) = validate_json(&t.path("p"));
    assert_eq!(code, 1);
    let errors = budget_errors(&diagnostics);
    assert_eq!(errors.len(), 1, "{diagnostics:?}");
    assert!(errors[0]["path"].as_str().unwrap().ends_with("child.toml"));
    assert_eq!(
        errors[0]["line"].as_u64(),
        Some(3),
        "at the child's own prompt"
    );

    // The same child without {{parent}} fits.
    std::fs::write(
        t.path("p/child.toml"),
        format!(
            "extends = \"base\"\nname = \"Child\"\nsystem_prompt = \"\"\"\n{}\"\"\"\n",
            words(60)
        ),
    )
    .unwrap();
    assert_eq!(validate_json(&t.path("p")).0, 0);
}

#[test]
fn a_variable_default_can_push_a_prompt_over() {
    let t = TempTree::new().file(
        "p/v.toml",
        &persona(
            "V",
            "Be {{style}}.",
            &format!(
                "[model]\nmax_prompt_tokens = 50\n[vars]\nstyle = \"{}\"\n",
                words(80)
            ),
        ),
    );
    let (code, diagnostics) = validate_json(&t.path("p"));
    assert_eq!(code, 1);
    assert_eq!(budget_errors(&diagnostics).len(), 1, "{diagnostics:?}");

    // A child that overrides the default with a short one fits.
    let t = t.file(
        "p/w.toml",
        "extends = \"v\"\nname = \"W\"\n[vars]\nstyle = \"brief\"\n",
    );
    let (_, diagnostics) = validate_json(&t.path("p"));
    let errors = budget_errors(&diagnostics);
    assert_eq!(errors.len(), 1, "{diagnostics:?}");
    assert!(errors[0]["path"].as_str().unwrap().ends_with("v.toml"));
}

#[test]
fn set_refuses_a_write_over_the_budget() {
    let t = TempTree::new().file(
        "p/coach.toml",
        &persona("Coach", &words(50), "[model]\nmax_prompt_tokens = 100\n"),
    );
    let before = std::fs::read_to_string(t.path("p/coach.toml")).unwrap();
    let run = personactl()
        .arg("--dir")
        .arg(t.path("p"))
        .args(["set", "coach", "system_prompt", &words(150)])
        .run();
    run.assert_exit(1);
    assert!(
        run.stderr.contains("budget.prompt-tokens"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(t.path("p/coach.toml")).unwrap(),
        before,
        "nothing written"
    );
    let lowered = personactl()
        .arg("--dir")
        .arg(t.path("p"))
        .args(["set", "coach", "model.max_prompt_tokens", "20"])
        .run();
    lowered.assert_exit(1);
    assert!(
        lowered.stderr.contains("budget.prompt-tokens"),
        "{}",
        lowered.stderr
    );

    // A child's write is judged with its family.
    let t = t.file("p/kid.toml", "extends = \"coach\"\nname = \"Kid\"\n");
    let run = personactl()
        .arg("--dir")
        .arg(t.path("p"))
        .args([
            "set",
            "kid",
            "system_prompt",
            &format!("{{{{parent}}}} {}", words(60)),
        ])
        .run();
    run.assert_exit(1);
    assert!(
        run.stderr.contains("budget.prompt-tokens"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_registry_keeps_the_last_good_version_of_an_over_budget_edit() {
    let t = TempTree::new().file(
        "p/coach.toml",
        &persona("Coach", &words(50), "[model]\nmax_prompt_tokens = 100\n"),
    );
    // The only persona is the default: the registry reports a missing default persona like
    // `validate` does, and this test is about the budget alone.
    let registry = Registry::builder(t.path("p"))
        .default_persona("coach")
        .open()
        .expect("opens");
    assert!(registry.status().success, "{:?}", registry.status().errors);
    std::fs::write(
        t.path("p/coach.toml"),
        persona(
            "Coach v2",
            &words(150),
            "[model]\nmax_prompt_tokens = 100\n",
        ),
    )
    .unwrap();
    registry.reload().expect("reloads");
    let snapshot = registry.snapshot();
    assert_eq!(
        snapshot
            .get("coach")
            .map(|e| e.persona.name.clone())
            .as_deref(),
        Some("Coach"),
        "last good kept"
    );
    let status = registry.status();
    assert!(!status.success);
    assert!(
        status
            .errors
            .iter()
            .any(|d| d.code.as_str() == "budget.prompt-tokens"),
        "{status:?}"
    );
    std::fs::write(
        t.path("p/coach.toml"),
        persona("Coach v3", &words(90), "[model]\nmax_prompt_tokens = 100\n"),
    )
    .unwrap();
    registry.reload().expect("reloads");
    assert_eq!(
        registry
            .snapshot()
            .get("coach")
            .map(|e| e.persona.name.clone())
            .as_deref(),
        Some("Coach v3")
    );
    assert!(registry.status().success, "{:?}", registry.status().errors);
}

#[test]
fn a_base_edit_over_a_childs_budget_leaves_the_child_at_its_last_good_version() {
    let t = TempTree::new()
        .file("p/base.toml", &persona("Base", &words(50), ""))
        .file(
            "p/kid.toml",
            "extends = \"base\"\nname = \"Kid\"\n[model]\nmax_prompt_tokens = 100\n",
        );
    let registry = Registry::open(t.path("p")).expect("opens");
    let before = registry
        .snapshot()
        .get("kid")
        .expect("kid")
        .revision()
        .to_owned();
    std::fs::write(t.path("p/base.toml"), persona("Base", &words(150), "")).unwrap();
    registry.reload().expect("reloads");
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.get("kid").expect("kept").revision(), before);
    assert_eq!(
        snapshot.get("base").map(|e| e.persona.system_prompt.len()),
        Some(words(150).len()),
        "the base itself has no budget: its edit is live"
    );
    let status = registry.status();
    let kid_errors: Vec<_> = status
        .errors
        .iter()
        .filter(|d| d.path.ends_with("kid.toml"))
        .collect();
    assert!(
        kid_errors
            .iter()
            .any(|d| d.code.as_str() == "budget.prompt-tokens"
                && d.message.contains("inherited from `base`")),
        "{kid_errors:?}"
    );
}

#[test]
fn counts_show_in_list_show_render_and_explain() {
    let t = TempTree::new().file(
        "p/coach.toml",
        &persona(
            "Coach",
            "You are {{persona_name}}. Today is {{date}}.",
            "greeting = \"Hi!\"\n[model]\nname = \"gpt-3.5-turbo\"\n",
        ),
    );
    let expected_prompt = Tokenizer::Cl100kBase.count("You are Coach. Today is 2000-01-01.\n");
    let greeting = Tokenizer::Cl100kBase.count("Hi!");
    let dir = t.path("p");

    let list = personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["list", "--format", "json"])
        .run();
    list.assert_exit(0);
    let items: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(
        items[0]["tokens"],
        json!({"system_prompt": expected_prompt, "greeting": greeting, "tokenizer": "cl100k_base"})
    );
    assert_eq!(items[0]["model"], "gpt-3.5-turbo");
    let table = personactl().arg("--dir").arg(&dir).arg("list").run();
    assert!(
        table.stdout.lines().next().unwrap().contains("TOKENS"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .contains(&format!(" {expected_prompt} ")),
        "{}",
        table.stdout
    );

    let show = personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["show", "coach", "--format", "json"])
        .run();
    let shown: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(shown["tokens"]["system_prompt"], expected_prompt);
    assert_eq!(shown["model"]["name"], "gpt-3.5-turbo");
    let show_toml = personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["show", "coach"])
        .run();
    assert!(
        !show_toml.stdout.contains("tokens"),
        "stdout stays a persona file"
    );
    assert!(
        show_toml
            .stderr
            .contains(&format!("{expected_prompt} in the system prompt")),
        "{}",
        show_toml.stderr
    );

    let render = personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["render", "coach", "--date", "2000-01-01"])
        .run();
    render.assert_exit(0);
    assert_eq!(render.stdout, "You are Coach. Today is 2000-01-01.\n");
    assert!(
        render
            .stderr
            .contains(&format!("tokens: {expected_prompt} (cl100k_base)")),
        "{}",
        render.stderr
    );

    let explain = personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["explain", "coach", "--format", "json"])
        .run();
    let explained: Value = serde_json::from_str(&explain.stdout).unwrap();
    assert_eq!(explained["tokens"]["system_prompt"], expected_prompt);
    assert_eq!(explained["tokens"]["tokenizer"], "cl100k_base");
    let human = personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["explain", "coach"])
        .run();
    assert!(human.stdout.contains("tokens: "), "{}", human.stdout);
}

#[test]
fn http_shows_counts_and_refuses_an_over_budget_write() {
    let t = TempTree::new().file(
        "p/coach.toml",
        &persona(
            "Coach",
            &words(50),
            "[model]\nname = \"gpt-4o\"\nmax_prompt_tokens = 100\n",
        ),
    );
    let s = util::Server::spawn(
        personactl()
            .personas(t.path("p"))
            .arg("--sessions")
            .arg(t.path("sessions.jsonl"))
            .args(["serve", "--addr", "127.0.0.1:0"]),
    );
    let (status, body) = s.call("GET", "/api/personas/coach", None, None);
    assert_eq!(status, 200);
    assert_eq!(
        body["tokens"],
        json!({"system_prompt": Tokenizer::O200kBase.count(&words(50)), "greeting": null, "tokenizer": "o200k_base"})
    );
    assert_eq!(body["model"]["name"], "gpt-4o");
    // What GET gave can be sent back: `tokens` is output only.
    let mut shown = body.clone();
    shown["description"] = json!("Changed.");
    let (status, back) = s.call("PUT", "/api/personas/coach", Some(&shown.to_string()), None);
    assert_eq!(status, 200, "{back}");
    let (_, list) = s.call("GET", "/api/personas", None, None);
    assert!(
        list[0].get("tokens").is_none(),
        "listing pays nothing for counts"
    );

    let before = std::fs::read_to_string(t.path("p/coach.toml")).unwrap();
    let patch = json!({"system_prompt": words(150)}).to_string();
    let (status, body) = s.call("PATCH", "/api/personas/coach", Some(&patch), None);
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["diagnostics"][0]["code"], "budget.prompt-tokens",
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("p/coach.toml")).unwrap(),
        before
    );

    let (_, doc) = s.call("GET", "/api/openapi.json", None, None);
    assert!(
        doc["components"]["schemas"]["TokenCounts"]["properties"]["tokenizer"].is_object(),
        "the OpenAPI document describes `tokens`"
    );
}
