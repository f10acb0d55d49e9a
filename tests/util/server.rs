//! A running `personactl serve` and a real HTTP client for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use serde_json::Value;

use super::cmd::Cmd;
use super::events::terminate;

/// A `personactl serve` started from `cmd` (which names `serve --addr 127.0.0.1:0` and what
/// else it needs), ready once it printed `listening on URL`; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts the server and waits for its `listening on` line.
    pub fn spawn(cmd: Cmd) -> Self {
        let mut child = cmd
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout was piped just above"))
            .read_line(&mut line)
            .expect("a first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("`listening on URL`, got {line:?}"))
            .to_owned();
        Server { child, base }
    }

    /// Sends `method path` with a JSON body and a bearer token when given; the status and the
    /// body as JSON (`null` when it is not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => with_auth(agent.get(&url), auth.as_deref()).call(),
            ("DELETE", _) => with_auth(agent.delete(&url), auth.as_deref()).call(),
            ("POST", Some(b)) => with_auth(agent.post(&url), auth.as_deref())
                .content_type("application/json")
                .send(b),
            ("PUT", Some(b)) => with_auth(agent.put(&url), auth.as_deref())
                .content_type("application/json")
                .send(b),
            ("PATCH", Some(b)) => with_auth(agent.patch(&url), auth.as_deref())
                .content_type("application/json")
                .send(b),
            other => panic!("unsupported call {other:?}"),
        }
        .expect("the server answers");
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, None)
    }

    /// The status line of a request sent byte for byte (no client-side path normalisation).
    pub fn raw_status(&self, method: &str, target: &str) -> u16 {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect");
        write!(stream, "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Stops the server with SIGTERM and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        terminate(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<&str>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(a) => request.header("Authorization", a),
        None => request,
    }
}
