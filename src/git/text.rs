//! [`SourceFile`]: one persona file's text from a git blob or the work tree, decoded with the
//! same rules as files read from disk (size cap first, then UTF-8, a byte order mark dropped).

use std::path::{Path, PathBuf};

use crate::Diagnostic;

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

pub(super) use crate::load::too_large;

/// Reads a work-tree file, refusing one over the cap before reading it; with the text, the id
/// git would give its content (so a file unchanged since a commit reuses that commit's check).
pub(super) fn read(
    disk: &Path,
    path: &Path,
) -> Result<(String, Option<gix::ObjectId>), Box<Diagnostic>> {
    let bytes = crate::load::read_capped(disk, path)?;
    let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, &bytes).ok();
    Ok((decode(path, bytes)?, id))
}

/// The text of a file's bytes: as for files read from disk.
pub(super) fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, Box<Diagnostic>> {
    crate::load::decode_source(path, bytes)
}
