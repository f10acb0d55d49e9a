//! `personactl lsp` end to end: the real binary over stdio, driven by a client built on
//! `lsp-server`'s framing and `lsp-types`' messages. Diagnostics are compared field by field
//! with `personactl validate --format json` on the same files, so the two cannot drift.

mod lsp_client;
mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lsp_client::{Client, path_of, uri};
use lsp_types::request::{CodeActionRequest, Completion, GotoDefinition, HoverRequest};
use lsp_types::{
    CodeActionContext, CodeActionOrCommand, CodeActionParams, CompletionParams, CompletionResponse,
    DiagnosticSeverity, GotoDefinitionParams, GotoDefinitionResponse, HoverContents, HoverParams,
    NumberOrString, Position, Range, TextDocumentIdentifier,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_personactl");

/// A temp dir holding a copy of `tests/fixtures/lsp/NAME` (its `personas/` folder inside).
fn fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lsp")
        .join(name);
    copy_dir(&src, tmp.path());
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture");
        }
    }
}

/// Starts the server with `root` as the workspace folder (it finds `root/personas`).
fn start(root: &Path) -> Client {
    let mut c = Client::start(Path::new(BIN), root, &[]);
    c.initialize(Some(root), &[]);
    c
}

/// The UTF-16 position of a 1-based line and 1-based character column in `text`.
fn utf16(text: &str, line: usize, column: usize) -> Position {
    let l = text.split('\n').nth(line - 1).unwrap_or("");
    let col: usize = l
        .trim_end_matches('\r')
        .chars()
        .take(column - 1)
        .map(char::len_utf16)
        .sum();
    Position::new((line - 1) as u32, col as u32)
}

/// The UTF-16 position of the `nth` occurrence of `needle` in `text`, plus `plus` characters.
fn pos_of(text: &str, needle: &str, plus: usize) -> Position {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` in the text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1
        + plus;
    utf16(text, line, column)
}

/// `personactl validate --format json` of the directory.
fn validate_json(dir: &Path) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["validate", "--format", "json", "--dir"])
        .arg(dir)
        .env_clear()
        .output()
        .expect("validate runs");
    let report: Value = serde_json::from_slice(&out.stdout).expect("validate prints JSON");
    report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .clone()
}

/// Asserts that the latest diagnostics the client holds for every file equal what
/// `validate --format json` reports for the directory, field by field.
fn assert_same_as_validate(client: &Client, dir: &Path) {
    let mut expected: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    for d in validate_json(dir) {
        expected
            .entry(PathBuf::from(d["path"].as_str().expect("path")))
            .or_default()
            .push(d);
    }
    assert!(!expected.is_empty() || client.diagnostics.values().all(|(_, d)| d.is_empty()));
    for (path, want) in &expected {
        let got = client
            .diagnostics
            .get(&uri(path))
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no diagnostics published for {}", path.display()));
        let text = if path.is_file() {
            String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned()
        } else {
            String::new()
        };
        assert_eq!(
            got.len(),
            want.len(),
            "{}: {got:#?}\nvs\n{want:#?}",
            path.display()
        );
        for (g, w) in got.iter().zip(want) {
            let start = if path.is_file() {
                utf16(
                    &text,
                    w["line"].as_u64().unwrap() as usize,
                    w["column"].as_u64().unwrap() as usize,
                )
            } else {
                Position::new(0, 0)
            };
            let context = format!("{}: {g:?} vs {w}", path.display());
            assert_eq!(g.range.start, start, "{context}");
            assert_eq!(
                g.code,
                Some(NumberOrString::String(
                    w["code"].as_str().unwrap().to_owned()
                )),
                "{context}"
            );
            let severity = match w["severity"].as_str() {
                Some("error") => DiagnosticSeverity::ERROR,
                _ => DiagnosticSeverity::WARNING,
            };
            assert_eq!(g.severity, Some(severity), "{context}");
            let message = match w["hint"].as_str() {
                Some(hint) => format!("{}\nhint: {hint}", w["message"].as_str().unwrap()),
                None => w["message"].as_str().unwrap().to_owned(),
            };
            assert_eq!(g.message, message, "{context}");
            assert_eq!(g.source.as_deref(), Some("personactl"));
        }
    }
    for (u, (_, diags)) in &client.diagnostics {
        assert!(
            diags.is_empty() || expected.contains_key(&path_of(u)),
            "{} has diagnostics validate does not report: {diags:?}",
            u.as_str()
        );
    }
}

#[test]
fn diagnostics_equal_validate_json_for_every_broken_fixture() {
    let tmp = fixture("broken");
    let dir = tmp.path().join("personas");
    let mut c = start(tmp.path());
    // Opening a file (as it is on disk) makes the server check again and publish it last:
    // every publish of the start-up check has arrived before it.
    let emoji = dir.join("emoji.toml");
    let u = c.open(&emoji, &std::fs::read_to_string(&emoji).unwrap());
    c.settle(&u);
    assert_same_as_validate(&c, &dir);
    // Cross-file and family checks are among them.
    let codes: Vec<String> = c
        .diagnostics
        .values()
        .flat_map(|(_, d)| {
            d.iter().filter_map(|d| match &d.code {
                Some(NumberOrString::String(s)) => Some(s.clone()),
                _ => None,
            })
        })
        .collect();
    for code in [
        "id.duplicate",
        "extends.cycle",
        "extends.missing",
        "extends.invalid-parent",
        "default.missing",
        "file.encoding",
        "vars.undeclared",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} in {codes:?}");
    }
    assert!(c.shutdown().success());
}

#[test]
fn a_utf16_column_after_an_emoji() {
    let tmp = fixture("broken");
    let emoji = tmp.path().join("personas/emoji.toml");
    let text = std::fs::read_to_string(&emoji).unwrap();
    // `{{missing_var}}` is the 27th character of line 5, after two emoji (2 UTF-16 units each).
    for (encodings, character) in [
        (&[][..], 28),
        (&["utf-8", "utf-16"][..], 32),
        (&["utf-32"][..], 26),
    ] {
        let mut c = Client::start(Path::new(BIN), tmp.path(), &[]);
        let init = c.initialize(Some(tmp.path()), encodings);
        let expected = encodings.first().copied().unwrap_or("utf-16");
        assert_eq!(
            init.capabilities
                .position_encoding
                .map(|k| k.as_str().to_owned())
                .as_deref(),
            Some(expected)
        );
        let u = c.open(&emoji, &text);
        let diags = c.settle(&u);
        let d = diags
            .iter()
            .find(|d| d.message.starts_with("undeclared variable `missing_var`"))
            .expect("the diagnostic");
        assert_eq!(d.range.start, Position::new(4, character), "{encodings:?}");
        // The range covers `{{missing_var}}`: 15 characters, all ASCII.
        assert_eq!(
            d.range.end,
            Position::new(4, character + 15),
            "{encodings:?}"
        );
        assert!(c.shutdown().success());
    }
}

#[test]
fn open_change_save_close_and_a_child_whose_parent_broke() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let base = dir.join("base.toml");
    let coach = uri(&dir.join("coach.toml"));
    let text = std::fs::read_to_string(&base).unwrap();
    let mut c = start(tmp.path());
    let u = c.open(&base, &text);
    assert!(c.settle(&u).is_empty());
    // Break the parent: `name` removed (an incremental edit of line 2).
    c.change(
        &u,
        Some(Range::new(Position::new(1, 0), Position::new(2, 0))),
        "",
    );
    let diags = c.settle(&u);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].message.starts_with("missing required key `name`"));
    let (_, child) = &c.diagnostics[&coach];
    assert_eq!(child.len(), 1);
    assert!(
        child[0]
            .message
            .starts_with("`extends`: the parent persona `base` is invalid"),
        "{child:?}"
    );
    assert_same_as_validate_with(
        &mut c,
        &dir,
        &[(&base, &text.replacen("name = \"Base\"\n", "", 1))],
    );
    // Fix it again (whole-text change): the child is cleared with an empty list.
    c.change(&u, None, &text);
    assert!(c.settle(&u).is_empty());
    assert!(
        c.diagnostics[&coach].1.is_empty(),
        "the child's diagnostics are cleared"
    );
    // didSave changes nothing; didClose brings the file on disk back.
    c.notify::<lsp_types::notification::DidSaveTextDocument>(
        lsp_types::DidSaveTextDocumentParams {
            text_document: TextDocumentIdentifier { uri: u.clone() },
            text: None,
        },
    );
    c.change(&u, None, "name = 1\n");
    assert!(!c.settle(&u).is_empty());
    c.close(&u);
    c.wait_for(&u, |_, d| d.is_empty());
    c.wait_for(&coach, |_, d| d.is_empty());
    assert!(c.shutdown().success());
}

/// Writes `files` to disk, then compares (the buffers hold the same texts).
fn assert_same_as_validate_with(c: &mut Client, dir: &Path, files: &[(&Path, &str)]) {
    let saved: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|(p, _)| (p.to_path_buf(), std::fs::read(p).unwrap_or_default()))
        .collect();
    for (p, t) in files {
        std::fs::write(p, t).unwrap();
    }
    assert_same_as_validate(c, dir);
    for (p, bytes) in saved {
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn a_new_duplicate_id_republishes_the_other_file() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let coach = uri(&dir.join("coach.toml"));
    let mut c = start(tmp.path());
    // An unsaved buffer in a folder that sorts first: it keeps the id, `coach.toml` is the
    // duplicate.
    let new = dir.join("a/coach.toml");
    let u = c.open(
        &new,
        "name = \"A\"\ndescription = \"d\"\nicon = \"x\"\nsystem_prompt = \"p\"\n",
    );
    assert!(c.settle(&u).is_empty());
    let (_, dup) = &c.diagnostics[&coach];
    assert_eq!(dup.len(), 1, "{dup:?}");
    assert!(dup[0].message.starts_with(&format!(
        "duplicate id `coach`: also defined by {}",
        new.display()
    )));
    let related = dup[0]
        .related_information
        .as_ref()
        .expect("the first definition");
    assert_eq!(related[0].location.uri, u);
    c.close(&u);
    c.wait_for(&coach, |_, d| d.is_empty());
    assert!(c.shutdown().success());
}

#[test]
fn a_default_persona_whose_family_is_broken_is_missing_as_validate_says() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let default = dir.join("journaling-assistant.toml");
    let text = format!(
        "extends = \"nobody\"\n{}",
        std::fs::read_to_string(&default).unwrap()
    );
    let mut c = start(tmp.path());
    let u = c.open(&default, &text);
    let diags = c.settle(&u);
    assert!(
        diags
            .iter()
            .any(|d| d.code == Some(NumberOrString::String("extends.missing".into()))),
        "{diags:?}"
    );
    // The file defines the id, but no persona comes of it: the default does not exist.
    let (_, on_dir) = &c.diagnostics[&uri(&dir)];
    assert_eq!(
        on_dir[0].code,
        Some(NumberOrString::String("default.missing".into())),
        "{on_dir:?}"
    );
    assert_same_as_validate_with(&mut c, &dir, &[(&default, &text)]);
    assert!(c.shutdown().success());
}

#[test]
fn a_keystroke_republishes_only_the_files_whose_diagnostics_changed() {
    let tmp = fixture("broken");
    let dir = tmp.path().join("personas");
    let typo = dir.join("typo.toml");
    let text = std::fs::read_to_string(&typo).unwrap();
    let mut c = start(tmp.path());
    let u = c.open(&typo, &text);
    c.settle(&u);
    let others_with_diagnostics = c
        .diagnostics
        .iter()
        .filter(|(k, (_, d))| **k != u && !d.is_empty())
        .count();
    assert!(
        others_with_diagnostics > 5,
        "the fixture is broken in many files"
    );
    let mark = c.publishes.len();
    // A comment at the end changes no diagnostic of any file.
    let end = Position::new(text.lines().count() as u32, 0);
    c.change(&u, Some(Range::new(end, end)), "# a note\n");
    c.settle(&u);
    let sent: Vec<&lsp_types::Uri> = c.publishes[mark..].iter().map(|(u, _, _)| u).collect();
    assert_eq!(sent, vec![&u], "only the edited buffer is published again");
    assert!(c.shutdown().success());
}

#[test]
fn edits_on_disk_buffer_wins_when_open_and_republished_when_not() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let base = dir.join("base.toml");
    let coach = dir.join("coach.toml");
    let text = std::fs::read_to_string(&base).unwrap();
    let mut c = start(tmp.path());
    let u = c.open(&base, &text);
    assert!(c.settle(&u).is_empty());
    // Not open: an edit on disk is picked up by the watcher and published.
    // Written beside it and renamed over it: a plain write truncates first, and the watcher
    // may check the empty file in between.
    let tmp_coach = dir.join(".coach.toml.tmp");
    std::fs::write(&tmp_coach, "extends = \"base\"\nbogus = 1\n").unwrap();
    std::fs::rename(&tmp_coach, &coach).unwrap();
    let d = c.wait_for(&uri(&coach), |_, d| !d.is_empty());
    assert!(d[0].message.starts_with("unknown key `bogus`"), "{d:?}");
    // Open: the buffer wins over the disk (nothing is published for the file on disk's
    // content), and after a change the buffer's text is what is checked.
    std::fs::write(&base, "broken = \n").unwrap();
    std::fs::write(&coach, "extends = \"base\"\n").unwrap();
    let cleared = c.wait_for(&uri(&coach), |_, d| d.is_empty());
    assert!(cleared.is_empty());
    c.change(
        &u,
        Some(Range::new(Position::new(0, 0), Position::new(0, 0))),
        "# a comment\n",
    );
    assert!(
        c.settle(&u).is_empty(),
        "the buffer, not the broken file on disk, is checked"
    );
    // Closed: the file on disk counts again.
    c.close(&u);
    let d = c.wait_for(&u, |_, d| !d.is_empty());
    assert!(d[0].message.starts_with("invalid TOML"), "{d:?}");
    assert!(c.shutdown().success());
}

fn completion_labels(c: &mut Client, u: &lsp_types::Uri, at: Position) -> Vec<String> {
    let r = c.request::<Completion>(CompletionParams {
        text_document_position: lsp_types::TextDocumentPositionParams {
            text_document: TextDocumentIdentifier { uri: u.clone() },
            position: at,
        },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
        context: None,
    });
    match r {
        Some(CompletionResponse::Array(items)) => items.into_iter().map(|i| i.label).collect(),
        Some(CompletionResponse::List(l)) => l.items.into_iter().map(|i| i.label).collect(),
        None => Vec::new(),
    }
}

#[test]
fn completion_of_keys_ids_and_variables() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let coach = dir.join("coach.toml");
    let text = std::fs::read_to_string(&coach).unwrap();
    let mut c = start(tmp.path());
    // A new line at the top level: keys not yet present, with the schema's documentation.
    let edited = text.replacen("name = \"Coach\"\n", "name = \"Coach\"\nic\n", 1);
    let u = c.open(&coach, &edited);
    c.settle(&u);
    let at = pos_of(&edited, "ic\n", 2);
    let r = c.request::<Completion>(CompletionParams {
        text_document_position: Client::at(&u, at.line, at.character),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
        context: None,
    });
    let Some(CompletionResponse::Array(items)) = r else {
        panic!("items")
    };
    let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
    assert!(
        labels.contains(&"icon") && labels.contains(&"greeting") && labels.contains(&"tags"),
        "{labels:?}"
    );
    for present in [
        "name",
        "extends",
        "description",
        "system_prompt",
        "vars",
        "model",
    ] {
        assert!(
            !labels.contains(&present),
            "{present} is offered: {labels:?}"
        );
    }
    let icon = items.iter().find(|i| i.label == "icon").unwrap();
    let doc = serde_json::to_string(&icon.documentation).unwrap();
    let schema_doc = personas::persona_schema()["properties"]["icon"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        doc.contains(&serde_json::to_string(&schema_doc).unwrap()[1..20]),
        "{doc}"
    );
    // In `[model]`: the model settings.
    let model = format!("{edited}\n[model]\ntemperature = 0.5\n\n");
    c.change(&u, None, &model);
    c.settle(&u);
    let end = pos_of(&model, "temperature = 0.5\n\n", 0);
    let at = Position::new(end.line + 1, 0);
    let labels = completion_labels(&mut c, &u, at);
    assert_eq!(
        labels,
        [
            "max_prompt_tokens",
            "max_tokens",
            "name",
            "tokenizer",
            "top_p"
        ]
    );
    // The keys of models and tokens come with their documentation from the schema.
    let r = c.request::<Completion>(CompletionParams {
        text_document_position: Client::at(&u, at.line, at.character),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
        context: None,
    });
    let Some(CompletionResponse::Array(items)) = r else {
        panic!("items")
    };
    let schema = personas::persona_schema();
    let reference = schema["properties"]["model"]["$ref"]
        .as_str()
        .expect("`model` refers to its definition");
    let settings = &schema["$defs"][reference.trim_start_matches("#/$defs/")]["properties"];
    for key in ["name", "tokenizer", "max_prompt_tokens"] {
        let item = items.iter().find(|i| i.label == key).expect("offered");
        let doc = serde_json::to_string(&item.documentation).unwrap();
        let schema_doc = settings[key]["description"]
            .as_str()
            .unwrap_or_else(|| panic!("`model.{key}` has a description in the schema"));
        assert!(
            doc.contains(&serde_json::to_string(schema_doc).unwrap()[1..20]),
            "{key}: {doc}"
        );
    }
    // In `[vars]`: variables the prompts use but do not declare, and `user_name`.
    let vars = text.replacen("{{ level }}", "{{ level }} {{ pace }}", 1) + "\n";
    c.change(&u, None, &vars);
    c.settle(&u);
    let end = Position::new(vars.lines().count() as u32, 0);
    assert_eq!(completion_labels(&mut c, &u, end), ["pace", "user_name"]);
    // Inside `extends = "…"`: the other personas' ids.
    c.change(&u, None, &text);
    c.settle(&u);
    let at = pos_of(&text, "base\"", 0);
    assert_eq!(
        completion_labels(&mut c, &u, at),
        ["base", "journaling-assistant"]
    );
    // After `{{`: own, inherited, built-in variables, and `parent` (this persona extends).
    let typed = text.replacen("{{parent}}\n", "{{parent}}\n{{\n", 1);
    c.change(&u, None, &typed);
    c.settle(&u);
    let at = pos_of(&typed, "{{\n", 2);
    assert_eq!(
        completion_labels(&mut c, &u, at),
        [
            "level",
            "tone",
            "focus",
            "persona_name",
            "date",
            "user_name",
            "parent"
        ]
    );
    // In `aliases = [...]`: ids some file extends but no file defines (a renamed persona's
    // old id).
    let orphan = dir.join("orphan.toml");
    let o = c.open(&orphan, "extends = \"old-coach\"\n");
    c.settle(&o);
    let aliased = text.replacen(
        "name = \"Coach\"\n",
        "name = \"Coach\"\naliases = [\"\"]\n",
        1,
    );
    c.change(&u, None, &aliased);
    c.settle(&u);
    let at = pos_of(&aliased, "\"\"]", 1);
    assert_eq!(completion_labels(&mut c, &u, at), ["old-coach"]);
    assert!(c.shutdown().success());
}

fn hover_text(c: &mut Client, u: &lsp_types::Uri, at: Position) -> String {
    let h = c.request::<HoverRequest>(HoverParams {
        text_document_position_params: lsp_types::TextDocumentPositionParams {
            text_document: TextDocumentIdentifier { uri: u.clone() },
            position: at,
        },
        work_done_progress_params: Default::default(),
    });
    match h.map(|h| h.contents) {
        Some(HoverContents::Markup(m)) => m.value,
        other => panic!("a markdown hover, got {other:?}"),
    }
}

#[test]
fn hover_on_keys_extends_and_the_prompt() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let coach = dir.join("coach.toml");
    let text = std::fs::read_to_string(&coach).unwrap();
    let mut c = start(tmp.path());
    let u = c.open(&coach, &text);
    c.settle(&u);
    let doc = hover_text(&mut c, &u, pos_of(&text, "name =", 1));
    let schema_doc = personas::persona_schema()["properties"]["name"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(doc, format!("**name**\n\n{schema_doc}"));
    let parent = hover_text(&mut c, &u, pos_of(&text, "\"base\"", 2));
    assert_eq!(
        parent,
        format!(
            "🧱 **Base** (`base`)\n\nThe shared voice of every coach.\n\nfile: `{}`",
            dir.join("base.toml").display()
        )
    );
    let prompt = hover_text(&mut c, &u, pos_of(&text, "system_prompt", 3));
    let date = Command::new(BIN)
        .args(["render", "coach", "--dir"])
        .arg(&dir)
        .env_clear()
        .output()
        .unwrap();
    let rendered = String::from_utf8(date.stdout).unwrap();
    assert!(
        prompt.contains("You are Coach. Speak in a calm voice.\nToday is "),
        "{prompt}"
    );
    assert!(
        prompt.contains("🧭 Focus on habits and gentle."),
        "{prompt}"
    );
    assert!(
        rendered.contains("Focus on habits and gentle."),
        "render agrees: {rendered}"
    );
    // The token count is the one `show --format json` gives.
    let show = Command::new(BIN)
        .args(["show", "coach", "--format", "json", "--dir"])
        .arg(&dir)
        .env_clear()
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let tokens = &shown["tokens"];
    assert!(
        prompt.contains(&format!(
            "**Tokens**: {} ({})",
            tokens["system_prompt"],
            tokens["tokenizer"].as_str().unwrap()
        )),
        "{prompt}\n{shown}"
    );
    let var = hover_text(&mut c, &u, pos_of(&text, "focus}}", 1));
    assert!(
        var.starts_with("`{{focus}}`: [vars] of base.toml: default \"habits\""),
        "{var}"
    );
    assert!(c.shutdown().success());
}

#[test]
fn definition_of_extends_and_variables() {
    let tmp = fixture("family");
    let dir = tmp.path().join("personas");
    let coach = dir.join("coach.toml");
    let base = dir.join("base.toml");
    let text = std::fs::read_to_string(&coach).unwrap();
    let base_text = std::fs::read_to_string(&base).unwrap();
    let mut c = start(tmp.path());
    let u = c.open(&coach, &text);
    c.settle(&u);
    let goto = |c: &mut Client, at: Position| {
        let r = c.request::<GotoDefinition>(GotoDefinitionParams {
            text_document_position_params: lsp_types::TextDocumentPositionParams {
                text_document: TextDocumentIdentifier { uri: u.clone() },
                position: at,
            },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        });
        match r {
            Some(GotoDefinitionResponse::Scalar(l)) => Some(l),
            None => None,
            other => panic!("one location, got {other:?}"),
        }
    };
    let l = goto(&mut c, pos_of(&text, "\"base\"", 3)).expect("the parent");
    assert_eq!((l.uri, l.range.start), (uri(&base), Position::new(0, 0)));
    // Own variable: the `[vars]` entry in this file.
    let l = goto(&mut c, pos_of(&text, "level }}", 2)).expect("own var");
    assert_eq!(l.uri, u);
    assert_eq!(
        l.range,
        Range::new(pos_of(&text, "level = ", 0), pos_of(&text, "level = ", 5))
    );
    // Inherited: the ancestor's entry (after the emoji on the line: UTF-16 columns).
    let l = goto(&mut c, pos_of(&text, "focus}}", 0)).expect("inherited var");
    assert_eq!(l.uri, uri(&base));
    assert_eq!(l.range.start, pos_of(&base_text, "focus = ", 0));
    // A built-in has no declaration.
    assert!(goto(&mut c, Position::new(0, 0)).is_none());
    assert!(c.shutdown().success());
}

#[test]
fn code_actions_did_you_mean_and_the_schema_line() {
    let tmp = fixture("broken");
    let dir = tmp.path().join("personas");
    let typo = dir.join("typo.toml");
    let text = std::fs::read_to_string(&typo).unwrap().replacen(
        "#:schema ../schema/persona.schema.json\n",
        "",
        1,
    );
    let mut c = start(tmp.path());
    let u = c.open(&typo, &text);
    let diags = c.settle(&u);
    let at = pos_of(&text, "temprature", 2);
    let actions = c
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: u.clone() },
            range: Range::new(at, at),
            context: CodeActionContext {
                diagnostics: diags.clone(),
                only: None,
                trigger_kind: None,
            },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .expect("actions");
    let actions: Vec<_> = actions
        .into_iter()
        .map(|a| match a {
            CodeActionOrCommand::CodeAction(a) => a,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(actions.len(), 2, "{actions:#?}");
    let fix = &actions[0];
    assert_eq!(fix.title, "Replace with `temperature`");
    let edits = &fix.edit.as_ref().unwrap().changes.as_ref().unwrap()[&u];
    assert_eq!(edits[0].new_text, "temperature");
    assert_eq!(
        edits[0].range,
        Range::new(
            pos_of(&text, "temprature", 0),
            pos_of(&text, "temprature", 10)
        )
    );
    let header = &actions[1].edit.as_ref().unwrap().changes.as_ref().unwrap()[&u][0];
    assert_eq!(header.new_text, "#:schema ../schema/persona.schema.json\n");
    assert_eq!(
        header.range,
        Range::new(Position::new(0, 0), Position::new(0, 0))
    );
    // Applying the fix clears that diagnostic.
    let fixed = text.replacen("temprature", "temperature", 1);
    c.change(&u, None, &fixed);
    let after = c.settle(&u);
    assert_eq!(after.len(), diags.len() - 1);
    assert!(c.shutdown().success());
}

#[test]
fn shutdown_exits_zero_and_exit_without_shutdown_exits_one() {
    let tmp = fixture("family");
    let c = start(tmp.path());
    assert!(c.shutdown().success());
    let mut c = start(tmp.path());
    // An unknown request gets an error answer, not a crash.
    let r = c.raw_request("textDocument/formatting", serde_json::json!({}));
    assert!(r.response_result.is_err());
    let r = c.raw_request("textDocument/hover", serde_json::json!({"nonsense": true}));
    assert!(r.response_result.is_err());
    c.notify::<lsp_types::notification::Exit>(());
    assert_eq!(c.wait_exit().code(), Some(1));
}

#[test]
fn an_explicit_dir_wins_over_the_workspace_folder() {
    let tmp = fixture("broken");
    let family = fixture("family");
    let dir = family.path().join("personas");
    let mut c = Client::start(
        Path::new(BIN),
        tmp.path(),
        &["--dir", dir.to_str().unwrap()],
    );
    c.initialize(Some(tmp.path()), &[]);
    let base = dir.join("base.toml");
    let u = c.open(&base, "name = 1\n");
    assert!(!c.settle(&u).is_empty(), "files of --dir are checked");
    let other = tmp.path().join("personas/typo.toml");
    let o = c.open(&other, "name = 1\n");
    c.open(&base, "name = 2\n");
    c.settle(&u);
    assert!(
        !c.diagnostics.contains_key(&o),
        "files outside --dir are not"
    );
    assert!(c.shutdown().success());
}

mod random_edits {
    use super::*;
    use proptest::prelude::*;

    /// Characters that make TOML and placeholders interesting, and a non-BMP one.
    const PIECES: &[&str] = &[
        "a",
        "_",
        "=",
        " ",
        "\"",
        "'",
        "\n",
        "{{",
        "}}",
        "[",
        "]",
        "#",
        "🧭",
        "é",
        "\"\"\"",
        "name",
        "extends = \"base\"\n",
        "[vars]\n",
        "\\",
    ];

    fn utf16_pos(text: &str, char_index: usize) -> Position {
        let before: String = text.chars().take(char_index).collect();
        let line = before.matches('\n').count();
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        Position::new(line as u32, before[start..].encode_utf16().count() as u32)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn random_edits_end_where_a_fresh_validate_does(
            edits in prop::collection::vec((0usize..3, any::<prop::sample::Index>(), 0usize..6, prop::collection::vec(prop::sample::select(PIECES), 0..4)), 1..25)
        ) {
            let tmp = fixture("family");
            let dir = tmp.path().join("personas");
            let paths = [dir.join("base.toml"), dir.join("coach.toml"), dir.join("new.toml")];
            let mut texts: Vec<String> = paths.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect();
            let mut c = start(tmp.path());
            let uris: Vec<_> = paths.iter().zip(&texts).map(|(p, t)| c.open(p, t)).collect();
            for (file, at, len, insert) in edits {
                let text = &texts[file];
                let chars = text.chars().count();
                let a = at.index(chars + 1);
                let b = (a + len).min(chars);
                let range = Range::new(utf16_pos(text, a), utf16_pos(text, b));
                let insert: String = insert.concat();
                let new: String = text.chars().take(a).chain(insert.chars()).chain(text.chars().skip(b)).collect();
                c.change(&uris[file], Some(range), &insert);
                texts[file] = new;
            }
            for u in &uris {
                c.settle(u);
            }
            for (p, t) in paths.iter().zip(&texts) {
                std::fs::write(p, t).unwrap();
            }
            assert_same_as_validate(&c, &dir);
            prop_assert!(c.shutdown().success());
        }
    }
}
