//! The language server's use of the one check pipeline: a [`Tree`] (the directory on disk with
//! the editor's buffers as overlays) → stage 1 for each file whose text changed since the last
//! check ([`check_one`]; the others keep their result), then stage 2 over all of them
//! ([`reassemble`]), giving the diagnostics `validate` prints for the same files and the
//! resolved catalog. Everything else in the server reads only its result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::check::{Options, Tree, check_one, reassemble};
use crate::{Catalog, CheckedFile, Diagnostic};

/// What the check found.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Every diagnostic, by the path it is on (the personas directory itself for
    /// `default.missing`), each list in `validate`'s order.
    pub diagnostics: BTreeMap<PathBuf, Vec<Diagnostic>>,
    /// The valid personas, resolved (inheritance applied).
    pub catalog: Catalog,
    /// The paths whose published diagnostics may differ from the last ones published: their
    /// diagnostics changed, or the text their positions are counted in did. Accumulates over
    /// checks until the server publishes and takes it.
    pub changed: BTreeSet<PathBuf>,
}

/// Checks trees, keeping each file's stage-1 result with the text it was checked from, so
/// that a keystroke checks one file on its own and then runs only the rules across files.
#[derive(Debug)]
pub(crate) struct Checker {
    options: Options,
    /// The last check's stage-1 results, in path order.
    files: Vec<CheckedFile>,
    /// For each of `files`: the text it was checked from (`None`: read from disk).
    texts: Vec<Option<Arc<str>>>,
}

impl Checker {
    /// A checker reporting `default.missing` when no file defines `default_persona`.
    pub(crate) fn new(default_persona: Option<String>) -> Self {
        Checker {
            options: Options {
                default_persona,
                diagnostics_only: false,
            },
            files: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// Checks `tree` as `personactl validate DIR` checks the directory. `previous` is the
    /// analysis of the last check (its entries are reused where unchanged, and its pending
    /// changed paths carried over).
    pub(crate) fn check(&mut self, tree: &Tree, previous: Analysis) -> Analysis {
        let mut old = std::mem::take(&mut self.files)
            .into_iter()
            .zip(std::mem::take(&mut self.texts))
            .peekable();
        let inputs: Vec<(&Path, Option<&Arc<str>>)> = tree.inputs().collect();
        // The paths whose text is not the one they were last checked from (or that are gone).
        let mut text_changed: BTreeSet<PathBuf> = BTreeSet::new();
        let mut slots: Vec<Option<CheckedFile>> = Vec::with_capacity(inputs.len());
        let mut texts: Vec<Option<Arc<str>>> = Vec::with_capacity(inputs.len());
        let mut fresh: Vec<usize> = Vec::new();
        for &(path, given) in &inputs {
            // Both lists are in path order: what comes before `path` is gone from the tree.
            // (Equal bytes first: the common case, and much cheaper than ordering paths.)
            while let Some((gone, _)) = old
                .next_if(|(c, _)| c.path.as_os_str() != path.as_os_str() && c.path.as_path() < path)
            {
                text_changed.insert(gone.path);
            }
            let kept = old
                .next_if(|(c, _)| c.path.as_os_str() == path.as_os_str())
                .and_then(|(c, text)| match (given, text) {
                    (Some(now), Some(then)) if Arc::ptr_eq(now, &then) || **now == *then => Some(c),
                    _ => None,
                });
            if kept.is_none() {
                fresh.push(slots.len());
                text_changed.insert(path.to_path_buf());
            }
            slots.push(kept);
            texts.push(given.cloned());
        }
        text_changed.extend(old.map(|(gone, _)| gone.path));
        let checked: Vec<CheckedFile> = fresh
            .par_iter()
            .map(|&i| check_one(tree, inputs[i].0))
            .collect();
        for (i, c) in fresh.into_iter().zip(checked) {
            slots[i] = Some(c);
        }
        // Every slot is filled: kept, or checked just now.
        self.files = slots.into_iter().flatten().collect();
        self.texts = texts;
        debug_assert_eq!(self.files.len(), self.texts.len());

        let mut catalog = reassemble(tree, &self.files, &self.options, &previous.catalog);
        // The catalog's diagnostics are sorted by path: group them in one pass.
        let mut groups: Vec<(PathBuf, Vec<Diagnostic>)> = Vec::new();
        for d in std::mem::take(&mut catalog.diagnostics) {
            match groups.last_mut() {
                Some((p, list)) if p.as_os_str() == d.path.as_os_str() => list.push(d),
                _ => groups.push((d.path.clone(), vec![d])),
            }
        }
        let diagnostics: BTreeMap<PathBuf, Vec<Diagnostic>> = groups.into_iter().collect();
        let mut changed = previous.changed;
        let before = &previous.diagnostics;
        let paths_with_any = before.keys().chain(diagnostics.keys());
        changed.extend(
            paths_with_any
                .filter(|p| {
                    let now = diagnostics.get(*p);
                    now != before.get(*p)
                        || text_changed.contains(*p)
                        // A related place's position is counted in the other file's text.
                        || now.into_iter().flatten().any(|d| {
                            d.related.iter().any(|r| text_changed.contains(&r.path))
                        })
                })
                .cloned()
                .collect::<Vec<_>>(),
        );
        Analysis {
            diagnostics,
            catalog,
            changed,
        }
    }
}
