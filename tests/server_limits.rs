//! The server's connection limits, against the real `personactl serve` over raw sockets:
//! what broke was that silent, slow and idle connections stayed open forever, and that a
//! client sending an oversized body before reading got a reset instead of the 413.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PERSONA: &str = "schema_version = 1\nname = \"Journal\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"p\"\n";

struct Server {
    child: Child,
    addr: String,
    _tmp: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("p");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("journaling-assistant.toml"), PERSONA).expect("write");
        let mut child = Command::new(env!("CARGO_BIN_EXE_personactl"))
            .arg("--dir")
            .arg(&dir)
            .arg("--sessions")
            .arg(tmp.path().join("sessions.jsonl"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("PERSONAS_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("a first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .expect("`listening on URL`")
            .to_owned();
        Server {
            child,
            addr,
            _tmp: tmp,
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .expect("read timeout");
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the server closes the connection (EOF or reset); returns what was read and
/// how long it took. Panics when the connection is still open after 120 s (a generous bound: the closing tests close in seconds).
fn until_closed(s: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the connection is still open after {:?}", started.elapsed())
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

const GET_HEALTH: &str = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

fn short() -> [&'static str; 6] {
    [
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--idle-timeout",
        "1",
    ]
}

#[test]
fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let server = Server::start(&short());
    let mut s = server.connect();
    let (got, took) = until_closed(&mut s);
    assert!(got.is_empty(), "nothing was asked, nothing answered: {got}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

#[test]
fn half_sent_headers_are_closed_after_the_header_timeout() {
    // A long idle timeout: only the header timeout can close it.
    let server = Server::start(&[
        "--header-timeout",
        "1",
        "--idle-timeout",
        "600",
        "--body-timeout",
        "600",
    ]);
    let mut s = server.connect();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .expect("write half the head");
    let (got, took) = until_closed(&mut s);
    assert!(!got.contains("200 OK"), "{got}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(&[
        "--header-timeout",
        "600",
        "--idle-timeout",
        "1",
        "--body-timeout",
        "600",
    ]);
    let mut s = server.connect();
    s.write_all(GET_HEALTH.as_bytes()).expect("write");
    let mut first = vec![0u8; 4096];
    let n = s.read(&mut first).expect("the answer");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    // Keep-alive: the connection stays for a next request, until the idle timeout.
    let (_, took) = until_closed(&mut s);
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

#[test]
fn a_promised_body_that_never_comes_gets_408_and_a_close() {
    let server = Server::start(&[
        "--header-timeout",
        "600",
        "--idle-timeout",
        "600",
        "--body-timeout",
        "1",
    ]);
    let mut s = server.connect();
    s.write_all(
        b"POST /api/personas HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\":",
    )
    .expect("write");
    let (got, took) = until_closed(&mut s);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

#[test]
fn an_oversized_body_sent_before_reading_gets_the_413() {
    let server = Server::start(&[]);
    let mut s = server.connect();
    let body = vec![b'x'; 3 * 1024 * 1024];
    let head = format!(
        "POST /api/personas HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    // Like Python's urllib: everything first, then read the answer.
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(&body).expect("the server reads the whole body");
    let (got, _) = until_closed(&mut s);
    assert!(got.starts_with("HTTP/1.1 413"), "got: {got:?}");
    assert!(got.contains("1 MiB"), "{got}");
}

#[test]
fn past_the_connection_limit_a_new_client_gets_503_and_healthz_answers_again_later() {
    let server = Server::start(&[
        "--max-connections",
        "3",
        "--idle-timeout",
        "2",
        "--header-timeout",
        "2",
    ]);
    let held: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut s = server.connect();
    s.write_all(GET_HEALTH.as_bytes()).expect("write");
    let (got, _) = until_closed(&mut s);
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("too many connections"), "{got}");
    // The silent ones are closed by the idle timeout: the server answers again.
    let started = Instant::now();
    loop {
        let mut s = server.connect();
        s.write_all(GET_HEALTH.as_bytes()).expect("write");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "healthz never answered again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(held);
}

/// One request on its own connection (`connection: close`): the status and the body.
fn request(server: &Server, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = server.connect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body.as_bytes()).expect("write body");
    let (got, _) = until_closed(&mut s);
    let status = got
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {got:?}"));
    let body = got.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn a_null_in_a_list_or_a_huge_integer_is_refused_not_silently_changed() {
    let server = Server::start(&[]);
    let file = server._tmp.path().join("p/journaling-assistant.toml");
    let before = std::fs::read_to_string(&file).expect("read");
    for (patch, pointer) in [
        (
            r#"{"extensions": {"list": [1, null, 2]}}"#,
            "/extensions/list/1",
        ),
        (
            r#"{"extensions": {"big": 18446744073709551615}}"#,
            "/extensions/big",
        ),
        (r#"{"tags": [null]}"#, "/tags/0"),
    ] {
        let (status, body) = request(
            &server,
            "PATCH",
            "/api/personas/journaling-assistant",
            patch,
        );
        assert_eq!(status, 422, "{patch}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("json error");
        let message = json["diagnostics"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(pointer), "{patch}: {body}");
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            before,
            "{patch}"
        );
    }
    let put = PERSONA_JSON.replace("\"p\"", "\"p\", \"extensions\": {\"n\": [null]}");
    let (status, body) = request(&server, "PUT", "/api/personas/journaling-assistant", &put);
    assert_eq!(status, 422, "{body}");
    let post = PERSONA_JSON.replace(
        "{",
        "{\"id\": \"fresh\", \"extensions\": {\"n\": 9223372036854775808},",
    );
    let (status, body) = request(&server, "POST", "/api/personas", &post);
    assert_eq!(status, 422, "{body}");
    assert!(!server._tmp.path().join("p/fresh.toml").exists());
    // What TOML can hold still goes through, unchanged.
    let (status, body) = request(
        &server,
        "PATCH",
        "/api/personas/journaling-assistant",
        r#"{"extensions": {"list": [1, 2], "big": 9223372036854775807}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let after = std::fs::read_to_string(&file).expect("read");
    assert!(after.contains("9223372036854775807"), "{after}");
}

const PERSONA_JSON: &str =
    r#"{"name": "Journal", "description": "d", "icon": "i", "system_prompt": "p"}"#;

#[test]
fn a_patch_bomb_of_placeholders_or_unknown_keys_gets_a_bounded_422() {
    let server = Server::start(&[]);
    let mut prompt = String::new();
    while prompt.len() < 900 * 1024 {
        prompt.push_str("{{x}}");
    }
    let mut keys = String::new();
    let mut i = 0;
    while keys.len() < 900 * 1024 {
        keys.push_str(&format!("\"unknown_{i}\": 1,"));
        i += 1;
    }
    for body in [
        format!(r#"{{"system_prompt": "{prompt}"}}"#),
        format!(r#"{{{keys} "name": "Journal"}}"#),
    ] {
        let started = Instant::now();
        let (status, answer) = request(
            &server,
            "PATCH",
            "/api/personas/journaling-assistant",
            &body,
        );
        assert_eq!(status, 422, "{}", &answer[..answer.len().min(500)]);
        assert!(
            answer.len() < 64 * 1024,
            "a bounded answer: {} bytes",
            answer.len()
        );
        let json: serde_json::Value = serde_json::from_str(&answer).expect("json");
        let diags = json["diagnostics"].as_array().expect("diagnostics");
        assert!(diags.len() <= 30, "{} diagnostics", diags.len());
        assert!(
            diags.iter().any(|d| d["message"]
                .as_str()
                .unwrap_or_default()
                .contains("more like it")),
            "{answer}"
        );
        // Generous: the point is minutes or a crash before, not a benchmark.
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{:?}",
            started.elapsed()
        );
    }
    // The server is still up.
    let (status, _) = request(&server, "GET", "/healthz", "");
    assert_eq!(status, 200);
}
