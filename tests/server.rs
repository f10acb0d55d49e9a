//! The real `personactl serve` on 127.0.0.1:0, driven by a real HTTP client (and raw sockets
//! for paths a client would normalise).

mod util;

use std::path::PathBuf;

use serde_json::{Value, json};
use util::{TempTree, eventually, personactl};

const COACH: &str = include_str!("fixtures/valid/coach-commented.toml");

/// A running server over a temp personas directory; killed on drop.
struct Server {
    http: util::Server,
    tree: TempTree,
}

impl std::ops::Deref for Server {
    type Target = util::Server;

    fn deref(&self) -> &util::Server {
        &self.http
    }
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let tree = TempTree::new()
            .file("p/coach.toml", COACH)
            .file(
                "p/journaling-assistant.toml",
                &COACH.replace("Coach", "Journal"),
            )
            .file(
                "p/base.toml",
                &COACH.replace("name = \"Coach\"", "name = \"Base\"\nhidden = true"),
            );
        Self::start_in(tree, extra)
    }

    fn start_in(tree: TempTree, extra: &[&str]) -> Self {
        let http = util::Server::spawn(
            personactl()
                .personas(tree.path("p"))
                .arg("--sessions")
                .arg(tree.path("sessions.jsonl"))
                .args(["serve", "--addr", "127.0.0.1:0"])
                .args(extra),
        );
        Server { http, tree }
    }

    fn dir(&self) -> PathBuf {
        self.tree.path("p")
    }

    /// Stops the server with SIGTERM and returns its exit code.
    fn stop(self) -> Option<i32> {
        self.http.stop()
    }

    /// Polls `f` until it returns true (10 s at most).
    fn eventually(&self, what: &str, f: impl FnMut() -> bool) {
        eventually(what, f)
    }
}

fn new_persona(id: &str) -> String {
    json!({"id": id, "name": "Bot", "description": "A test bot.", "icon": "🤖", "system_prompt": "You are a bot.\nBe brief.\n"}).to_string()
}

#[test]
fn reads_list_get_schema_openapi_health() {
    let s = Server::start(&[]);
    let (status, list) = s.get("/api/personas");
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["coach", "journaling-assistant"],
        "hidden personas are not listed"
    );
    let (_, all) = s.get("/api/personas?all=true");
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (status, coach) = s.get("/api/personas/coach");
    assert_eq!(status, 200);
    assert_eq!(coach["name"], "Coach");
    assert_eq!(coach["id"], "coach");
    assert_eq!(coach["revision"].as_str().unwrap().len(), 16);
    assert_eq!(s.get("/api/personas/nobody").0, 404);
    let (status, schema) = s.get("/api/schema");
    assert_eq!(status, 200);
    assert_eq!(schema, personas::persona_schema());
    let (status, doc) = s.get("/api/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/personas/{id}"]["put"].is_object());
    let (status, health) = s.get("/healthz");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["reload_successful"], true);
    assert_eq!(s.get("/no/such/endpoint").0, 404);
}

#[test]
fn create_replace_patch_delete_with_their_status_codes() {
    let s = Server::start(&[]);
    let (status, created) = s.call("POST", "/api/personas", Some(&new_persona("bot")), None);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "bot");
    let file = std::fs::read_to_string(s.dir().join("bot.toml")).unwrap();
    assert!(
        file.starts_with("#:schema ../schema/persona.schema.json\n"),
        "{file}"
    );
    assert!(
        file.contains("system_prompt = \"\"\"\nYou are a bot.\nBe brief.\n\"\"\""),
        "{file}"
    );
    assert_eq!(
        s.get("/api/personas/bot").0,
        200,
        "a client reads its own write"
    );

    assert_eq!(
        s.call("POST", "/api/personas", Some(&new_persona("bot")), None)
            .0,
        409
    );
    assert_eq!(
        s.call("POST", "/api/personas", Some("{\"id\": "), None).0,
        400
    );
    assert_eq!(s.call("POST", "/api/personas", Some("[1, 2]"), None).0, 422);
    let (status, body) = s.call(
        "POST",
        "/api/personas",
        Some(&json!({"id": "x", "name": "X"}).to_string()),
        None,
    );
    assert_eq!(status, 422);
    assert_eq!(body["diagnostics"][0]["code"], "schema.required");
    let huge = json!({"id": "big", "name": "B", "description": "d", "icon": "i", "system_prompt": "x".repeat(1_100_000)});
    assert_eq!(
        s.call("POST", "/api/personas", Some(&huge.to_string()), None)
            .0,
        413
    );

    let mut replaced: Value = serde_json::from_str(&new_persona("bot")).unwrap();
    replaced["name"] = json!("Robot");
    let (status, body) = s.call(
        "PUT",
        "/api/personas/bot",
        Some(&replaced.to_string()),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Robot");
    replaced.as_object_mut().unwrap().remove("id");
    assert_eq!(
        s.call(
            "PUT",
            "/api/personas/nobody",
            Some(&replaced.to_string()),
            None
        )
        .0,
        404
    );
    let (status, body) = s.call(
        "PATCH",
        "/api/personas/bot",
        Some(r#"{"model": {"temperature": 3}}"#),
        None,
    );
    assert_eq!(status, 422);
    assert_eq!(body["diagnostics"][0]["code"], "schema.range");
    assert_eq!(
        body["diagnostics"][0]["message"],
        "`model.temperature` 3 is above the maximum 2"
    );
    let (status, body) = s.call(
        "PATCH",
        "/api/personas/bot",
        Some(r#"{"greeting": "Hi!"}"#),
        None,
    );
    assert_eq!((status, &body["greeting"]), (200, &json!("Hi!")));
    let stale = json!({"revision": "0000000000000000", "greeting": "Hello"}).to_string();
    assert_eq!(
        s.call("PATCH", "/api/personas/bot", Some(&stale), None).0,
        409
    );

    assert_eq!(s.call("DELETE", "/api/personas/bot", None, None).0, 204);
    assert_eq!(s.get("/api/personas/bot").0, 404);
    assert_eq!(s.call("DELETE", "/api/personas/bot", None, None).0, 404);
    assert!(!s.dir().join("bot.toml").exists());
}

#[test]
fn a_comment_survives_a_put() {
    let s = Server::start(&[]);
    let (_, mut coach) = s.get("/api/personas/coach");
    coach["description"] = json!("Helps you reach a goal, one step at a time.");
    let (status, _) = s.call("PUT", "/api/personas/coach", Some(&coach.to_string()), None);
    assert_eq!(status, 200);
    let file = std::fs::read_to_string(s.dir().join("coach.toml")).unwrap();
    assert!(
        file.contains("# Reviewed by the wellbeing team: keep this comment."),
        "{file}"
    );
    assert!(
        file.contains("temperature = 0.6 # warm but focused"),
        "{file}"
    );
    assert!(file.contains("one step at a time"));
}

#[test]
fn writes_need_the_token_when_one_is_set() {
    let s = Server::start(&["--token", "s3cret"]);
    let body = new_persona("bot");
    assert_eq!(s.call("POST", "/api/personas", Some(&body), None).0, 401);
    assert_eq!(
        s.call("POST", "/api/personas", Some(&body), Some("wrong"))
            .0,
        403
    );
    assert_eq!(
        s.call("DELETE", "/api/personas/coach", None, Some("s3cre"))
            .0,
        403
    );
    assert_eq!(
        s.call(
            "PUT",
            "/api/sessions/s1/persona",
            Some(r#"{"persona":"coach"}"#),
            None
        )
        .0,
        401
    );
    assert_eq!(
        s.call("POST", "/api/personas", Some(&body), Some("s3cret"))
            .0,
        201
    );
    assert_eq!(s.get("/api/personas/coach").0, 200, "reads need no token");
    assert!(s.dir().join("coach.toml").exists());
}

#[test]
fn no_request_names_a_path_outside_the_directory() {
    let s = Server::start(&[]);
    std::fs::write(s.tree.path("secret.toml"), COACH).unwrap();
    for target in [
        "/api/personas/..",
        "/api/personas/%2e%2e",
        "/api/personas/..%2Fsecret",
        "/api/personas/..%2F..%2Fetc%2Fpasswd",
        "/api/personas/%2Fetc%2Fpasswd",
        "/api/personas/coach%00",
        "/api/personas/Coach",
    ] {
        for method in ["GET", "PUT", "PATCH", "DELETE"] {
            let status = s.raw_status(method, target);
            assert!(
                status == 404 || status == 400,
                "{method} {target} gave {status}"
            );
        }
    }
    let body = json!({"id": "../secret", "name": "X", "description": "d", "icon": "i", "system_prompt": "p"}).to_string();
    assert_eq!(s.call("POST", "/api/personas", Some(&body), None).0, 422);
    assert!(s.tree.path("secret.toml").exists(), "untouched");
    for session in ["a%00b", "a%0Ab", &"x".repeat(257)] {
        assert_eq!(
            s.raw_status("GET", &format!("/api/sessions/{session}/persona")),
            400,
            "{session}"
        );
    }
}

#[test]
fn concurrent_creates_of_distinct_and_identical_ids() {
    let s = Server::start(&[]);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    s.call("POST", "/api/personas", Some(&new_persona("same")), None)
                        .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&c| c == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 409).count(),
        7,
        "{statuses:?}"
    );
    std::thread::scope(|scope| {
        for i in 0..8 {
            let s = &s;
            scope.spawn(move || {
                assert_eq!(
                    s.call(
                        "POST",
                        "/api/personas",
                        Some(&new_persona(&format!("p-{i}"))),
                        None
                    )
                    .0,
                    201
                )
            });
        }
    });
    let (_, list) = s.get("/api/personas");
    assert_eq!(list.as_array().unwrap().len(), 2 + 9);
}

#[test]
fn edits_on_disk_show_up_and_a_broken_file_keeps_its_last_good_version() {
    let s = Server::start(&[]);
    let path = s.dir().join("coach.toml");
    std::fs::write(
        &path,
        COACH.replace("Helps you reach a goal.", "Edited in git."),
    )
    .unwrap();
    eventually("the edit is served", || {
        s.get("/api/personas/coach").1["description"] == "Edited in git."
    });
    std::fs::write(&path, "name = \"broken").unwrap();
    eventually("health reports the broken file", || {
        s.get("/healthz").1["status"] == "degraded"
    });
    let (status, coach) = s.get("/api/personas/coach");
    assert_eq!(status, 200);
    assert_eq!(coach["description"], "Edited in git.", "last good version");
    assert_eq!(s.get("/healthz").1["errors"][0]["code"], "toml.syntax");
}

#[test]
fn sessions_are_shared_with_the_cli() {
    let s = Server::start(&[]);
    let (status, body) = s.call(
        "PUT",
        "/api/sessions/chat-1/persona",
        Some(r#"{"persona":"coach"}"#),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolved"], "coach");
    personactl()
        .personas(s.dir())
        .arg("--sessions")
        .arg(s.tree.path("sessions.jsonl"))
        .args(["session", "show", "chat-1", "--format", "json"])
        .run()
        .success()
        .stdout_contains("\"resolved\":\"coach\"");
    personactl()
        .personas(s.dir())
        .arg("--sessions")
        .arg(s.tree.path("sessions.jsonl"))
        .args(["session", "link", "chat-2", "coach"])
        .run()
        .success();
    let (status, body) = s.get("/api/sessions/chat-2/persona");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "session": "chat-2", "persona": "coach", "resolved": "coach", "fallback": false,
            "revision": body["revision"], "linked_revision": body["revision"], "changed": false,
            "via_alias": false, "linked_at": body["linked_at"]
        })
    );
    let (_, legacy) = s.get("/api/sessions/legacy/persona");
    assert_eq!(
        (
            legacy["persona"].clone(),
            legacy["resolved"].clone(),
            legacy["fallback"].clone()
        ),
        (Value::Null, json!("journaling-assistant"), json!(true))
    );
    assert_eq!(
        s.call(
            "PUT",
            "/api/sessions/chat-3/persona",
            Some(r#"{"persona":"nobody"}"#),
            None
        )
        .0,
        422
    );
    assert_eq!(
        s.call("DELETE", "/api/sessions/chat-1/persona", None, None)
            .0,
        204
    );
    assert_eq!(
        s.call("DELETE", "/api/sessions/chat-1/persona", None, None)
            .0,
        404
    );
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/healthz").0, 200);
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn a_missing_directory_is_exit_2() {
    let t = TempTree::new();
    personactl()
        .personas(t.path("nope"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .run()
        .code(2)
        .stderr_contains("does not exist");
}

#[test]
fn concurrent_patches_carrying_one_revision_have_exactly_one_winner() {
    let s = Server::start(&[]);
    let (_, coach) = s.get("/api/personas/coach");
    let revision = coach["revision"].as_str().expect("a revision").to_owned();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let body =
                    format!(r#"{{"revision": "{revision}", "description": "Edit number {i}."}}"#);
                let s = &s;
                scope.spawn(move || s.call("PATCH", "/api/personas/coach", Some(&body), None).0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 409).count(),
        9,
        "{statuses:?}"
    );
}

#[test]
fn delete_of_the_default_persona_is_refused_and_healthz_degrades_without_it() {
    let s = Server::start(&[]);
    let (status, body) = s.call("DELETE", "/api/personas/journaling-assistant", None, None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("default persona"),
        "{body}"
    );
    assert!(s.dir().join("journaling-assistant.toml").exists());
    let (_, health) = s.get("/healthz");
    assert_eq!(health["status"], "ok", "{health}");
    // Removed behind the server's back: /healthz says what validate would.
    std::fs::remove_file(s.dir().join("journaling-assistant.toml")).expect("rm");
    s.eventually("healthz degraded", || {
        let (_, health) = s.get("/healthz");
        health["status"] == "degraded"
            && health["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|d| d["code"] == "default.missing"))
    });
}

#[test]
fn writes_racing_a_delete_are_never_a_server_error() {
    let s = Server::start(&[]);
    for round in 0..15 {
        let id = format!("racer-{round}");
        assert_eq!(
            s.call("POST", "/api/personas", Some(&new_persona(&id)), None)
                .0,
            201
        );
        let path = format!("/api/personas/{id}");
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let s = &s;
            let (path, id) = (&path, &id);
            let writers: Vec<_> = (0..3)
                .map(|i| {
                    scope.spawn(move || {
                        let body = format!(r#"{{"description": "Race {i}."}}"#);
                        match i {
                            0 => s.call("PATCH", path, Some(&body), None).0,
                            1 => s.call("PUT", path, Some(&new_persona(id)), None).0,
                            _ => {
                                s.call("POST", "/api/personas", Some(&new_persona(id)), None)
                                    .0
                            }
                        }
                    })
                })
                .collect();
            let deleter = scope.spawn(move || s.call("DELETE", path, None, None).0);
            let mut all: Vec<u16> = writers.into_iter().map(|h| h.join().unwrap()).collect();
            all.push(deleter.join().unwrap());
            all
        });
        assert!(
            statuses.iter().all(|&c| c < 500),
            "round {round}: {statuses:?}"
        );
    }
}
