//! Import and export: Character Card V2 (JSON and PNG) and Markdown agent files, through the
//! library and the real binary. Fixtures were written from the public specifications.

mod util;

use std::path::{Path, PathBuf};

use base64::Engine;
use personas::{Format, Persona, Target, check_file, import};
use serde_json::Value;
use util::{TempTree, personactl};

/// `tests/fixtures/interop/NAME`.
fn fixture(name: &str) -> PathBuf {
    util::fixture(&format!("interop/{name}"))
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture exists")
}

/// Imports, writes through the store's validation, reads back: what a user gets on disk.
fn import_via_store(content: &[u8]) -> Persona {
    let t = TempTree::new();
    let store = personas::Store::new(t.path("p"));
    let imported = import(content).expect("imports");
    let path = store
        .create(&imported.id, &imported.persona)
        .expect("the imported persona is valid");
    *check_file(&path).persona.expect("valid on disk")
}

fn export(p: &Persona, target: Target) -> String {
    String::from_utf8(personas::export("x", p, target, None).expect("exports")).expect("text")
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[test]
fn card_fields_map_to_persona_fields() {
    let p = import_via_store(&bytes("lighthouse-keeper.card.json"));
    assert_eq!(p.name, "Maren the Lighthouse Keeper");
    assert_eq!(
        p.description,
        "A cosy storytelling companion for stormy evenings."
    );
    assert_eq!(
        p.greeting.as_deref(),
        Some("*The door bangs open in the wind.* Come in, quickly now. Kettle's on.")
    );
    assert_eq!(p.tags, ["cozy", "fantasy", "slice-of-life"]);
    assert!(p.system_prompt.starts_with("You are Maren"));
    let kept = &p.extensions["card"]["fields"];
    assert_eq!(
        kept["personality"],
        "Patient, dry-humoured, protective of travellers."
    );
    assert_eq!(
        kept["character_book"]["entries"][0]["content"],
        "A fishing town on a cliff."
    );
    assert_eq!(
        kept["alternate_greetings"][1],
        "Mind the stairs; the third one creaks."
    );
    assert_eq!(kept["extensions"]["depth_prompt"]["depth"], 4);
    assert!(
        kept.get("name").is_none(),
        "mapped fields that round-trip are not duplicated"
    );
}

#[test]
fn card_export_after_import_gives_back_the_card() {
    let original: Value = serde_json::from_slice(&bytes("lighthouse-keeper.card.json")).unwrap();
    let p = import_via_store(&bytes("lighthouse-keeper.card.json"));
    let exported: Value = serde_json::from_str(&export(&p, Target::CardV2)).unwrap();
    let mut data = exported["data"].clone();
    data["extensions"]
        .as_object_mut()
        .unwrap()
        .remove("personactl");
    assert_eq!(without_nulls(&data), without_nulls(&original["data"]));
    assert_eq!(exported["spec"], "chara_card_v2");
    // import → export → import is stable
    assert_eq!(import_via_store(exported.to_string().as_bytes()), p);
}

#[test]
fn card_fields_a_persona_cannot_hold_survive_in_extensions() {
    let original: Value = serde_json::from_slice(&bytes("empty-prompt.card.json")).unwrap();
    let p = import_via_store(&bytes("empty-prompt.card.json"));
    assert!(
        p.system_prompt.starts_with("You are {{persona_name}}."),
        "composed from the character fields: {}",
        p.system_prompt
    );
    assert!(p.system_prompt.contains("Personality: Chatty, pun-loving."));
    assert!(p.description.chars().count() <= 500);
    assert_eq!(p.tags, ["pun"]);
    let exported: Value = serde_json::from_str(&export(&p, Target::CardV2)).unwrap();
    assert_eq!(
        exported["data"]["system_prompt"], "",
        "the card's own empty prompt comes back"
    );
    assert_eq!(
        exported["data"]["creator_notes"],
        original["data"]["creator_notes"]
    );
    assert_eq!(exported["data"]["tags"], original["data"]["tags"]);
    assert_eq!(import_via_store(exported.to_string().as_bytes()), p);
}

#[test]
fn png_cards_are_read_from_the_chara_chunk() {
    let json = bytes("lighthouse-keeper.card.json");
    let png = png_with_text(
        "chara",
        &base64::engine::general_purpose::STANDARD.encode(&json),
    );
    let imported = import(&png).expect("a PNG card imports");
    assert_eq!(imported.format, Format::CardPng);
    assert_eq!(imported.id, "maren-the-lighthouse-keeper");
    let mut from_json = import(&json).unwrap().persona;
    assert_eq!(imported.persona, from_json);
    from_json.name.push('!');
    assert_ne!(imported.persona, from_json);
}

#[test]
fn persona_only_fields_survive_a_card_round_trip() {
    let shipped = *check_file(Path::new("personas/coach.toml"))
        .persona
        .unwrap();
    let card = export(&shipped, Target::CardV2);
    let back = import_via_store(card.as_bytes());
    assert_eq!(back, shipped);
}

#[test]
fn agent_files_round_trip() {
    let p = import_via_store(&bytes("code-reviewer.agent.md"));
    assert_eq!(p.name, "code-reviewer");
    assert!(p.description.starts_with("Reviews a change"));
    assert!(
        p.system_prompt
            .starts_with("You are a senior code reviewer.\n\nWhen invoked:")
    );
    assert_eq!(
        p.extensions["agent_md"]["fields"]["tools"],
        "Read, Grep, Glob"
    );
    assert_eq!(
        p.model.as_ref().and_then(|m| m.name.as_deref()),
        Some("sonnet"),
        "the front matter's `model` is the model name"
    );
    assert!(
        p.extensions["agent_md"]
            .get("fields")
            .is_none_or(|f| f.get("model").is_none()),
        "a mapped `model` is not kept twice: {:?}",
        p.extensions["agent_md"]
    );
    let md = export(&p, Target::AgentMd);
    assert!(md.starts_with("---\n"), "{md}");
    assert!(
        md.contains("tools: \"Read, Grep, Glob\"") || md.contains("tools: Read, Grep, Glob"),
        "{md}"
    );
    assert!(
        md.contains("\n---\nYou are a senior code reviewer."),
        "{md}"
    );
    assert_eq!(import_via_store(md.as_bytes()), p);
    let shipped = *check_file(Path::new("personas/story-teller.toml"))
        .persona
        .unwrap();
    assert_eq!(
        import_via_store(export(&shipped, Target::AgentMd).as_bytes()),
        shipped
    );
}

#[test]
fn malformed_inputs_are_clear_errors() {
    let cases = [
        ("malformed.card.json", "invalid JSON"),
        ("no-front-matter.md", "not a recognised persona format"),
        ("unclosed.agent.md", "no closing `---`"),
    ];
    for (file, expected) in cases {
        let err = import(&bytes(file)).expect_err(file).to_string();
        assert!(err.contains(expected), "{file}: {err}");
    }
    let png = png_with_text("Comment", "just a picture");
    assert!(
        import(&png)
            .unwrap_err()
            .to_string()
            .contains("no character card")
    );
    let png = png_with_text("chara", "%%% not base64 %%%");
    assert!(import(&png).unwrap_err().to_string().contains("base64"));
    let mut truncated = png_with_text("chara", "e30=");
    truncated.truncate(45);
    assert!(
        import(&truncated)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    let huge = vec![b' '; personas::MAX_IMPORT_BYTES + 1];
    assert!(
        import(&huge)
            .unwrap_err()
            .to_string()
            .contains("limited to")
    );
}

#[test]
fn cli_import_dedupes_ids_and_writes_nothing_for_bad_files() {
    // Another card with the same name (different content, different file): a second persona.
    let t = TempTree::new().file(
        "other-maren.json",
        &String::from_utf8(bytes("lighthouse-keeper.card.json"))
            .unwrap()
            .replace("thirty years", "forty years"),
    );
    let other = t.path("other-maren.json");
    let dir = t.path("p");
    let card = fixture("lighthouse-keeper.card.json");
    let run = personactl()
        .personas(&dir)
        .arg("import")
        .arg(&card)
        .arg(&other)
        .arg(&card)
        .arg(fixture("code-reviewer.agent.md"))
        .run()
        .success();
    for name in [
        "maren-the-lighthouse-keeper.toml",
        "maren-the-lighthouse-keeper-2.toml",
        "code-reviewer.toml",
    ] {
        assert!(dir.join(name).exists(), "{name}: {}", run.stdout);
    }
    assert!(!dir.join("maren-the-lighthouse-keeper-3.toml").exists());
    assert!(run.stdout.contains("unchanged"), "{}", run.stdout);
    personactl()
        .personas(&dir)
        .args(["--default-persona", "code-reviewer", "validate"])
        .run()
        .success();

    let before = personas::discover(&dir).unwrap();
    personactl()
        .personas(&dir)
        .arg("import")
        .arg(fixture("bomb.agent.md"))
        .arg(fixture("malformed.card.json"))
        .arg(fixture("escape.charx"))
        .run()
        .code(1)
        .stderr_contains("YAML bomb")
        .stderr_contains("invalid JSON")
        .stderr_contains("unsafe path");
    assert_eq!(personas::discover(&dir).unwrap(), before);
    assert!(!t.path("escape.txt").exists() && !dir.join(".assets/lantern").exists());
}

#[test]
fn cli_export_to_stdout_and_file() {
    let run = personactl()
        .args(["export", "coach", "--to", "card-v2"])
        .run()
        .success();
    let card: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(card["data"]["name"], "Coach");
    let t = TempTree::new();
    let out = t.path("coach.md");
    personactl()
        .args(["export", "coach", "--to", "agent-md", "-o"])
        .arg(&out)
        .run()
        .success();
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("---\nname: Coach\n")
    );
    personactl()
        .args(["export", "nobody", "--to", "agent-md"])
        .run()
        .code(1);
}

/// A minimal PNG with one `tEXt` chunk (CRCs are not checked by readers of card chunks).
fn png_with_text(keyword: &str, text: &str) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0, 0, 0, 0]);
    };
    chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
    let mut data = keyword.as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(text.as_bytes());
    chunk(b"tEXt", &data);
    chunk(b"IEND", &[]);
    out
}

/// The shipped coach with every `[model]` key of models and tokens set.
fn coach_with_a_model() -> Persona {
    let mut p = *check_file(Path::new("personas/coach.toml"))
        .persona
        .expect("the shipped coach is valid");
    let model = p.model.get_or_insert_with(Default::default);
    model.name = Some("gpt-4o-mini".into());
    model.tokenizer = Some(personas::Tokenizer::Cl100kBase);
    model.max_prompt_tokens = Some(4000);
    p
}

#[test]
fn model_name_round_trips_through_cards() {
    let p = coach_with_a_model();
    for target in [Target::CardV2, Target::CardV3] {
        let card = export(&p, target);
        let json: Value = serde_json::from_str(&card).expect("a card is JSON");
        assert_eq!(
            json["data"]["extensions"]["personactl"]["model"]["name"], "gpt-4o-mini",
            "{target:?}: a card has no model field: the extension point keeps it"
        );
        let mut back = import_via_store(card.as_bytes());
        if target == Target::CardV3 {
            // A V3 card's import notes its spec, so that export writes V3 again.
            assert_eq!(
                back.extensions.remove("card"),
                Some(serde_json::json!({"spec": "chara_card_v3"}))
            );
        }
        assert_eq!(back, p, "{target:?}");
    }
}

#[test]
fn model_name_round_trips_through_agent_files_as_the_model_key() {
    let p = coach_with_a_model();
    let md = export(&p, Target::AgentMd);
    let front = &md[..md.find("\n---\n").expect("the front matter closes")];
    assert!(front.contains("\nmodel: gpt-4o-mini\n"), "{front}");
    assert_eq!(
        front.matches("gpt-4o-mini").count(),
        1,
        "the model id is written once, as `model`: {front}"
    );
    let back = import_via_store(md.as_bytes());
    assert_eq!(
        back.model.as_ref().and_then(|m| m.name.as_deref()),
        Some("gpt-4o-mini")
    );
    assert_eq!(back, p, "the other [model] keys travel in `personactl:`");

    // An agent file's own `model` (Claude Code aliases such as `sonnet`) is the name both
    // ways, and an edit of the name is what export writes.
    let mut imported = import_via_store(
        b"---\nname: helper\ndescription: Helps.\nmodel: sonnet\n---\nYou help.\n",
    );
    assert_eq!(
        imported.model.as_ref().and_then(|m| m.name.as_deref()),
        Some("sonnet")
    );
    imported.model.as_mut().expect("has a model").name = Some("opus".into());
    let md = export(&imported, Target::AgentMd);
    assert!(
        md.contains("\nmodel: opus\n") && !md.contains("sonnet"),
        "{md}"
    );
}

#[test]
fn agent_model_inherit_names_no_model_and_is_kept_as_written() {
    let md = "---\nname: helper\ndescription: Helps.\nmodel: inherit\n---\nYou help.\n";
    let p = import_via_store(md.as_bytes());
    assert_eq!(p.model.as_ref().and_then(|m| m.name.as_deref()), None);
    assert_eq!(p.extensions["agent_md"]["fields"]["model"], "inherit");
    let back = export(&p, Target::AgentMd);
    assert!(back.contains("\nmodel: inherit\n"), "{back}");
    assert_eq!(import_via_store(back.as_bytes()), p);
}

#[test]
fn an_agent_model_the_name_cannot_hold_is_kept_and_given_back() {
    let long = "m".repeat(200);
    let md = format!("---\nname: helper\ndescription: Helps.\nmodel: {long}\n---\nYou help.\n");
    let p = import_via_store(md.as_bytes());
    assert_eq!(p.model.as_ref().and_then(|m| m.name.as_deref()), None);
    let back = export(&p, Target::AgentMd);
    assert!(back.contains(&format!("\nmodel: {long}\n")), "{back}");
}
