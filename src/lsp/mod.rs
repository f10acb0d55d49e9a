//! `personactl lsp`: a language server (LSP 3.17 over stdio) for persona files, so that the
//! editor shows what `personactl validate` will say while a file is typed.
//!
//! The server checks the whole personas directory with each open buffer in place of its file
//! ([`check`]: one function from texts to diagnostics), publishes every file whose diagnostics
//! changed, and watches the directory for edits made outside the editor. Completion, hover,
//! go to definition and code actions read the same state.

mod actions;
mod check;
mod completion;
mod definition;
mod diagnostics;
mod docs;
mod hover;
mod outline;
mod positions;
mod server;
mod workspace;

use std::path::PathBuf;

pub use server::serve_stdio;

/// How the server finds the personas directory, and what it checks beyond each file.
#[derive(Debug, Clone)]
pub struct LspOptions {
    /// The personas directory, when given explicitly (`--dir` or `PERSONAS_DIR`). Otherwise
    /// it comes from the editor's workspace folder: `<root>/personas` when that folder
    /// exists, else the root itself (without a workspace folder: the current directory).
    pub dir: Option<PathBuf>,
    /// Report `default.missing` when no file defines this id (as `validate DIR` does).
    pub default_persona: Option<String>,
}

/// A failure of the language server itself (not of a persona file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LspError {
    /// The client broke the protocol, or the connection closed mid-handshake.
    #[error("language server protocol: {0}")]
    Protocol(String),
    /// Standard input or output failed.
    #[error("language server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The client sent `exit` without `shutdown` first (the protocol's exit code 1).
    #[error("the client exited without shutting the server down")]
    ExitWithoutShutdown,
}

impl From<lsp_server::ProtocolError> for LspError {
    fn from(e: lsp_server::ProtocolError) -> Self {
        LspError::Protocol(e.to_string())
    }
}
