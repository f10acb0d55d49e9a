//! Finding persona files and reading them safely: size cap first, then UTF-8.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::diagnostic::{Code, Diagnostic};
use crate::error::Error;
use crate::source::{position, snippet};

/// The largest persona file read, in bytes (1 MiB). Larger files are refused unread.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The bytes of the file at `path`, at most [`MAX_FILE_BYTES`]: a longer file (or an endless
/// one such as `/dev/zero`) is an error of kind `FileTooLarge` without reading more than one
/// byte past the limit.
pub(crate) fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than the {MAX_FILE_BYTES}-byte (1 MiB) limit"),
        ));
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text.
pub(crate) fn read_limited_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_limited(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Every persona file under `root`, sorted by path: `*.toml` files at any depth, skipping
/// hidden files and folders (names starting with `.`, such as `.git` or a ConfigMap's
/// `..data`; symlinks at the top that point into them are followed). Symbolic links are
/// followed only when they stay inside `root`; entries that cannot be followed are left out
/// here and reported by the check pipeline (`Tree::from_dir`). `root` may also be a single
/// file, which is returned whatever its name.
///
/// # Errors
///
/// [`Error::NotFound`] when `root` does not exist, [`Error::Io`] when it cannot be read.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Ok(vec![root.to_path_buf()]);
    }
    Ok(walk(root)?.0)
}

/// Whether a path names a persona file: not hidden, ending in `.toml`.
#[must_use]
pub fn is_persona_file_name(path: &Path) -> bool {
    path.file_name().is_some_and(|n| !is_hidden(n)) && path.extension().is_some_and(|e| e == "toml")
}

pub(crate) fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Reads a persona file as text, or says why it cannot be used: unreadable, over
/// [`MAX_FILE_BYTES`] (checked before reading), or not UTF-8 (pointing at the first bad byte).
/// A UTF-8 byte order mark is dropped.
pub(crate) fn read_source(path: &Path) -> Result<String, Box<Diagnostic>> {
    decode_source(path, read_capped(path, path)?)
}

/// The `file.too-large` diagnostic of a file of `len` bytes.
pub(crate) fn too_large(path: &Path, len: u64) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::file_error(
            path,
            Code::FileTooLarge,
            format!("the file is {len} bytes; persona files are limited to {MAX_FILE_BYTES} bytes (1 MiB)"),
        )
        .with_hint("move long reference material out of the persona; a system prompt is at most 32,768 characters"),
    )
}

/// The bytes of the file at `disk`, refused unread when over [`MAX_FILE_BYTES`];
/// diagnostics name `path` (the file as the user knows it).
pub(crate) fn read_capped(disk: &Path, path: &Path) -> Result<Vec<u8>, Box<Diagnostic>> {
    let io_error = |e: std::io::Error| {
        Box::new(Diagnostic::file_error(
            path,
            Code::IoRead,
            format!("cannot read the file: {e}"),
        ))
    };
    let file = File::open(disk).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_FILE_BYTES {
        return Err(too_large(path, len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // `take` guards against a file that grows between the size check and the read.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(path, bytes.len() as u64));
    }
    Ok(bytes)
}

/// The text of a persona file's bytes (from disk, a git blob, anywhere): UTF-8 with a byte
/// order mark dropped, or the `file.encoding` diagnostic at the first bad byte.
pub(crate) fn decode_source(path: &Path, mut bytes: Vec<u8>) -> Result<String, Box<Diagnostic>> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        // The prefix up to `valid` is UTF-8 by definition of `valid_up_to`.
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let p = position(prefix, valid);
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
        d.snippet = Some(snippet(prefix, &(valid..valid)));
        Box::new(d)
    })
}

/// Walks `root`: persona files (following links that stay inside `root`), and a diagnostic
/// for each entry that cannot be followed.
pub(crate) fn walk(root: &Path) -> Result<(Vec<PathBuf>, Vec<Diagnostic>), Error> {
    let canonical_root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let Some(path) = e.path().map(Path::to_path_buf) else {
                    continue;
                };
                if e.depth() == 0 {
                    return Err(Error::io(path, e.into()));
                }
                if let Some(d) = link_problem(&path, e.loop_ancestor().is_some()) {
                    problems.push(d);
                }
                continue;
            }
        };
        if entry.path_is_symlink() && entry.depth() > 0 {
            // Only links whose target stays inside the personas directory are followed.
            let inside = entry
                .path()
                .canonicalize()
                .is_ok_and(|t| t.starts_with(&canonical_root));
            if !inside {
                if entry.file_type().is_file() && is_persona_file_name(entry.path())
                    || entry.file_type().is_dir()
                {
                    problems.push(outside(entry.path()));
                }
                continue;
            }
        }
        if entry.file_type().is_file() && is_persona_file_name(entry.path()) {
            files.push(entry.into_path());
        }
    }
    files.sort_unstable_by(|a, b| crate::check::path_order(a, b));
    Ok((files, problems))
}

/// The diagnostic of an entry walkdir could not follow: a link loop, or a dangling link
/// (reported only when it looks like a persona file).
fn link_problem(path: &Path, is_loop: bool) -> Option<Diagnostic> {
    if is_loop {
        return Some(
            Diagnostic::file_error(
                path,
                Code::IoRead,
                "symbolic link loop: the link leads back to a folder that contains it",
            )
            .with_hint("remove the link, or point it at a persona file"),
        );
    }
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && !is_persona_file_name(path) {
        return None;
    }
    let what = if is_link {
        "dangling symbolic link: its target does not exist"
    } else {
        "cannot read this entry"
    };
    Some(
        Diagnostic::file_error(path, Code::IoRead, what)
            .with_hint("remove the link, or restore the file it points at"),
    )
}

/// The problem [`walk`] reports for one entry it meets again by name (a watcher's event):
/// a dangling symbolic link named like a persona file. `None` for anything else.
pub(crate) fn entry_problem(path: &Path) -> Option<Diagnostic> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && std::fs::metadata(path).is_err() {
        link_problem(path, false)
    } else {
        None
    }
}

/// The diagnostic for a persona file at `path` that is (or sits under) a symbolic link
/// leading outside the personas directory `root`: such files are never read. `None` when the
/// file may be read.
pub(crate) fn outside_link(root: &Path, path: &Path) -> Option<Diagnostic> {
    // A file right in the directory that is no link cannot lead outside it: one `lstat`
    // instead of resolving both paths (a registry's load asks this of every file).
    if path.parent() == Some(root)
        && std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink())
    {
        return None;
    }
    let canonical_root = root.canonicalize().ok()?;
    let target = path.canonicalize().ok()?;
    (!target.starts_with(&canonical_root)).then(|| outside(path))
}

fn outside(path: &Path) -> Diagnostic {
    Diagnostic::file_error(
        path,
        Code::IoRead,
        "symbolic link to a place outside the personas directory: not read",
    )
    .with_hint("links are followed only inside the personas directory; copy the file in instead")
}
