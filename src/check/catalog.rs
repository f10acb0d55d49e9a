//! [`Catalog`]: the valid personas of a directory, by id, and the problems of the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::check::{Options, Tree, assemble, check};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::persona::Persona;
use crate::validate::CheckedFile;

/// One loaded persona: its id, its file and its content.
///
/// Two entries are equal when their ids, paths and personas are (the revision is a function
/// of the persona).
#[derive(Clone)]
pub struct Entry {
    /// The id (the file stem).
    pub id: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The persona.
    pub persona: Arc<Persona>,
    /// The persona's revision, hashed the first time it is asked for: loading a directory
    /// need not hash every persona, most of which no session may ever link.
    revision: OnceLock<String>,
}

impl Entry {
    /// The entry of `persona`, loaded from `path` under `id`.
    #[must_use]
    pub fn new(id: impl Into<String>, path: impl Into<PathBuf>, persona: Arc<Persona>) -> Self {
        Entry {
            id: id.into(),
            path: path.into(),
            persona,
            revision: OnceLock::new(),
        }
    }

    /// The persona's revision: a content hash of the persona as loaded (see [`revision`]),
    /// computed on first use and kept.
    #[must_use]
    pub fn revision(&self) -> &str {
        self.revision.get_or_init(|| revision(&self.persona))
    }

    /// The revision, and the persona's canonical JSON when it had to be made to hash it: a
    /// caller about to store the content then does not serialise the persona twice.
    pub(crate) fn revision_and_body(&self) -> (&str, Option<Vec<u8>>) {
        if let Some(known) = self.revision.get() {
            return (known, None);
        }
        let body = canonical(&self.persona);
        (self.revision.get_or_init(|| revision_of(&body)), Some(body))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.path == other.path && self.persona == other.persona
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("persona", &self.persona)
            .field("revision", &self.revision())
            .finish()
    }
}

/// The revision of a persona: the first 16 hex digits of the SHA-256 of its canonical JSON
/// form. Edits to comments or layout keep the revision; any change of a value changes it.
/// Stable across processes, machines and versions of personactl.
#[must_use]
pub fn revision(persona: &Persona) -> String {
    revision_of(&canonical(persona))
}

/// The revision of a persona whose canonical JSON is `body`.
fn revision_of(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let digest = Sha256::digest(body);
    let mut hex = String::with_capacity(16);
    for b in digest.iter().take(8) {
        // Writing to a `String` cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
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

#[cfg(test)]
mod tests {
    use super::{Catalog, Entry, canonical, revision};

    #[test]
    fn revision_and_body_serialise_once_and_agree_with_revision() {
        let dir = tempfile::tempdir().expect("a temp dir");
        crate::init(dir.path()).expect("the shipped personas");
        let catalog = Catalog::load(dir.path()).expect("loads");
        let loaded = catalog.entries.values().next().expect("a persona");
        let entry = Entry::new(
            loaded.id.clone(),
            loaded.path.clone(),
            loaded.persona.clone(),
        );
        let (rev, body) = entry.revision_and_body();
        let body = body.expect("not hashed yet: the body it was hashed from");
        assert_eq!(body, canonical(&entry.persona));
        assert_eq!(rev, revision(&entry.persona));
        let (again, none) = entry.revision_and_body();
        assert_eq!(again, rev);
        assert!(none.is_none(), "hashed already: nothing serialised");
    }
}
