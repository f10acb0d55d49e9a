//! One side of a review: a set of persona files (a git tree or the work tree) checked and
//! resolved into a [`Catalog`], plus what telling "changed through a parent" needs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rayon::prelude::*;

use crate::git::SourceFile;
use crate::{Catalog, CheckedFile, PersonaFile, check_text, stem_id};

/// A checked set of persona files.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// The valid, resolved personas and the diagnostics of the others.
    pub catalog: Catalog,
    /// Every file by its id (the first in path order when two share one).
    pub files: BTreeMap<String, FileFacts>,
}

/// What a review needs to know of one file besides its resolved persona.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFacts {
    /// The file.
    pub path: PathBuf,
    /// The parent it names with `extends`.
    pub extends: Option<String>,
    /// Its own content as typed (before inheritance), when it is valid on its own.
    pub own: Option<PersonaFile>,
}

/// Checks made earlier, by file path and blob id, reused when the same blob shows up again
/// (`log` walks many commits that share most of their files).
#[derive(Debug, Default)]
pub struct Memo {
    checked: HashMap<(PathBuf, gix::ObjectId), CheckedFile>,
}

impl Memo {
    /// Whether the blob `id` at `path` has been checked already.
    pub(crate) fn knows(&self, path: &std::path::Path, id: &gix::ObjectId) -> bool {
        // The key is owned; a lookup by parts would need a borrowed key type.
        self.checked.contains_key(&(path.to_path_buf(), *id))
    }
}

/// Turns a set of persona files into a checked and resolved [`Side`]: each file checked on
/// its own (in path order), then the rules across files, families and inheritance, exactly as
/// `validate` and the registry do for a folder on disk.
///
/// This is the one place a review checks files: stage 1 of the check pipeline per file (reused
/// from `memo` for a blob seen before), then its stage 2 ([`crate::check::assemble`]). A file
/// with no text (too large, not UTF-8) keeps the diagnostic that says why.
#[must_use]
pub fn check_sources(mut files: Vec<SourceFile>, memo: &mut Memo) -> Side {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let memo_key = |f: &SourceFile| f.key.map(|k| (f.path.clone(), k));
    // Files not checked before are checked on every core; the others are reused.
    let fresh: Vec<(usize, CheckedFile)> = files
        .par_iter()
        .enumerate()
        .filter(|(_, f)| memo_key(f).is_none_or(|k| !memo.checked.contains_key(&k)))
        .map(|(i, f)| (i, check_one(f)))
        .collect();
    let mut fresh = fresh.into_iter().peekable();
    let mut checked = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let key = memo_key(f);
        if fresh.peek().is_some_and(|(j, _)| *j == i) {
            // `peek` just said there is one.
            let Some((_, c)) = fresh.next() else { continue };
            if let Some(k) = key {
                memo.checked.insert(k, c.clone());
            }
            checked.push(c);
        } else if let Some(hit) = key.and_then(|k| memo.checked.get(&k)) {
            checked.push(hit.clone());
        }
    }
    let mut facts = BTreeMap::new();
    for c in &checked {
        // A file whose name is not a valid id is still reported, under its stem.
        let stem = || c.path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let Some(id) = c.id.clone().or_else(|| stem_id(&c.path)).or_else(stem) else {
            continue;
        };
        facts.entry(id).or_insert_with(|| FileFacts {
            path: c.path.clone(),
            extends: c.extends().map(str::to_owned),
            own: c.is_valid().then(|| c.file.as_deref().cloned()).flatten(),
        });
    }
    // Stage 2 of the one check pipeline: rules across files, families, merges.
    let root = crate::check::Tree::new(PathBuf::new());
    Side {
        catalog: crate::check::assemble(&root, &checked, &crate::check::Options::default()),
        files: facts,
    }
}

/// Stage 1 of the check pipeline for one file; a file with no text keeps the diagnostic that
/// says why.
fn check_one(f: &SourceFile) -> CheckedFile {
    match &f.text {
        Ok(text) => check_text(&f.path, text),
        Err(d) => CheckedFile::unreadable(&f.path, (**d).clone()),
    }
}
