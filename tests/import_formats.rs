//! Import of every card version and container, agent files as real runtimes read them, Open
//! WebUI presets; round trips field by field; limits (long fields, 1 MiB, YAML bombs under a
//! memory limit, CHARX paths); idempotent re-import. Through the real binary unless noted.

mod util;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use personas::{Date, Vars, check_file};
use serde_json::{Value, json};
use util::{TempTree, personactl};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/interop")
        .join(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file exists")).expect("JSON")
}

/// `personactl --dir DIR import FILES…`: (exit code, stdout, stderr).
fn import(dir: &Path, files: &[&Path]) -> (i32, String, String) {
    let mut inv = personactl().arg("--dir").arg(dir).arg("import");
    for f in files {
        inv = inv.arg(f);
    }
    let run = inv.run();
    (run.code.unwrap_or(-1), run.stdout, run.stderr)
}

fn export(dir: &Path, id: &str, to: &str) -> String {
    let run = personactl()
        .arg("--dir")
        .arg(dir)
        .args(["export", id, "--to", to])
        .run();
    run.assert_exit(0);
    run.stdout
}

/// `validate` on the whole directory passes.
fn assert_validates(dir: &Path, any_id: &str) {
    let run = personactl()
        .arg("--dir")
        .arg(dir)
        .args(["--default-persona", any_id, "validate"])
        .run();
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
}

fn persona(dir: &Path, id: &str) -> personas::Persona {
    let checked = check_file(&dir.join(format!("{id}.toml")));
    *checked
        .persona
        .unwrap_or_else(|| panic!("{id} is valid: {:?}", checked.diagnostics))
}

/// Every key of `original` is in `exported` with the same value (the extension point
/// `personactl` aside), and `exported` adds nothing but spec defaults.
fn assert_same_card(original: &Value, exported: &Value) {
    let mut exported = exported.clone();
    exported["data"]["extensions"]
        .as_object_mut()
        .expect("extensions")
        .remove("personactl");
    for (k, v) in original.as_object().expect("card") {
        if k != "data" {
            assert_eq!(&exported[k], v, "top-level `{k}`");
        }
    }
    let data = original.get("data").unwrap_or(original);
    for (k, v) in data.as_object().expect("data") {
        assert_eq!(&exported["data"][k], v, "data.{k}");
    }
}

#[test]
fn v3_card_round_trips_field_by_field_with_macros_nulls_and_big_numbers() {
    let t = TempTree::new();
    let dir = t.path("p");
    let src = fixture("captain.card-v3.json");
    let (code, out, err) = import(&dir, &[&src]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("tags are not persona tags"), "{err}");
    assert_validates(&dir, "captain-char-vale");
    let p = persona(&dir, "captain-char-vale");
    assert_eq!(
        p.greeting.as_deref(),
        Some("Ahoy, {{user_name}}! I'm {{persona_name}}. Today is {{date}}. {{{{// a comment}}")
    );
    let rendered = p
        .render(&Vars::new(Date::new(2025, 1, 31).unwrap()).with("user_name", "Ana"))
        .unwrap();
    assert_eq!(
        rendered.system_prompt,
        "You are Captain {{char}} Vale, talking to Ana. Keep {{original}}. Literal: {{{{ and ${{ secrets.X }} and {% raw %}{{ x }}{% endraw %}."
    );
    let original = read_json(&src);
    let v3: Value = serde_json::from_str(&export(&dir, "captain-char-vale", "card-v3")).unwrap();
    assert_same_card(&original, &v3);
    // The lorebook's nulls, at their positions, and a u64 beyond TOML's integers.
    assert_eq!(v3["data"]["character_book"]["entries"][1], Value::Null);
    assert_eq!(
        v3["data"]["character_book"]["entries"][0]["comment"],
        Value::Null
    );
    assert_eq!(
        v3["data"]["extensions"]["big"].as_u64(),
        Some(18_446_744_073_709_551_615)
    );
    // As V2: the same data fields, spec V2.
    let v2: Value = serde_json::from_str(&export(&dir, "captain-char-vale", "card-v2")).unwrap();
    assert_eq!(v2["spec"], "chara_card_v2");
    assert_eq!(v2["spec_version"], "2.0");
    assert_eq!(
        v2["data"]["system_prompt"],
        original["data"]["system_prompt"]
    );
    assert_eq!(v2["data"]["first_mes"], original["data"]["first_mes"]);
}

#[test]
fn an_edited_field_is_exported_edited_and_the_rest_as_imported() {
    let t = TempTree::new();
    let dir = t.path("p");
    let (code, _, err) = import(&dir, &[&fixture("captain.card-v3.json")]);
    assert_eq!(code, 0, "{err}");
    personactl()
        .arg("--dir")
        .arg(&dir)
        .args([
            "set",
            "captain-char-vale",
            "greeting",
            "Hello {{user_name}}, I am {{persona_name}}.",
        ])
        .run()
        .assert_exit(0);
    let v3: Value = serde_json::from_str(&export(&dir, "captain-char-vale", "card-v3")).unwrap();
    assert_eq!(v3["data"]["first_mes"], "Hello {{user}}, I am {{char}}.");
    let original = read_json(&fixture("captain.card-v3.json"));
    assert_eq!(
        v3["data"]["system_prompt"],
        original["data"]["system_prompt"]
    );
}

#[test]
fn v1_cards_import_and_export_as_v2() {
    let t = TempTree::new();
    let dir = t.path("p");
    let src = fixture("v1-seraphina.card.json");
    let (code, _, err) = import(&dir, &[&src]);
    assert_eq!(code, 0, "{err}");
    let p = persona(&dir, "seraphine");
    assert!(
        p.system_prompt
            .contains("{{persona_name}} is a forest guardian"),
        "{}",
        p.system_prompt
    );
    assert_eq!(
        p.greeting.as_deref(),
        Some("*{{persona_name}} kneels beside {{user_name}}.* You're safe now.")
    );
    let v2: Value = serde_json::from_str(&export(&dir, "seraphine", "card-v2")).unwrap();
    assert_eq!(v2["spec"], "chara_card_v2");
    for (k, v) in read_json(&src).as_object().unwrap() {
        assert_eq!(&v2["data"][k], v, "data.{k}");
    }
}

/// A minimal PNG image (CRCs unchecked by card readers) with the given text chunks.
fn png_with(chunks: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0, 0, 0, 0]);
    };
    chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
    chunk(b"IDAT", b"fixture-pixels");
    for (keyword, json) in chunks {
        let mut data = keyword.as_bytes().to_vec();
        data.push(0);
        data.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(json)
                .as_bytes(),
        );
        chunk(b"tEXt", &data);
    }
    chunk(b"IEND", &[]);
    out
}

/// The decoded text chunks of a PNG, by keyword.
fn png_cards(png: &[u8]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        if kind == b"tEXt" {
            let nul = data.iter().position(|&b| b == 0).unwrap();
            let json = base64::engine::general_purpose::STANDARD
                .decode(&data[nul + 1..])
                .unwrap();
            out.push((
                String::from_utf8(data[..nul].to_vec()).unwrap(),
                serde_json::from_slice(&json).unwrap(),
            ));
        }
        at += 12 + len;
    }
    out
}

#[test]
fn png_cards_prefer_ccv3_and_export_back_into_the_same_image() {
    let v3 = std::fs::read(fixture("captain.card-v3.json")).unwrap();
    let v2 = std::fs::read(fixture("lighthouse-keeper.card.json")).unwrap();
    let t = TempTree::new()
        .bytes("both.png", &png_with(&[("chara", &v2), ("ccv3", &v3)]))
        .bytes("v2only.png", &png_with(&[("chara", &v2)]));
    let dir = t.path("p");
    let (code, out, err) = import(&dir, &[&t.path("both.png"), &t.path("v2only.png")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        dir.join("captain-char-vale.toml").exists(),
        "ccv3 wins: {out}"
    );
    assert!(
        dir.join("maren-the-lighthouse-keeper.toml").exists(),
        "{out}"
    );
    assert_validates(&dir, "captain-char-vale");

    let png = t.path("out.png");
    personactl()
        .arg("--dir")
        .arg(&dir)
        .args(["export", "captain-char-vale", "--to", "card-v3-png", "-o"])
        .arg(&png)
        .run()
        .assert_exit(0);
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.windows(14).any(|w| w == b"fixture-pixels"),
        "the card's own image"
    );
    let cards = png_cards(&bytes);
    let keywords: Vec<&str> = cards.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keywords, ["ccv3", "chara"]);
    assert_same_card(&read_json(&fixture("captain.card-v3.json")), &cards[0].1);
    assert_eq!(cards[1].1["spec"], "chara_card_v2");

    // Re-importing the exported PNG gives the same persona.
    let again = t.path("again");
    let (code, _, err) = import(&again, &[&png]);
    assert_eq!(code, 0, "{err}");
    let mut a = persona(&dir, "captain-char-vale");
    let mut b = persona(&again, "captain-char-vale");
    a.extensions.remove("import");
    b.extensions.remove("import");
    assert_eq!(a, b);
}

#[test]
fn charx_imports_with_its_assets_and_unsafe_archives_are_refused() {
    let t = TempTree::new();
    let dir = t.path("p");
    let (code, out, err) = import(&dir, &[&fixture("lantern.charx")]);
    assert_eq!(code, 0, "{out}{err}");
    let p = persona(&dir, "lantern");
    assert_eq!(
        p.greeting.as_deref(),
        Some("*flickers* Hello, {{user_name}}.")
    );
    let icon = dir.join(".assets/lantern/assets/icon/images/main.png");
    assert_eq!(
        std::fs::read(&icon).unwrap(),
        b"\x89PNG\r\n\x1a\nnot-really-an-image-main"
    );
    assert_validates(&dir, "lantern");
    let v3: Value = serde_json::from_str(&export(&dir, "lantern", "card-v3")).unwrap();
    assert_eq!(
        v3["data"]["assets"][0]["uri"],
        "embeded://assets/icon/images/main.png"
    );

    let (code, _, err) = import(&dir, &[&fixture("escape.charx")]);
    assert_eq!(code, 1);
    assert!(err.contains("unsafe path"), "{err}");
    assert!(
        !t.path("escape.txt").exists() && !t.root().parent().unwrap().join("escape.txt").exists()
    );
}

#[test]
fn zip_bombs_and_huge_entry_counts_are_refused() {
    use std::io::Write;
    let t = TempTree::new();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflate = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("card.json", deflate).unwrap();
    zip.write_all(br#"{"spec":"chara_card_v3","spec_version":"3.0","data":{"name":"Z"}}"#)
        .unwrap();
    zip.start_file("assets/zeros.bin", deflate).unwrap();
    zip.write_all(&vec![0u8; 8 * 1024 * 1024]).unwrap();
    let bomb = zip.finish().unwrap().into_inner();
    let t = t.bytes("bomb.charx", &bomb);
    let (code, _, err) = import(&t.path("p"), &[&t.path("bomb.charx")]);
    assert_eq!(code, 1);
    assert!(err.contains("compressed more than"), "{err}");
    assert!(!t.path("p").join("z.toml").exists());
}

/// A V2 card whose fields exceed every persona limit.
fn long_card(description_chars: usize, lorebook_bytes: usize) -> Value {
    let description: String = "The sea remembers {{char}}. ".repeat(description_chars / 28 + 1);
    json!({
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Longwind",
            "description": description,
            "personality": "Talkative.",
            "scenario": "SCENARIO-MARKER {{user}} listens.",
            "first_mes": "Well, {{user}}... ".repeat(150),
            "mes_example": "",
            "creator_notes": "N".repeat(900),
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": [],
            "tags": [],
            "creator": "",
            "character_version": "",
            "extensions": {},
            "character_book": {"entries": [{"keys": ["x"], "content": "L".repeat(lorebook_bytes), "comment": null}]},
        }
    })
}

#[test]
fn long_fields_are_shortened_with_a_warning_and_restored_on_export() {
    let card = long_card(46_000, 10);
    let t = TempTree::new().file("long.json", &card.to_string());
    let dir = t.path("p");
    let (code, out, err) = import(&dir, &[&t.path("long.json")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("system prompt has"), "{err}");
    assert!(err.contains("greeting (first_mes) has"), "{err}");
    assert_validates(&dir, "longwind");
    let p = persona(&dir, "longwind");
    let chars = p.system_prompt.chars().count();
    assert!((32_000..=32_768).contains(&chars), "{chars}");
    assert!(
        p.greeting
            .as_ref()
            .is_some_and(|g| g.chars().count() <= 2000 && g.starts_with("Well, {{user_name}}"))
    );
    let exported: Value = serde_json::from_str(&export(&dir, "longwind", "card-v2")).unwrap();
    assert_same_card(&card, &exported);
    assert!(
        exported["data"]["scenario"]
            .as_str()
            .unwrap()
            .contains("SCENARIO-MARKER")
    );
}

#[test]
fn a_card_too_big_for_a_persona_file_is_refused_and_nothing_is_written() {
    let card = long_card(100, 1_200_000);
    let t = TempTree::new().file("big.json", &card.to_string());
    let dir = t.path("p");
    let (code, out, err) = import(&dir, &[&t.path("big.json")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("1 MiB"), "{err}");
    assert!(!dir.join("longwind.toml").exists());
}

#[test]
fn agent_files_as_runtimes_read_them() {
    let t = TempTree::new();
    let dir = t.path("p");
    let files = [
        "flow-list.agent.md",
        "colon.agent.md",
        "aliases.agent.md",
        "crlf.agent.md",
        "chinese.agent.md",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| fixture(f)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let (code, out, err) = import(&dir, &refs);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("unquoted `: `") && err.contains("colon.agent.md"),
        "{err}"
    );
    assert_validates(&dir, "test-runner");

    let tools = &persona(&dir, "test-runner").extensions["agent_md"]["fields"]["tools"];
    assert_eq!(tools, &json!(["Read", "Grep", "Glob", "Bash"]));
    assert!(
        persona(&dir, "pr-helper")
            .description
            .starts_with("Use this agent when: the user asks")
    );
    let aliases = persona(&dir, "alias-user");
    assert_eq!(
        aliases.extensions["agent_md"]["fields"]["production"]["timeout"],
        30
    );
    assert_eq!(aliases.extensions["agent_md"]["json"]["empty"], "null");
    let md = export(&dir, "alias-user", "agent-md");
    assert!(md.contains("empty: ~"), "{md}");
    assert_eq!(persona(&dir, "dai-li").name, "代理");

    // Literal braces stay literal, CRLF bodies come back byte for byte.
    let crlf = persona(&dir, "crlf-agent");
    let rendered = crlf
        .render(&Vars::new(Date::new(2025, 1, 31).unwrap()).with("user_name", "x"))
        .unwrap();
    assert!(
        rendered
            .system_prompt
            .contains("with {{date}} and ${{ secrets.TOKEN }} and {{CompanyName}}.")
    );
    assert!(!rendered.system_prompt.contains("2025"));
    let md = export(&dir, "crlf-agent", "agent-md");
    let original = std::fs::read_to_string(fixture("crlf.agent.md")).unwrap();
    let body = |s: &str| {
        s.split("---")
            .nth(2)
            .map(|b| b.trim_start_matches(['\r', '\n']).to_owned())
    };
    assert_eq!(body(&md), body(&original));
}

#[test]
fn front_matter_errors_point_at_lines_of_the_file() {
    let t = TempTree::new().file(
        "broken.md",
        "\n---\nname: broken\ndescription: fine\ntools: [a, b\nmodel: x\n---\nbody\n",
    );
    let (code, _, err) = import(&t.path("p"), &[&t.path("broken.md")]);
    assert_eq!(code, 1);
    // The error is found at `model` (file line 6) or after; never at a front-matter line.
    let line: usize = err
        .split("line ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a line number: {err}"));
    assert!((6..=8).contains(&line), "{err}");
}

#[test]
fn a_yaml_bomb_is_refused_quickly_under_a_memory_limit() {
    let t = TempTree::new();
    let dir = t.path("p");
    let started = Instant::now();
    // The shell sets RLIMIT_AS (ulimit -v, in KiB) for the child only, then runs personactl.
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 262144 && exec \"$0\" --dir \"$1\" import \"$2\"")
        .arg(env!("CARGO_BIN_EXE_personactl"))
        .arg(&dir)
        .arg(fixture("bomb.agent.md"))
        .output()
        .expect("sh runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("YAML bomb"), "{stderr}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(!dir.join("bomb.toml").exists());
}

#[test]
fn ids_come_from_any_script() {
    assert_eq!(personas::id_from_name("代理"), "dai-li");
    assert_eq!(personas::id_from_name("Ünïcødé"), "unicode");
    assert_eq!(personas::id_from_name("Пётр Ильич"), "piotr-il-ich");
    let a = personas::id_from_name("\u{e000}\u{e001}");
    assert!(
        a.starts_with("persona-") && personas::is_valid_id(&a),
        "{a}"
    );
    assert_ne!(
        a,
        personas::id_from_name("\u{e002}"),
        "hash-based ids differ"
    );
}

#[test]
fn re_import_is_recognised_and_a_changed_source_updates_in_place() {
    let t = TempTree::new()
        .file(
            "a.md",
            "---\nname: alpha\ndescription: First.\n---\nYou are alpha.\n",
        )
        .file(
            "b.md",
            "---\nname: beta\ndescription: Second.\n---\nYou are beta.\n",
        );
    let dir = t.path("p");
    let (a, b) = (t.path("a.md"), t.path("b.md"));
    let (code, out, _) = import(&dir, &[&a, &b]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("imported").count(), 2, "{out}");
    let (code, out, _) = import(&dir, &[&a, &b]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("unchanged").count(), 2, "{out}");
    assert_eq!(personas::discover(&dir).unwrap().len(), 2);

    std::fs::write(
        &a,
        "---\nname: alpha\ndescription: First, revised.\n---\nYou are alpha.\n",
    )
    .unwrap();
    let (code, out, _) = import(&dir, &[&a]);
    assert_eq!(code, 0);
    assert!(out.starts_with("updated"), "{out}");
    assert_eq!(persona(&dir, "alpha").description, "First, revised.");
    assert_eq!(personas::discover(&dir).unwrap().len(), 2);
}

#[test]
fn export_checks_the_extension_and_never_overwrites_without_force() {
    let t = TempTree::new().file("taken.png", "precious");
    let run = personactl()
        .args(["export", "coach", "--to", "card-v2", "-o"])
        .arg(t.path("coach.png"))
        .run();
    run.assert_exit(2);
    assert!(run.stderr.contains(".json"), "{}", run.stderr);
    assert!(!t.path("coach.png").exists());

    let run = personactl()
        .args(["export", "coach", "--to", "card-v2-png", "-o"])
        .arg(t.path("taken.png"))
        .run();
    run.assert_exit(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read(t.path("taken.png")).unwrap(), b"precious");

    personactl()
        .args(["export", "coach", "--to", "card-v2-png", "--force", "-o"])
        .arg(t.path("taken.png"))
        .run()
        .assert_exit(0);
    let cards = png_cards(&std::fs::read(t.path("taken.png")).unwrap());
    assert_eq!(cards[0].0, "chara");
    assert_eq!(cards[0].1["data"]["name"], "Coach");
}

#[test]
fn open_webui_presets_round_trip_and_export_to_librechat() {
    let t = TempTree::new();
    let dir = t.path("p");
    let src = fixture("open-webui-models.json");
    let (code, out, err) = import(&dir, &[&src]);
    assert_eq!(code, 0, "{out}{err}");
    assert_validates(&dir, "sql-helper");
    let p = persona(&dir, "sql-helper");
    assert_eq!(p.starters, ["Write a join", "Explain this query"]);
    assert_eq!(p.tags, ["sql", "data"]);
    assert_eq!(p.icon, "/static/favicon.png");
    let m = p.model.as_ref().unwrap();
    assert_eq!(
        (m.temperature, m.top_p, m.max_tokens),
        (Some(0.2), Some(0.9), Some(2048))
    );
    assert_eq!(
        p.system_prompt,
        "You write SQL for {{user_name}}. Today is {{date}}. Use {{{{table}} literally."
    );
    assert_eq!(
        m.name.as_deref(),
        Some("llama3.1:8b"),
        "`base_model_id` is `[model] name`"
    );
    assert!(
        p.extensions["open_webui"].get("base_model_id").is_none(),
        "not kept twice: {:?}",
        p.extensions["open_webui"]
    );
    assert_eq!(personas::model_name(&p).as_deref(), Some("llama3.1:8b"));

    let original = read_json(&src);
    for (i, id) in ["sql-helper", "haiku-bot"].iter().enumerate() {
        let mut back: Value = serde_json::from_str(&export(&dir, id, "open-webui")).unwrap();
        back[0]["meta"]
            .as_object_mut()
            .unwrap()
            .remove("personactl");
        assert_eq!(back[0], original[i], "{id}");
    }

    let yaml = export(&dir, "sql-helper", "librechat");
    let docs = yaml_rust2::YamlLoader::load_from_str(&yaml).unwrap();
    let spec = &docs[0]["modelSpecs"]["list"][0];
    assert_eq!(spec["name"].as_str(), Some("sql-helper"));
    assert_eq!(spec["label"].as_str(), Some("SQL Helper"));
    assert_eq!(spec["preset"]["model"].as_str(), Some("llama3.1:8b"));
    assert_eq!(
        spec["preset"]["promptPrefix"].as_str(),
        Some(
            "You write SQL for {{current_user}}. Today is {{current_date}}. Use {{table}} literally."
        )
    );
    assert_eq!(spec["preset"]["max_tokens"].as_i64(), Some(2048));
}

#[test]
fn open_webui_base_model_id_is_the_model_name_both_ways() {
    let t = TempTree::new();
    let dir = t.path("p");
    let (code, out, err) = import(&dir, &[&fixture("open-webui-models.json")]);
    assert_eq!(code, 0, "{out}{err}");
    for (key, value) in [
        ("model.name", "gpt-4o-mini"),
        ("model.tokenizer", "cl100k_base"),
        ("model.max_prompt_tokens", "500"),
    ] {
        personactl()
            .arg("--dir")
            .arg(&dir)
            .args(["set", "sql-helper", key, value])
            .run()
            .assert_exit(0);
    }
    let edited = persona(&dir, "sql-helper");
    let exported = export(&dir, "sql-helper", "open-webui");
    let json: Value = serde_json::from_str(&exported).expect("JSON");
    assert_eq!(json[0]["base_model_id"], "gpt-4o-mini", "{exported}");
    assert_eq!(
        json[0]["meta"]["personactl"]["model"],
        json!({"tokenizer": "cl100k_base", "max_prompt_tokens": 500}),
        "the keys Open WebUI has no field for travel in the extension point"
    );
    assert_eq!(json[0]["params"]["temperature"], 0.2);

    let again = TempTree::new();
    let file = again.path("models.json");
    std::fs::write(&file, &exported).expect("write the export");
    let dir2 = again.path("p");
    let (code, out, err) = import(&dir2, &[&file]);
    assert_eq!(code, 0, "{out}{err}");
    let back = persona(&dir2, "sql-helper");
    assert_eq!(back.model, edited.model, "every [model] key round-trips");
    assert_eq!(
        back.model.as_ref().and_then(|m| m.name.as_deref()),
        Some("gpt-4o-mini")
    );
}

#[test]
fn an_open_webui_persona_imported_before_model_names_still_exports_its_base_model() {
    let t = TempTree::new().file(
        "p/old.toml",
        "schema_version = 1\nname = \"Old\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"p\"\n\n[extensions.open_webui]\nbase_model_id = \"llama3.1:8b\"\n",
    );
    let exported = export(&t.path("p"), "old", "open-webui");
    let json: Value = serde_json::from_str(&exported).expect("JSON");
    assert_eq!(json[0]["base_model_id"], "llama3.1:8b", "{exported}");
}
