//! The real `personactl` binary over real files in temp dirs: validate, schema, init, list, show.

mod util;

use serde_json::Value;
use util::{TempTree, personactl};

const VALID: &str = include_str!("fixtures/valid/coach-minimal.toml");

/// The diagnostics of `validate --format json PATH` as (line, column, code) triples, plus the
/// whole document.
fn diagnostics(tree: &TempTree, path: &str) -> (Vec<(u64, u64, String)>, Value) {
    let run = personactl()
        .arg("validate")
        .arg("--format")
        .arg("json")
        .arg(tree.path(path))
        .run();
    let doc: Value = serde_json::from_str(&run.stdout).expect("validate --format json prints JSON");
    let triples = doc["diagnostics"]
        .as_array()
        .expect("diagnostics is an array")
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
                d["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    (triples, doc)
}

fn one_file(text: &str) -> (Vec<(u64, u64, String)>, Value) {
    let tree = TempTree::new().file("p/persona.toml", text);
    diagnostics(&tree, "p/persona.toml")
}

#[test]
fn shipped_personas_are_valid() {
    let run = personactl().args(["validate"]).run().success();
    assert!(
        run.stdout
            .ends_with("5 files checked, 0 errors in 0 files\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn valid_file_gives_exit_0_and_empty_json() {
    let tree = TempTree::new().file("p/coach.toml", VALID);
    let run = personactl()
        .args(["validate", "--format", "json"])
        .arg(tree.path("p"))
        .run()
        .success();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"ok": true, "files": 1, "diagnostics": []})
    );
}

#[test]
fn json_diagnostics_have_exactly_the_contract_keys() {
    let text = VALID.replace("icon = \"🧭\"\n", "");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(1, 1, "schema.required".to_owned())]);
    let d = &doc["diagnostics"][0];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "code", "column", "hint", "line", "message", "path", "severity"
        ]
    );
    assert_eq!(d["message"], "missing required key `icon`");
    assert_eq!(d["severity"], "error");
    assert_eq!(doc["ok"], false);
}

#[test]
fn syntax_error_is_one_diagnostic_at_the_bad_value() {
    let text = VALID.replace("icon = \"🧭\"", "icon = 🧭\"");
    let (found, _) = one_file(&text);
    assert_eq!(found, [(4, 8, "toml.syntax".to_owned())]);
}

#[test]
fn misspelt_key_is_one_diagnostic_with_a_hint() {
    let text = VALID.replace("system_prompt", "system_promt");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(5, 1, "schema.unknown-key".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["hint"],
        "did you mean `system_prompt`?"
    );
}

#[test]
fn misspelt_key_in_a_subtable_points_at_it() {
    let text = format!("{VALID}\n[model]\ntemprature = 0.5\n");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(10, 1, "schema.unknown-key".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "unknown key `model.temprature`"
    );
    assert_eq!(doc["diagnostics"][0]["hint"], "did you mean `temperature`?");
}

#[test]
fn out_of_range_number_speaks_the_users_language() {
    let text = format!("{VALID}\n[model]\ntemperature = 3.5\nmax_tokens = 0\n");
    let (found, doc) = one_file(&text);
    assert_eq!(
        found,
        [
            (10, 15, "schema.range".to_owned()),
            (11, 14, "schema.range".to_owned())
        ]
    );
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`model.temperature` 3.5 is above the maximum 2"
    );
    assert_eq!(
        doc["diagnostics"][1]["message"],
        "`model.max_tokens` 0 is below the minimum 1"
    );
}

#[test]
fn inline_table_values_are_located() {
    let text = format!("{VALID}model = {{ top_p = 1.5 }}\n");
    let (found, _) = one_file(&text);
    assert_eq!(found, [(8, 19, "schema.range".to_owned())]);
}

#[test]
fn wrong_type_names_both_types() {
    let text = VALID.replace(
        "icon = \"🧭\"",
        "icon = \"🧭\"\ntags = \"fitness\"\nhidden = \"yes\"",
    );
    let (found, doc) = one_file(&text);
    assert_eq!(
        found,
        [
            (5, 8, "schema.type".to_owned()),
            (6, 10, "schema.type".to_owned())
        ]
    );
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`tags` must be an array, found a string"
    );
    assert_eq!(
        doc["diagnostics"][1]["message"],
        "`hidden` must be a boolean (true or false), found a string"
    );
}

#[test]
fn empty_and_blank_strings_are_one_diagnostic_each() {
    let text = VALID
        .replace("name = \"Coach\"", "name = \"\"")
        .replace("Helps you reach a goal.", "   ");
    let (found, _) = one_file(&text);
    assert_eq!(
        found,
        [
            (2, 8, "schema.length".to_owned()),
            (3, 15, "schema.blank".to_owned())
        ]
    );
}

#[test]
fn list_limits_point_at_the_offending_item() {
    let long_tag = "x".repeat(33);
    let text = VALID.replace(
        "icon = \"🧭\"",
        &format!("icon = \"🧭\"\ntags = [\"a\", \"{long_tag}\"]\nstarters = [\"hi\", \"yo\", \"hi\"]\naliases = [\"Old_Name\"]"),
    );
    let (found, doc) = one_file(&text);
    assert_eq!(
        found,
        [
            (5, 14, "schema.length".to_owned()),
            (6, 25, "schema.unique".to_owned()),
            (7, 12, "schema.pattern".to_owned()),
        ]
    );
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`tags[1]` is 33 characters long; the maximum is 32"
    );
}

#[test]
fn too_many_items() {
    let tags: Vec<String> = (0..17).map(|i| format!("\"t{i}\"")).collect();
    let text = VALID.replace(
        "icon = \"🧭\"",
        &format!("icon = \"🧭\"\ntags = [{}]", tags.join(", ")),
    );
    let (found, _) = one_file(&text);
    assert_eq!(found, [(5, 8, "schema.items".to_owned())]);
}

#[test]
fn unsupported_schema_version() {
    let text = VALID.replace("name = \"Coach\"", "schema_version = 2\nname = \"Coach\"");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(2, 18, "schema.version".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "unsupported schema_version 2; this personactl reads version 1"
    );
}

#[test]
fn every_problem_in_a_file_is_reported() {
    let text =
        "name = \"\"\ndescripton = \"x\"\nicon = 5\nsystem_prompt = \"ok\"\n[model]\ntop_p = 2\n";
    let (found, _) = one_file(text);
    let codes: Vec<&str> = found.iter().map(|(_, _, c)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "schema.length",
            "schema.unknown-key",
            "schema.type",
            "schema.range"
        ]
    );
}

#[test]
fn id_key_must_match_the_file_name() {
    let tree = TempTree::new().file(
        "p/coach.toml",
        &VALID.replace("name =", "id = \"trainer\"\nname ="),
    );
    let (found, doc) = diagnostics(&tree, "p");
    assert_eq!(found, [(2, 6, "id.mismatch".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`id` is `trainer` but the file is named `coach.toml`"
    );
}

#[test]
fn file_names_must_be_ids() {
    let tree = TempTree::new().file("p/Bad_Name.toml", VALID);
    let (found, _) = diagnostics(&tree, "p");
    assert_eq!(found, [(1, 1, "id.invalid".to_owned())]);
}

#[test]
fn duplicate_ids_across_folders_name_both_files() {
    let tree = TempTree::new()
        .file("p/a/coach.toml", VALID)
        .file("p/b/coach.toml", VALID);
    let (found, doc) = diagnostics(&tree, "p");
    assert_eq!(found, [(1, 1, "id.duplicate".to_owned())]);
    let d = &doc["diagnostics"][0];
    assert!(d["path"].as_str().unwrap().ends_with("b/coach.toml"));
    assert!(
        d["message"].as_str().unwrap().contains("a/coach.toml"),
        "{d}"
    );
    personactl()
        .arg("validate")
        .arg(tree.path("p"))
        .run()
        .stdout_contains("note: first defined here");
}

#[test]
fn an_alias_may_not_be_another_personas_id() {
    let tree = TempTree::new().file("p/coach.toml", VALID).file(
        "p/trainer.toml",
        &VALID.replace("name =", "aliases = [\"coach\"]\nname ="),
    );
    let (found, doc) = diagnostics(&tree, "p");
    assert_eq!(found, [(2, 12, "id.duplicate".to_owned())]);
    assert!(
        doc["diagnostics"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("trainer.toml")
    );
}

#[test]
fn the_personas_directory_needs_the_default_persona() {
    let tree = TempTree::new().file("p/coach.toml", VALID);
    let run = personactl()
        .personas(tree.path("p"))
        .args(["validate", "--format", "json"])
        .run()
        .code(1);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["diagnostics"][0]["code"], "default.missing");
    // A different default that exists makes the directory valid.
    personactl()
        .personas(tree.path("p"))
        .args(["--default-persona", "coach", "validate"])
        .run()
        .success();
}

#[test]
fn non_utf8_file_points_at_the_bad_byte() {
    let tree = TempTree::new().bytes("p/x.toml", b"name = \"caf\xE9\"\n");
    let (found, _) = diagnostics(&tree, "p");
    assert_eq!(found, [(1, 12, "file.encoding".to_owned())]);
}

#[test]
fn empty_file_is_one_diagnostic() {
    let tree = TempTree::new().file("p/x.toml", "#:schema ../schema/persona.schema.json\n");
    let (found, _) = diagnostics(&tree, "p");
    assert_eq!(found, [(1, 1, "file.empty".to_owned())]);
}

#[test]
fn huge_file_is_refused_unread() {
    let big = format!("{VALID}# {}\n", "x".repeat(1024 * 1024));
    let tree = TempTree::new().file("p/x.toml", &big);
    let (found, _) = diagnostics(&tree, "p");
    assert_eq!(found, [(1, 1, "file.too-large".to_owned())]);
}

#[test]
fn deeply_nested_arrays_do_not_overflow_the_stack() {
    let deep = format!(
        "{VALID}deep = {}{}\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let tree = TempTree::new().file("p/x.toml", &deep);
    let (found, _) = diagnostics(&tree, "p");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].2, "toml.syntax");
}

#[test]
fn crlf_files_report_the_same_lines() {
    let text = format!("{VALID}\n[model]\ntemperature = 3.5\n").replace('\n', "\r\n");
    let (found, _) = one_file(&text);
    assert_eq!(found, [(10, 15, "schema.range".to_owned())]);
}

#[test]
fn hidden_and_non_toml_files_are_skipped() {
    let tree = TempTree::new()
        .file("p/coach.toml", VALID)
        .file("p/.hidden.toml", "broken = ")
        .file("p/.git/x.toml", "broken = ")
        .file("p/notes.md", "broken = ")
        .file("p/coach.toml~", "broken = ")
        .file("p/.coach.toml.swp", "broken = ");
    personactl()
        .args(["validate", "--format", "json"])
        .arg(tree.path("p"))
        .run()
        .success()
        .stdout_contains("\"files\":1");
}

#[test]
fn missing_paths_are_exit_2_with_a_clear_message() {
    let tree = TempTree::new();
    personactl()
        .personas(tree.path("nope"))
        .arg("validate")
        .run()
        .code(2)
        .stderr_contains("does not exist")
        .stderr_contains("personactl init");
    personactl()
        .arg("validate")
        .arg(tree.path("also-nope.toml"))
        .run()
        .code(2)
        .stderr_contains("no such file");
}

#[test]
fn usage_errors_are_exit_2() {
    personactl()
        .args(["validate", "--format", "xml"])
        .run()
        .code(2);
    personactl().args(["no-such-command"]).run().code(2);
}

#[test]
fn human_output_looks_like_a_compiler() {
    let text = format!("{VALID}\n[model]\ntemperature = 3.5\n");
    let tree = TempTree::new().file("p/coach.toml", &text);
    let run = personactl()
        .arg("validate")
        .arg(tree.path("p/coach.toml"))
        .run()
        .code(1);
    let path = tree.path("p/coach.toml");
    let expected = format!(
        "{}:10:15: error[schema.range]: `model.temperature` 3.5 is above the maximum 2\n   |\n10 | temperature = 3.5\n   |               ^^^\n\n1 file checked, 1 error in 1 file\n",
        path.display()
    );
    assert_eq!(run.stdout, expected);
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when not on a terminal"
    );
}

#[test]
fn github_format_is_workflow_commands() {
    let text = VALID.replace("system_prompt", "system_promt");
    let tree = TempTree::new().file("p/coach.toml", &text);
    let run = personactl()
        .args(["validate", "--format", "github"])
        .arg(tree.path("p"))
        .run()
        .code(1);
    let path = tree.path("p/coach.toml").display().to_string();
    assert_eq!(
        run.stdout,
        format!(
            "::error file={path},line=5,col=1,title=schema.unknown-key::unknown key `system_promt`%0Ahint: did you mean `system_prompt`?\n"
        )
    );
}

#[test]
fn sarif_format_is_sarif_2_1_0() {
    let text = VALID.replace("icon = \"🧭\"\n", "");
    let tree = TempTree::new().file("p/coach.toml", &text);
    let run = personactl()
        .args(["validate", "--format", "sarif"])
        .arg(tree.path("p"))
        .run()
        .code(1);
    let log: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "schema.required");
    assert_eq!(result["level"], "error");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(1), Some(1))
    );
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"][index]["id"],
        "schema.required"
    );
}

#[test]
fn schema_check_passes_on_the_repo_and_fails_on_drift() {
    personactl().args(["schema", "--check"]).run().success();
    let committed = std::fs::read_to_string("schema/persona.schema.json").unwrap();
    assert_eq!(personactl().arg("schema").run().stdout, committed);

    let tree = TempTree::new()
        .file("p/coach.toml", VALID)
        .file("schema/persona.schema.json", "{}\n");
    personactl()
        .personas(tree.path("p"))
        .args(["schema", "--check"])
        .run()
        .code(1);
    personactl()
        .personas(tree.path("p"))
        .args(["schema", "--write"])
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(tree.path("schema/persona.schema.json")).unwrap(),
        committed
    );
    personactl()
        .personas(tree.path("p"))
        .args(["schema", "--check"])
        .run()
        .success();
}

#[test]
fn init_writes_the_defaults_and_never_overwrites() {
    let tree = TempTree::new().file("team/personas/coach.toml", "# my own coach\n");
    let dir = tree.path("team/personas");
    personactl()
        .arg("init")
        .arg(&dir)
        .run()
        .success()
        .stdout_contains("skipped (exists)");
    assert_eq!(
        std::fs::read_to_string(dir.join("coach.toml")).unwrap(),
        "# my own coach\n"
    );
    for id in [
        "journaling-assistant",
        "story-teller",
        "therapist",
        "productivity-partner",
    ] {
        let written = std::fs::read_to_string(dir.join(format!("{id}.toml"))).unwrap();
        let shipped = std::fs::read_to_string(format!("personas/{id}.toml")).unwrap();
        assert_eq!(written, shipped);
    }
    assert!(tree.path("team/schema/persona.schema.json").exists());
    // A second run writes nothing.
    let again = personactl().arg("init").arg(&dir).run();
    assert!(!again.stdout.contains("created"), "{}", again.stdout);
}

#[test]
fn init_output_validates() {
    let tree = TempTree::new();
    personactl()
        .personas(tree.path("x/personas"))
        .arg("init")
        .run()
        .success();
    personactl()
        .personas(tree.path("x/personas"))
        .arg("validate")
        .run()
        .success();
}

#[test]
fn list_and_show() {
    let hidden = VALID.replace("name = \"Coach\"", "name = \"Base\"\nhidden = true");
    let tree = TempTree::new()
        .file(
            "p/coach.toml",
            &VALID.replace("name =", "aliases = [\"trainer\"]\nname ="),
        )
        .file("p/base.toml", &hidden)
        .file("p/broken.toml", "name = ");
    let dir = tree.path("p");
    let run = personactl()
        .personas(&dir)
        .args(["list", "--format", "json"])
        .run()
        .success();
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "coach");
    assert!(run.stderr.contains("personactl validate"), "{}", run.stderr);
    let all: Value = serde_json::from_str(
        &personactl()
            .personas(&dir)
            .args(["list", "--all", "--format", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let table = personactl().arg("--dir").arg(&dir).arg("list").run();
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains("coach"));

    let show = personactl()
        .personas(&dir)
        .args(["show", "coach"])
        .run()
        .success();
    assert!(
        show.stdout.starts_with("#:schema"),
        "the file as written: {}",
        show.stdout
    );
    let json: Value = serde_json::from_str(
        &personactl()
            .personas(&dir)
            .args(["show", "trainer", "--format", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["id"], "coach");
    assert_eq!(json["name"], "Coach");

    personactl()
        .personas(&dir)
        .args(["show", "nobody"])
        .run()
        .code(1)
        .stderr_contains("no persona `nobody`");
    personactl()
        .personas(&dir)
        .args(["show", "broken"])
        .run()
        .code(1)
        .stderr_contains("toml.syntax");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // 400 broken files make far more output than a pipe buffer holds.
    let mut tree = TempTree::new();
    for i in 0..400 {
        tree = tree.file(&format!("p/f{i}.toml"), "name = 1\n");
    }
    let mut child = personactl().arg("validate").arg(tree.path("p")).spawn();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn toml_types_the_schema_cannot_tell_apart() {
    let text = format!("{VALID}order = 9223372036854775808\n[model]\nmax_tokens = 512.0\n");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(8, 9, "schema.range".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`order` 9223372036854775808 is above the maximum 10000"
    );
    let text = format!("{VALID}[model]\nmax_tokens = 512.0\n");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(9, 14, "schema.type".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`model.max_tokens` must be an integer, found a float"
    );
    let text = format!("{VALID}[model]\ntemperature = nan\n");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(9, 15, "schema.type".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`model.temperature` must be a finite number, found nan"
    );
}

#[test]
fn array_of_tables_where_a_table_belongs() {
    let text = format!("{VALID}[[model]]\ntemperature = 1\n");
    let (found, doc) = one_file(&text);
    assert_eq!(found, [(8, 1, "schema.type".to_owned())]);
    assert_eq!(
        doc["diagnostics"][0]["message"],
        "`model` must be a table, found an array"
    );
}

/// Runs `program args… file` when the program is installed; `None` when it is not.
fn check_with(
    program: &str,
    args: &[&str],
    file: &std::path::Path,
) -> Option<std::process::Output> {
    std::process::Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .ok()
}

#[test]
fn completions_are_generated_and_parse() {
    let t = TempTree::new();
    for (shell, checker, args, needle) in [
        ("bash", "bash", &["-n"][..], "_personactl()"),
        ("zsh", "zsh", &["-n"][..], "#compdef personactl"),
        (
            "fish",
            "fish",
            &["--no-execute"][..],
            "complete -c personactl",
        ),
        (
            "powershell",
            "pwsh",
            &["-NoProfile", "-File"][..],
            "Register-ArgumentCompleter",
        ),
    ] {
        let run = personactl().args(["completions", shell]).run().success();
        assert!(
            run.stdout.contains(needle),
            "{shell}: {}",
            &run.stdout[..run.stdout.len().min(200)]
        );
        assert!(
            run.stdout.contains("validate") && run.stdout.contains("format"),
            "{shell} knows the subcommands"
        );
        let file = t.path(&format!("completion.{shell}"));
        std::fs::write(&file, &run.stdout).unwrap();
        if shell != "powershell" {
            if let Some(out) = check_with(checker, args, &file) {
                assert!(
                    out.status.success(),
                    "{checker} rejects the {shell} completion: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            } else {
                eprintln!(
                    "note: {checker} is not installed; the {shell} completion was checked for content only"
                );
            }
        }
    }
    personactl().args(["completions", "tcsh"]).run().code(2);
}

#[test]
fn man_page_is_roff_that_groff_accepts() {
    let run = personactl().arg("man").run().success();
    assert!(
        run.stdout.contains(".TH personactl 1"),
        "{}",
        &run.stdout[..200]
    );
    assert!(run.stdout.contains("validate"));
    let t = TempTree::new().file("personactl.1", &run.stdout);
    match check_with(
        "groff",
        &["-man", "-Tutf8", "-ww", "-z"],
        &t.path("personactl.1"),
    ) {
        Some(out) => {
            assert!(out.status.success());
            assert!(
                out.stderr.is_empty(),
                "groff warns: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => {
            eprintln!("note: groff is not installed; the man page was checked for content only")
        }
    }
}

#[test]
fn every_missing_key_of_a_table_is_reported() {
    let text = VALID
        .replace("icon = \"🧭\"\n", "")
        .replace("description = \"Helps you reach a goal.\"\n", "");
    let (found, doc) = one_file(&text);
    assert_eq!(
        found,
        [
            (1, 1, "schema.required".to_owned()),
            (1, 1, "schema.required".to_owned())
        ]
    );
    let mut messages: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    messages.sort_unstable();
    assert_eq!(
        messages,
        [
            "missing required key `description`",
            "missing required key `icon`"
        ]
    );
}

mod never_panics {
    use proptest::prelude::*;
    use std::path::Path;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Arbitrary text, and mutations of a valid file, give diagnostics or a persona:
        /// never a panic, and every diagnostic has a 1-based position.
        #[test]
        fn validation_of_any_text(text in ".{0,400}", cut in 0usize..400, insert in ".{0,8}") {
            let checked = personas::check_text(Path::new("p/x.toml"), &text);
            prop_assert!(checked.diagnostics.iter().all(|d| d.line >= 1 && d.column >= 1));
            let mut valid = super::VALID.to_owned();
            let at = (0..=cut.min(valid.len())).rev().find(|i| valid.is_char_boundary(*i)).unwrap_or(0);
            valid.insert_str(at, &insert);
            let checked = personas::check_text(Path::new("p/coach.toml"), &valid);
            prop_assert!(checked.persona.is_some() || !checked.diagnostics.is_empty());
        }

        /// Imports of arbitrary content, and of mangled cards and agent files: an error or a
        /// persona, never a panic.
        #[test]
        fn import_of_anything(text in ".{0,300}", cut in 0usize..2000) {
            let _ = personas::import(text.as_bytes());
            for prefix in ["{\"spec\":\"chara_card_v2\",\"spec_version\":\"2.0\",\"data\":", "---\nname: x\n", "\u{89}PNG\r\n\u{1a}\n"] {
                let _ = personas::import(format!("{prefix}{text}").as_bytes());
            }
            let card = include_str!("fixtures/interop/lighthouse-keeper.card.json");
            let at = (0..=cut.min(card.len())).rev().find(|i| card.is_char_boundary(*i)).unwrap_or(0);
            let _ = personas::import(&card.as_bytes()[..at]);
        }

        /// Random bytes (mostly not UTF-8) through the whole CLI path: a clear diagnostic.
        #[test]
        fn any_bytes_in_a_file(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.toml");
            std::fs::write(&path, &bytes).unwrap();
            let checked = personas::check_file(&path);
            prop_assert!(checked.persona.is_some() || !checked.diagnostics.is_empty());
        }
    }
}
