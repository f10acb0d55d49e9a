//! [`Catalog`]: the valid personas of a directory, by id, and the problems of the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::check::{Options, Tree, assemble, check};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::persona::Persona;
use crate::validate::CheckedFile;

/// One loaded persona: its id, its file and its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The id (the file stem).
    pub id: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The persona.
    pub persona: Arc<Persona>,
    /// The persona's revision: a content hash of the persona as loaded (see [`revision`]).
    pub revision: String,
}

/// The revision of a persona: the first 16 hex digits of the SHA-256 of its canonical JSON
/// form. Edits to comments or layout keep the revision; any change of a value changes it.
/// Stable across processes, machines and versions of personactl.
#[must_use]
pub fn revision(persona: &Persona) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(canonical(persona));
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A persona's canonical JSON (what its [`revision`] hashes, and what the sessions store keeps
/// of a revision): its fields in declaration order, compact.
pub(crate) fn canonical(persona: &Persona) -> Vec<u8> {
    // Sized for the texts, so that the buffer is not grown again and again while it is
    // written (escapes and the other fields fit in the rest).
    let texts = persona.system_prompt.len()
        + persona.description.len()
        + persona.greeting.as_ref().map_or(0, String::len);
    let mut out = Vec::with_capacity(texts + texts / 8 + 1024);
    // Serialising a persona cannot fail: every field is a plain value with string keys.
    let _ = serde_json::to_writer(&mut out, persona);
    out
}

/// Every valid persona under a directory, by id, plus the diagnostics of the invalid files.
///
/// When two files define the same id, the first in path order is kept and the other is
/// reported (`id.duplicate`).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Valid personas by id.
    pub entries: BTreeMap<String, Entry>,
    /// Problems in the files that were left out (and warnings in the others).
    pub diagnostics: Vec<Diagnostic>,
    /// How many persona files were read.
    pub files: usize,
}

impl Catalog {
    /// Loads every persona file under `dir` through the one check pipeline
    /// ([`check`](crate::check)), on all cores.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when `dir` does not exist, [`Error::Io`] when it cannot be listed.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let tree = Tree::from_dir(dir)?;
        Ok(check(&tree, &Options::default()))
    }

    /// Builds a catalog from files already checked on their own (in path order), through
    /// the pipeline's second stage ([`assemble`]).
    #[must_use]
    pub fn from_checked(checked: Vec<CheckedFile>) -> Self {
        let root = checked
            .first()
            .and_then(|c| c.path.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        assemble(&Tree::new(root), &checked, &Options::default())
    }

    /// The persona with this id, or else the one that lists `id` among its `aliases`.
    #[must_use]
    pub fn find(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id).or_else(|| {
            self.entries
                .values()
                .find(|e| e.persona.aliases.iter().any(|a| a == id))
        })
    }

    /// The personas for a picker: listed ones only unless `all`, sorted by `order`, then id.
    #[must_use]
    pub fn listed(&self, all: bool) -> Vec<&Entry> {
        let mut list: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| all || e.persona.is_listed())
            .collect();
        list.sort_by_key(|e| (e.persona.order.unwrap_or(i32::MAX), e.id.clone()));
        list
    }
}

/// Read access to a set of loaded personas by id and by alias: what resolving a chat session
/// needs. Implemented by [`Catalog`] (a one-shot load) and by the registry's snapshots.
pub trait Lookup {
    /// The persona with exactly this id.
    fn get(&self, id: &str) -> Option<&Entry>;

    /// The persona that lists `alias` among its former ids (`aliases`).
    fn by_alias(&self, alias: &str) -> Option<&Entry>;
}

impl Lookup for Catalog {
    fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    fn by_alias(&self, alias: &str) -> Option<&Entry> {
        self.entries
            .values()
            .find(|e| e.persona.aliases.iter().any(|a| a == alias))
    }
}
