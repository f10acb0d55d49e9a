//! CHARX: a zip archive holding a V3 card (`card.json`) and its assets (`assets/…`, referenced
//! from the card as `embeded://assets/…`). Read with limits on the number of entries, their
//! sizes and compression ratio, and their paths (no absolute paths, no `..`, no hidden
//! components), so that a hostile archive is refused before it costs memory.

use std::io::{Cursor, Read};

use super::{Asset, InteropError};

/// The most entries an archive may have.
pub const MAX_ENTRIES: usize = 1024;
/// The largest entry, uncompressed.
pub const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
/// The most all entries may hold together, uncompressed.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// The largest compression ratio of an entry (a zip bomb has thousands).
pub const MAX_RATIO: u64 = 200;

pub(super) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

fn bad(msg: impl Into<String>) -> InteropError {
    InteropError::Charx(msg.into())
}

/// The card JSON and the assets of a CHARX archive.
pub(super) fn read(bytes: &[u8]) -> Result<(Vec<u8>, Vec<Asset>), InteropError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("not a valid zip archive: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad(format!(
            "the archive has {} entries; at most {MAX_ENTRIES} are read",
            archive.len()
        )));
    }
    let mut card = None;
    let mut assets = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let raw = entry
            .name()
            .map_err(|e| bad(format!("entry {i}: {e}")))?
            .into_owned();
        let path = safe_path(&raw).ok_or_else(|| {
            bad(format!(
                "entry `{raw}`: unsafe path (absolute, `..` or hidden)"
            ))
        })?;
        let size = entry.size();
        if size > MAX_ENTRY_BYTES {
            return Err(bad(format!(
                "entry `{path}` is {size} bytes; entries are limited to {MAX_ENTRY_BYTES}"
            )));
        }
        if size > 1024 && size / entry.compressed_size().max(1) > MAX_RATIO {
            return Err(bad(format!(
                "entry `{path}` is compressed more than {MAX_RATIO}:1 (a zip bomb?)"
            )));
        }
        total += size;
        if total > MAX_TOTAL_BYTES {
            return Err(bad(format!(
                "the entries hold more than {MAX_TOTAL_BYTES} bytes together"
            )));
        }
        // The declared size can lie: never read more than it says.
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size + 1)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("entry `{path}`: {e}")))?;
        if data.len() as u64 > size {
            return Err(bad(format!(
                "entry `{path}` is larger than its header says"
            )));
        }
        if path == "card.json" {
            card = Some(data);
        } else {
            assets.push(Asset { path, bytes: data });
        }
    }
    let card = card.ok_or_else(|| bad("no `card.json` in the archive"))?;
    Ok((card, assets))
}

/// `raw` as a relative path of plain components joined by `/`, or `None` if it could
/// escape the folder it is written to.
pub(super) fn safe_path(raw: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        if part.is_empty() || part == "." {
            continue;
        }
        if part == ".." || part.starts_with('.') || part.contains(':') || part.contains('\0') {
            return None;
        }
        parts.push(part);
    }
    if raw.starts_with('/') || raw.starts_with('\\') || parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::safe_path;

    #[test]
    fn paths_cannot_escape() {
        assert_eq!(
            safe_path("assets/icon/main.png").as_deref(),
            Some("assets/icon/main.png")
        );
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "C:\\x",
            ".git/config",
            "a\\..\\b",
            "",
        ] {
            assert_eq!(safe_path(bad), None, "{bad}");
        }
    }
}
