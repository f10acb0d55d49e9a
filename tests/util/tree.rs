//! Temporary trees of files, a minimal persona, and the committed fixtures.

use std::path::{Path, PathBuf};

/// A temporary directory, filled fluently, removed on drop.
pub struct TempTree {
    dir: tempfile::TempDir,
}

impl Default for TempTree {
    fn default() -> Self {
        Self::new()
    }
}

impl TempTree {
    pub fn new() -> Self {
        TempTree {
            dir: tempfile::tempdir().expect("a temp dir can be created"),
        }
    }

    /// Adds a text file (and its folders).
    pub fn file(self, rel: &str, text: &str) -> Self {
        self.bytes(rel, text.as_bytes())
    }

    /// Adds a file with raw bytes.
    pub fn bytes(self, rel: &str, bytes: &[u8]) -> Self {
        self.write_bytes(rel, bytes);
        self
    }

    /// Adds the shipped default personas (what `personactl init` writes) in folder `rel`.
    pub fn defaults(self, rel: &str) -> Self {
        personas::init(&self.path(rel)).expect("the defaults are written");
        self
    }

    /// Writes (or overwrites) a text file in place, for a test that changes files as it goes.
    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("a file path has a parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write test file");
    }

    /// A file's text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("a readable test file")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The directory itself, for a test that keeps a `tempfile::TempDir` (removed on drop).
    pub fn into_temp_dir(self) -> tempfile::TempDir {
        self.dir
    }
}

/// A small valid persona named `name` (four lines, no header).
pub fn persona(name: &str) -> String {
    format!(
        "name = \"{name}\"\ndescription = \"A persona for tests.\"\nicon = \"🧪\"\nsystem_prompt = \"You are {name}.\"\n"
    )
}

/// The path of `tests/fixtures/REL`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The text of `tests/fixtures/REL`.
pub fn fixture_text(rel: &str) -> String {
    let path = fixture(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
