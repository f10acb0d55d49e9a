//! Reads of user-supplied input (prompt files, standard input, editor copies, imports), each
//! with a cap: an endless input such as `/dev/zero` is refused after one byte past the cap
//! instead of filling memory.

use std::io::Read;
use std::path::Path;

use super::Failure;

/// The cap of text that becomes (part of) a persona file: the 1 MiB file limit.
pub const MAX_TEXT_BYTES: u64 = 1024 * 1024;

/// At most `limit` bytes of `reader`; more is an error naming `what` (exit 1: the input is
/// wrong), a failed read an exit-2 error.
pub fn capped(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(format!("{what}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Failure::invalid(format!(
            "{what}: larger than the {limit}-byte limit; nothing written"
        )));
    }
    Ok(bytes)
}

/// [`capped`] text: at most `limit` bytes of UTF-8.
pub fn capped_text(reader: impl Read, limit: u64, what: &str) -> Result<String, Failure> {
    String::from_utf8(capped(reader, limit, what)?)
        .map_err(|_| Failure::new(format!("{what}: not UTF-8 text")))
}

/// The text of the file at `path`, at most `limit` bytes.
pub fn file_text(path: &Path, limit: u64) -> Result<String, Failure> {
    let what = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Failure::new(format!("{what}: {e}")))?;
    capped_text(file, limit, &what)
}
