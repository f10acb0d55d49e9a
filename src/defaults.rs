//! The five shipped default personas, embedded in the binary so `personactl init` works
//! anywhere. A test proves these equal the files in the repository's `personas/`.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The id of the default persona: the one sessions without a (live) persona resolve to.
pub const DEFAULT_PERSONA_ID: &str = "journaling-assistant";

/// The shipped personas as `(id, file contents)`, in the order of their `order` key.
pub const DEFAULT_PERSONAS: &[(&str, &str)] = &[
    (
        "journaling-assistant",
        include_str!("../personas/journaling-assistant.toml"),
    ),
    ("coach", include_str!("../personas/coach.toml")),
    (
        "story-teller",
        include_str!("../personas/story-teller.toml"),
    ),
    ("therapist", include_str!("../personas/therapist.toml")),
    (
        "productivity-partner",
        include_str!("../personas/productivity-partner.toml"),
    ),
];

/// What [`init`] did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitEntry {
    /// The file.
    pub path: PathBuf,
    /// `true` when it was written, `false` when a file was already there (it is never
    /// overwritten).
    pub created: bool,
}

/// Writes the shipped personas into `dir` (created if missing), and the JSON Schema to
/// `dir/../schema/persona.schema.json` where their `#:schema` line points, so editors find it.
/// Existing files are never overwritten; each is reported as skipped.
///
/// # Errors
///
/// [`Error::Io`] when a folder cannot be created or a file cannot be written.
pub fn init(dir: &Path) -> Result<Vec<InitEntry>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut entries = Vec::new();
    for (id, text) in DEFAULT_PERSONAS {
        let path = dir.join(format!("{id}.toml"));
        let created = write_new(&path, text)?;
        entries.push(InitEntry { path, created });
    }
    let schema_dir = dir.join("..").join("schema");
    std::fs::create_dir_all(&schema_dir).map_err(|e| Error::io(&schema_dir, e))?;
    let path = schema_dir.join("persona.schema.json");
    let created = write_new(&path, &crate::schema::schema_text())?;
    entries.push(InitEntry { path, created });
    Ok(entries)
}

/// Creates `path` with `text` unless it exists (`create_new`: no race with another writer).
fn write_new(path: &Path, text: &str) -> Result<bool, Error> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(path, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}
