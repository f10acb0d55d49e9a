//! Property: whatever cards and agent files are imported, an import that exits 0 (and any
//! import, for the files it wrote) leaves a directory that `personactl validate` accepts, and
//! a card comes back from export with the fields it was imported with.

mod util;

use proptest::prelude::*;
use serde_json::{Value, json};
use util::{TempTree, personactl};

/// Pieces real files are made of: macros, braces of every kind, scripts, line ends.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{char}}".to_owned()),
        Just("{{User}}".to_owned()),
        Just("{{ user }}".to_owned()),
        Just("{{date}}".to_owned()),
        Just("{{persona_name}}".to_owned()),
        Just("{{random::a::b}}".to_owned()),
        Just("${{ secrets.X }}".to_owned()),
        Just("{% if x %}{{ x }}{% endif %}".to_owned()),
        Just("{{{{".to_owned()),
        Just("{".to_owned()),
        Just("}}".to_owned()),
        Just("\r\n".to_owned()),
        Just("\n".to_owned()),
        Just(": ".to_owned()),
        Just("代理".to_owned()),
        Just("Ünïcødé".to_owned()),
        "[a-zA-Z ,.'\"#-]{1,12}",
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..max).prop_map(|v| v.concat())
}

/// Sometimes a field far over its limit.
fn maybe_long(t: String, n: usize) -> String {
    if n == 0 { t } else { t.repeat(n) }
}

fn card() -> impl Strategy<Value = Value> {
    (
        0u8..3,
        "[a-zA-Z代理Ünï ]{1,20}",
        text(8),
        text(8),
        (text(6), prop_oneof![Just(0usize), Just(0), Just(6000)]),
        (text(6), prop_oneof![Just(0usize), Just(0), Just(400)]),
        prop::collection::vec(
            prop_oneof![Just(Value::Null), text(3).prop_map(Value::String)],
            0..4,
        ),
        prop::collection::vec("[a-z ]{0,40}", 0..20),
    )
        .prop_map(
            |(version, name, description, notes, (prompt, n), (first, m), book, tags)| {
                let data = json!({
                    "name": name,
                    "description": description,
                    "personality": "",
                    "scenario": "",
                    "first_mes": maybe_long(first, m),
                    "mes_example": "",
                    "creator_notes": notes,
                    "system_prompt": maybe_long(prompt, n),
                    "tags": tags,
                    "character_book": {"entries": book},
                    "extensions": {"x": null},
                });
                match version {
                    0 => data,
                    1 => json!({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}),
                    _ => json!({"spec": "chara_card_v3", "spec_version": "3.0", "data": data}),
                }
            },
        )
}

fn agent() -> impl Strategy<Value = String> {
    (
        "[a-z代理][a-z0-9 -]{0,15}",
        text(6),
        0u8..4,
        text(10),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(name, description, extra, body, eol)| {
            let description = description.replace(['\r', '\n'], " ");
            let extra = match extra {
                0 => "tools: [Read, Grep,\nGlob]\n".to_owned(),
                1 => "base: &b\n  x: 1\nother: *b\n".to_owned(),
                2 => "model: sonnet\nempty:\n".to_owned(),
                _ => String::new(),
            };
            let front =
                format!("name: {name}\ndescription: {description}\n{extra}").replace('\n', eol);
            format!("---{eol}{front}---{eol}{body}x{eol}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn imports_leave_a_valid_directory(cards in prop::collection::vec(card(), 1..3), agents in prop::collection::vec(agent(), 1..3)) {
        let mut t = TempTree::new();
        let mut files = Vec::new();
        for (i, c) in cards.iter().enumerate() {
            let name = format!("c{i}.json");
            t = t.file(&name, &c.to_string());
            files.push(t.path(&name));
        }
        for (i, a) in agents.iter().enumerate() {
            let name = format!("a{i}.md");
            t = t.file(&name, a);
            files.push(t.path(&name));
        }
        let dir = t.path("p");
        let mut inv = personactl().arg("--dir").arg(&dir).arg("import");
        for f in &files {
            inv = inv.arg(f);
        }
        let run = inv.run();
        prop_assert!(matches!(run.code, Some(0 | 1)), "{}", run.stderr);
        let written = if dir.exists() { personas::discover(&dir).unwrap() } else { Vec::new() };
        if run.code == Some(0) {
            prop_assert_eq!(written.len(), files.len(), "{}", run.stdout);
        }
        if let Some(first) = written.first() {
            let id = personas::stem_id(first).unwrap();
            let v = personactl().arg("--dir").arg(&dir).args(["--default-persona", &id, "validate"]).run();
            prop_assert_eq!(v.code, Some(0), "{}\n{}\n{}", v.stdout, v.stderr, run.stderr);
        }
        // Cards come back with the fields they had.
        for (i, c) in cards.iter().enumerate() {
            let line = run.stdout.lines().find(|l| l.contains(&format!("c{i}.json ->")));
            let Some(line) = line else { continue };
            let path = line.rsplit(" -> ").next().unwrap();
            let id = personas::stem_id(std::path::Path::new(path)).unwrap();
            let out = personactl().arg("--dir").arg(&dir).args(["export", &id, "--to", "card-v3"]).run();
            prop_assert_eq!(out.code, Some(0));
            let back: Value = serde_json::from_str(&out.stdout).unwrap();
            let data = c.get("data").unwrap_or(c);
            for (k, v) in data.as_object().unwrap() {
                if k != "extensions" {
                    prop_assert_eq!(&back["data"][k], v, "data.{}", k);
                }
            }
            prop_assert_eq!(&back["data"]["extensions"]["x"], &Value::Null);
        }
    }
}
