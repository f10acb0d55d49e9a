//! The server loop: the LSP handshake, then one thread handling the editor's messages and the
//! file watcher's events in arrival order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, select};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, GotoDefinition, HoverRequest, Request as _,
};
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionParams, CodeActionProviderCapability,
    CompletionOptions, CompletionParams, CompletionResponse, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    GotoDefinitionParams, GotoDefinitionResponse, HoverParams, HoverProviderCapability,
    InitializeParams, OneOf, PublishDiagnosticsParams, SaveOptions, ServerCapabilities, ServerInfo,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::positions::{Encoding, offset_of};
use super::workspace::{Workspace, path_to_uri, uri_to_path};
use super::{LspError, LspOptions, actions, completion, definition, diagnostics, hover};

/// Runs the language server on standard input and output until the client shuts it down.
///
/// # Errors
///
/// [`LspError`] when the handshake fails, standard I/O fails, or the client exits without
/// `shutdown`.
pub fn serve_stdio(options: LspOptions) -> Result<(), LspError> {
    let (connection, io_threads) = Connection::stdio();
    let result = run(&connection, options);
    drop(connection);
    io_threads.join()?;
    result
}

fn run(conn: &Connection, options: LspOptions) -> Result<(), LspError> {
    let (id, params) = conn.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params)
        .map_err(|e| LspError::Protocol(format!("initialize: {e}")))?;
    let enc = Encoding::negotiate(
        params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_deref()),
    );
    let dir = options.dir.unwrap_or_else(|| workspace_dir(&params));
    let result = serde_json::json!({
        "capabilities": capabilities(enc),
        "serverInfo": ServerInfo { name: "personactl".into(), version: Some(env!("CARGO_PKG_VERSION").into()) },
    });
    conn.initialize_finish(id, result)?;

    let (fs_tx, fs_rx) = crossbeam_channel::unbounded();
    let mut server = Server {
        conn,
        ws: Workspace::load(dir, options.default_persona),
        enc,
        published: HashMap::new(),
    };
    let _watcher = match watch(&server.ws.dir, fs_tx) {
        Ok(w) => Some(w),
        Err(e) => {
            server.log(&format!(
                "personactl lsp: not watching {} for changes outside the editor: {e}",
                server.ws.dir.display()
            ));
            None
        }
    };
    server.ws.analyze();
    server.publish(None);
    loop {
        select! {
            recv(conn.receiver) -> msg => {
                let Ok(msg) = msg else { return Ok(()) };
                if server.handle(msg)? {
                    return Ok(());
                }
            }
            recv(fs_rx) -> event => {
                if let Ok(event) = event {
                    server.on_disk_change(event, &fs_rx);
                }
            }
        }
    }
}

/// The personas directory of a workspace: `<root>/personas` when it exists, else the root
/// (the first workspace folder, else the root URI, else the current directory).
fn workspace_dir(params: &InitializeParams) -> PathBuf {
    #[allow(deprecated)] // `root_uri` is what clients without workspace folders still send.
    let root = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| &f.uri)
        .or(params.root_uri.as_ref())
        .and_then(uri_to_path)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let personas = root.join("personas");
    if personas.is_dir() { personas } else { root }
}

fn capabilities(enc: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(enc.kind()),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
                ..TextDocumentSyncOptions::default()
            },
        )),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["{".into(), "\"".into(), "[".into()]),
            ..CompletionOptions::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, CodeActionKind::SOURCE]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

/// Watches the directory (recursively) for changes made outside the editor.
fn watch(
    dir: &Path,
    tx: crossbeam_channel::Sender<notify::Result<notify::Event>>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let mut watcher = notify::recommended_watcher(move |event| {
        // The loop may have ended: then nobody needs the event.
        let _ = tx.send(event);
    })?;
    watcher.watch(dir, notify::RecursiveMode::Recursive)?;
    Ok(watcher)
}

struct Server<'c> {
    conn: &'c Connection,
    ws: Workspace,
    enc: Encoding,
    /// What each file was last published with (files with none are left out).
    published: HashMap<PathBuf, Vec<lsp_types::Diagnostic>>,
}

impl Server<'_> {
    /// Handles one message; `true` once the client has shut the server down.
    fn handle(&mut self, msg: Message) -> Result<bool, LspError> {
        match msg {
            Message::Request(req) => {
                if self.conn.handle_shutdown(&req)? {
                    return Ok(true);
                }
                let response = self.request(req);
                self.send(response.into());
            }
            Message::Notification(n) if n.method == "exit" => {
                return Err(LspError::ExitWithoutShutdown);
            }
            Message::Notification(n) => self.notification(n),
            Message::Response(_) => {}
        }
        Ok(false)
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            Completion::METHOD => self.with::<CompletionParams, _>(req.params, |s, p| {
                let (path, offset) = s.locate(&p.text_document_position)?;
                Some(CompletionResponse::Array(completion::complete(
                    &s.ws, &path, offset, s.enc,
                )))
            }),
            HoverRequest::METHOD => self.with::<HoverParams, _>(req.params, |s, p| {
                let (path, offset) = s.locate(&p.text_document_position_params)?;
                hover::hover(&s.ws, &path, offset, s.enc)
            }),
            GotoDefinition::METHOD => self.with::<GotoDefinitionParams, _>(req.params, |s, p| {
                let (path, offset) = s.locate(&p.text_document_position_params)?;
                definition::definition(&s.ws, &path, offset, s.enc)
                    .map(GotoDefinitionResponse::Scalar)
            }),
            CodeActionRequest::METHOD => self.with::<CodeActionParams, _>(req.params, |s, p| {
                let path = uri_to_path(&p.text_document.uri).filter(|p| s.ws.is_member(p))?;
                Some(actions::actions(&s.ws, &path, p.range, s.enc))
            }),
            _ => {
                return Response::new_err(
                    id,
                    ErrorCode::MethodNotFound as i32,
                    format!("unsupported request `{}`", req.method),
                );
            }
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err(message) => Response::new_err(id, ErrorCode::InvalidParams as i32, message),
        }
    }

    /// Parses a request's parameters and answers with `f` (`null` when it has nothing).
    fn with<P: DeserializeOwned, R: serde::Serialize>(
        &self,
        params: Value,
        f: impl FnOnce(&Self, P) -> Option<R>,
    ) -> Result<Value, String> {
        let params: P =
            serde_json::from_value(params).map_err(|e| format!("invalid parameters: {e}"))?;
        Ok(f(self, params).map_or(Value::Null, |r| {
            serde_json::to_value(r).unwrap_or(Value::Null)
        }))
    }

    /// The file and byte offset of a position, for a file of the personas directory.
    fn locate(&self, at: &TextDocumentPositionParams) -> Option<(PathBuf, usize)> {
        let path = uri_to_path(&at.text_document.uri).filter(|p| self.ws.is_member(p))?;
        let offset = offset_of(self.ws.text(&path)?, at.position, self.enc);
        Some((path, offset))
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return;
                };
                self.ws
                    .open(path.clone(), p.text_document.text, p.text_document.version);
                if self.ws.is_member(&path) {
                    self.ws.analyze();
                    self.publish(Some(&path));
                }
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return;
                };
                let Some(doc) = self.ws.doc(&path) else {
                    return;
                };
                let mut text = doc.text.to_string();
                for change in p.content_changes {
                    match change.range {
                        Some(range) => {
                            let a = offset_of(&text, range.start, self.enc);
                            let b = offset_of(&text, range.end, self.enc);
                            text.replace_range(a.min(b)..a.max(b), &change.text);
                        }
                        None => text = change.text,
                    }
                }
                self.ws.set_text(&path, text, p.text_document.version);
                if self.ws.is_member(&path) {
                    self.ws.analyze();
                    self.publish(Some(&path));
                }
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return;
                };
                self.ws.close(&path);
                if self.ws.is_member(&path) {
                    self.ws.analyze();
                    self.publish(None);
                }
            }
            DidChangeWatchedFiles::METHOD => {
                // Clients that watch files themselves may send these too: same as our watcher.
                let Ok(p) = serde_json::from_value::<DidChangeWatchedFilesParams>(n.params) else {
                    return;
                };
                let paths: Vec<PathBuf> = p
                    .changes
                    .iter()
                    .filter_map(|c| uri_to_path(&c.uri))
                    .collect();
                if self.apply_disk_changes(&paths, false) {
                    self.ws.analyze();
                    self.publish(None);
                }
            }
            // `initialized`, `didSave` (the buffer already holds the saved text),
            // `$/cancelRequest` (requests are answered at once) and others need nothing.
            _ => {}
        }
    }

    /// A burst of file system events: re-read what changed, re-check, publish.
    fn on_disk_change(
        &mut self,
        first: notify::Result<notify::Event>,
        rx: &Receiver<notify::Result<notify::Event>>,
    ) {
        let mut rescan = false;
        let mut paths = Vec::new();
        for event in std::iter::once(first).chain(rx.try_iter()) {
            match event {
                Ok(e) if !e.need_rescan() => paths.extend(e.paths),
                // An overflow or a watcher error: re-read everything.
                _ => rescan = true,
            }
        }
        if self.apply_disk_changes(&paths, rescan) {
            self.ws.analyze();
            self.publish(None);
        }
    }

    /// Re-reads changed paths (everything on `rescan`, or when a folder changed). Returns
    /// whether the check sees a difference.
    fn apply_disk_changes(&mut self, paths: &[PathBuf], mut rescan: bool) -> bool {
        let mut changed = false;
        for p in paths {
            if self.ws.is_member(p) {
                changed |= self.ws.refresh(p);
            } else if p.starts_with(&self.ws.dir) && (p.is_dir() || p.extension().is_none()) {
                rescan = true;
            }
        }
        if rescan {
            changed |= self.ws.rescan();
        }
        changed
    }

    /// Publishes every file whose diagnostics differ from what it was last published with
    /// (an empty list clears a file), and `always` (the edited buffer) in any case, last.
    fn publish(&mut self, always: Option<&Path>) {
        let mut targets: Vec<PathBuf> = self.ws.analysis.diagnostics.keys().cloned().collect();
        targets.extend(self.published.keys().cloned());
        targets.sort();
        targets.dedup();
        // The edited buffer goes last: once a client sees it, it has seen the whole check.
        if let Some(path) = always {
            targets.retain(|p| p != path);
            targets.push(path.to_path_buf());
        }
        for path in targets {
            let now = diagnostics::for_path(&self.ws, &path, self.enc);
            let before = self.published.get(&path).map_or(&[][..], Vec::as_slice);
            if before == now.as_slice() && always != Some(path.as_path()) {
                continue;
            }
            let Some(uri) = path_to_uri(&path) else {
                continue;
            };
            let params = PublishDiagnosticsParams {
                uri,
                diagnostics: now.clone(),
                version: self.ws.version(&path),
            };
            self.send(Notification::new(PublishDiagnostics::METHOD.to_owned(), params).into());
            if now.is_empty() {
                self.published.remove(&path);
            } else {
                self.published.insert(path, now);
            }
        }
    }

    fn log(&self, message: &str) {
        let params = lsp_types::LogMessageParams {
            typ: lsp_types::MessageType::WARNING,
            message: message.to_owned(),
        };
        self.send(Notification::new("window/logMessage".to_owned(), params).into());
    }

    fn send(&self, msg: Message) {
        // A closed connection ends the loop on the next receive.
        let _ = self.conn.sender.send(msg);
    }
}
