//! A small LSP client for tests and benchmarks: runs the real `personactl lsp` and talks to it
//! over its stdin/stdout with `lsp-server`'s message framing and `lsp-types`' messages.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use lsp_server::{Message, Notification, Request, RequestId};
use lsp_types::notification::Notification as _;
use lsp_types::{
    ClientCapabilities, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, GeneralClientCapabilities, InitializeParams, InitializeResult,
    Position, PositionEncodingKind, PublishDiagnosticsParams, Range,
    TextDocumentContentChangeEvent, TextDocumentIdentifier, TextDocumentItem, Uri,
    VersionedTextDocumentIdentifier, WorkspaceFolder,
};

/// How long any single wait for the server lasts before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The `file://` URI of a path.
pub fn uri(path: &Path) -> Uri {
    url::Url::from_file_path(path)
        .expect("an absolute path")
        .as_str()
        .parse()
        .expect("a file URL is a URI")
}

/// The path of a `file://` URI.
pub fn path_of(uri: &Uri) -> PathBuf {
    url::Url::parse(uri.as_str())
        .expect("a URL")
        .to_file_path()
        .expect("a file URL")
}

/// A running `personactl lsp` and what it has published.
pub struct Client {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    rx: Receiver<Message>,
    next_id: i32,
    /// The latest diagnostics published for each URI, and the version they were for.
    pub diagnostics: HashMap<Uri, (Option<i32>, Vec<lsp_types::Diagnostic>)>,
    /// Every publish received, in order: (URI, version, how many diagnostics).
    pub publishes: Vec<(Uri, Option<i32>, usize)>,
    versions: HashMap<Uri, i32>,
}

impl Client {
    /// Starts `personactl [args] lsp` in `cwd` with a clean environment.
    pub fn start(bin: &Path, cwd: &Path, args: &[&str]) -> Client {
        let mut child = Command::new(bin)
            .args(args)
            .arg("lsp")
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("personactl lsp starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = BufWriter::new(child.stdin.take().expect("stdin is piped"));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Ok(Some(msg)) = Message::read(&mut reader) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            rx,
            next_id: 0,
            diagnostics: HashMap::new(),
            publishes: Vec::new(),
            versions: HashMap::new(),
        }
    }

    /// `initialize` + `initialized` with `root` as the workspace folder, offering the given
    /// position encodings (none: the UTF-16 default).
    pub fn initialize(&mut self, root: Option<&Path>, encodings: &[&str]) -> InitializeResult {
        let params = InitializeParams {
            workspace_folders: root.map(|r| {
                vec![WorkspaceFolder {
                    uri: uri(r),
                    name: "test".into(),
                }]
            }),
            capabilities: ClientCapabilities {
                general: (!encodings.is_empty()).then(|| GeneralClientCapabilities {
                    position_encodings: Some(
                        encodings
                            .iter()
                            .map(|e| PositionEncodingKind::from((*e).to_owned()))
                            .collect(),
                    ),
                    ..GeneralClientCapabilities::default()
                }),
                ..ClientCapabilities::default()
            },
            ..InitializeParams::default()
        };
        let result = self.request::<lsp_types::request::Initialize>(params);
        self.notify::<lsp_types::notification::Initialized>(lsp_types::InitializedParams {});
        result
    }

    /// Sends a request and waits for its answer (recording notifications meanwhile).
    pub fn request<R: lsp_types::request::Request>(&mut self, params: R::Params) -> R::Result {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Request::new(id.clone(), R::METHOD.to_owned(), params).into());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.recv(deadline) {
                Message::Response(r) if r.id == id => {
                    let value = match r.response_result {
                        Ok(v) => v,
                        Err(e) => panic!("{} failed: {e:?}", R::METHOD),
                    };
                    return serde_json::from_value(value).expect("a well-formed result");
                }
                other => self.record(other),
            }
        }
    }

    /// Sends a raw request and returns the whole response (for error answers).
    pub fn raw_request(&mut self, method: &str, params: serde_json::Value) -> lsp_server::Response {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Request::new(id.clone(), method.to_owned(), params).into());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.recv(deadline) {
                Message::Response(r) if r.id == id => return r,
                other => self.record(other),
            }
        }
    }

    /// Sends a notification.
    pub fn notify<N: lsp_types::notification::Notification>(&mut self, params: N::Params) {
        self.send(Notification::new(N::METHOD.to_owned(), params).into());
    }

    fn send(&mut self, msg: Message) {
        msg.write(&mut self.stdin).expect("write to the server");
        self.stdin.flush().expect("flush to the server");
    }

    fn recv(&mut self, deadline: Instant) -> Message {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => panic!("the server did not answer in {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
        }
    }

    fn record(&mut self, msg: Message) {
        if let Message::Notification(n) = msg
            && n.method == lsp_types::notification::PublishDiagnostics::METHOD
        {
            let p: PublishDiagnosticsParams =
                serde_json::from_value(n.params).expect("well-formed diagnostics");
            self.publishes
                .push((p.uri.clone(), p.version, p.diagnostics.len()));
            self.diagnostics.insert(p.uri, (p.version, p.diagnostics));
        }
    }

    /// Waits for a publish for `uri` that satisfies `done`; returns its diagnostics.
    pub fn wait_for(
        &mut self,
        uri: &Uri,
        done: impl Fn(Option<i32>, &[lsp_types::Diagnostic]) -> bool,
    ) -> Vec<lsp_types::Diagnostic> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.recv(deadline);
            let is_target = matches!(&msg, Message::Notification(n)
                if n.method == lsp_types::notification::PublishDiagnostics::METHOD
                && n.params["uri"].as_str() == Some(uri.as_str()));
            self.record(msg);
            if is_target {
                let (version, diags) = &self.diagnostics[uri];
                if done(*version, diags) {
                    return diags.clone();
                }
            }
        }
    }

    /// Waits for the publish of `uri` at its current version (the server publishes the edited
    /// buffer last, so every other file's publish of that check has arrived too).
    pub fn settle(&mut self, uri: &Uri) -> Vec<lsp_types::Diagnostic> {
        let v = self.versions.get(uri).copied();
        if let Some((version, diags)) = self.diagnostics.get(uri)
            && *version == v
        {
            return diags.clone();
        }
        self.wait_for(uri, |version, _| version == v)
    }

    /// Opens a buffer.
    pub fn open(&mut self, path: &Path, text: &str) -> Uri {
        let u = uri(path);
        self.versions.insert(u.clone(), 1);
        self.notify::<lsp_types::notification::DidOpenTextDocument>(DidOpenTextDocumentParams {
            text_document: TextDocumentItem {
                uri: u.clone(),
                language_id: "toml".into(),
                version: 1,
                text: text.to_owned(),
            },
        });
        u
    }

    /// Replaces `range` of an open buffer with `text` (the whole buffer when `range` is None).
    pub fn change(&mut self, uri: &Uri, range: Option<Range>, text: &str) {
        let v = self.versions.entry(uri.clone()).or_insert(0);
        *v += 1;
        let version = *v;
        self.notify::<lsp_types::notification::DidChangeTextDocument>(
            DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier {
                    uri: uri.clone(),
                    version,
                },
                content_changes: vec![TextDocumentContentChangeEvent {
                    range,
                    range_length: None,
                    text: text.to_owned(),
                }],
            },
        );
    }

    /// Closes a buffer.
    pub fn close(&mut self, uri: &Uri) {
        self.versions.remove(uri);
        self.notify::<lsp_types::notification::DidCloseTextDocument>(DidCloseTextDocumentParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
        });
    }

    /// A text document position.
    pub fn at(uri: &Uri, line: u32, character: u32) -> lsp_types::TextDocumentPositionParams {
        lsp_types::TextDocumentPositionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            position: Position::new(line, character),
        }
    }

    /// `shutdown` then `exit`; returns how the process ended.
    pub fn shutdown(mut self) -> ExitStatus {
        self.request::<lsp_types::request::Shutdown>(());
        self.notify::<lsp_types::notification::Exit>(());
        self.wait_exit()
    }

    /// Waits for the process to end (at most [`TIMEOUT`]).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
