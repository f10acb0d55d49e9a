//! [`SourceFile`]: one persona file's text from a git blob or the work tree, decoded with the
//! same rules as files read from disk (size cap first, then UTF-8, a byte order mark dropped).

use std::path::{Path, PathBuf};

use crate::{Code, Diagnostic, MAX_FILE_BYTES};

/// One persona file from some source: its path (as shown in diagnostics) and its text, or the
/// diagnostic that says why it has none (too large, not UTF-8, unreadable).
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path, under `--dir` as given.
    pub path: PathBuf,
    /// The text, or why it cannot be read.
    pub text: Result<String, Box<Diagnostic>>,
    /// The blob id when the text comes from git: equal ids mean equal texts, so a check of
    /// the same file at another commit can be reused.
    pub(crate) key: Option<gix::ObjectId>,
}

pub(super) fn too_large(path: &Path, len: u64) -> Box<Diagnostic> {
    Box::new(Diagnostic::file_error(
        path,
        Code::FileTooLarge,
        format!("the file is {len} bytes; persona files are limited to {MAX_FILE_BYTES} bytes (1 MiB)"),
    )
    .with_hint("move long reference material out of the persona; a system prompt is at most 32,768 characters"))
}

/// Reads a work-tree file, refusing one over the cap before reading it; with the text, the id
/// git would give its content (so a file unchanged since a commit reuses that commit's check).
pub(super) fn read(
    disk: &Path,
    path: &Path,
) -> Result<(String, Option<gix::ObjectId>), Box<Diagnostic>> {
    use std::io::Read;
    let io_error = |e: std::io::Error| {
        Box::new(Diagnostic::file_error(
            path,
            Code::IoRead,
            format!("cannot read the file: {e}"),
        ))
    };
    let file = std::fs::File::open(disk).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_FILE_BYTES {
        return Err(too_large(path, len));
    }
    let mut bytes = Vec::new();
    // `take` guards against a file that grows between the size check and the read.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(path, bytes.len() as u64));
    }
    let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, &bytes).ok();
    Ok((decode(path, bytes)?, id))
}

/// The text of a file's bytes: UTF-8 (a byte order mark dropped), else a diagnostic.
pub(super) fn decode(path: &Path, mut bytes: Vec<u8>) -> Result<String, Box<Diagnostic>> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        // The prefix up to `valid` is UTF-8 by definition of `valid_up_to`.
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let p = crate::position(prefix, valid);
        let mut d = Diagnostic::file_error(
            path,
            Code::FileEncoding,
            format!(
                "the file is not valid UTF-8 (invalid byte 0x{:02X})",
                bytes[valid]
            ),
        )
        .with_hint("save the file as UTF-8");
        d.line = p.line;
        d.column = p.column;
        Box::new(d)
    })
}
