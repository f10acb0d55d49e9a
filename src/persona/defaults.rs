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
        include_str!("../../personas/journaling-assistant.toml"),
    ),
    ("coach", include_str!("../../personas/coach.toml")),
    (
        "story-teller",
        include_str!("../../personas/story-teller.toml"),
    ),
    ("therapist", include_str!("../../personas/therapist.toml")),
    (
        "productivity-partner",
        include_str!("../../personas/productivity-partner.toml"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_personas_equal_the_repository_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("personas");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("the repository has personas/")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = DEFAULT_PERSONAS
            .iter()
            .map(|(id, _)| format!("{id}.toml"))
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "every shipped file is embedded, and nothing else"
        );
        for (id, text) in DEFAULT_PERSONAS {
            let file = std::fs::read_to_string(dir.join(format!("{id}.toml"))).expect("readable");
            assert_eq!(&file, text, "{id}.toml differs from its embedded copy");
        }
    }

    #[test]
    fn every_default_is_valid_and_starts_with_the_schema_line() {
        for (id, text) in DEFAULT_PERSONAS {
            assert!(text.starts_with(crate::schema::SCHEMA_HEADER), "{id}");
            let checked =
                crate::validate::check_text(Path::new(&format!("personas/{id}.toml")), text);
            assert!(checked.is_valid(), "{id}: {:?}", checked.diagnostics);
        }
        assert!(
            DEFAULT_PERSONAS
                .iter()
                .any(|(id, _)| *id == DEFAULT_PERSONA_ID)
        );
    }

    #[test]
    fn the_therapist_says_what_it_is_not_and_where_to_get_help() {
        let (_, text) = DEFAULT_PERSONAS
            .iter()
            .find(|(id, _)| *id == "therapist")
            .expect("shipped");
        let lower = text.to_lowercase();
        assert!(lower.contains("not a licensed therapist") || lower.contains("not a substitute"));
        assert!(lower.contains("988") && lower.contains("116 123"));
    }
}
