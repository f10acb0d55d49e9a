//! The one check pipeline. Every front end that gives a verdict on persona files (`validate`,
//! the registry's load and hot reload, every write of the [`Store`](crate::Store), and the
//! tools built on them) calls these functions, in this order:
//!
//! 1. [`check_files`]: each file on its own (read with a size cap, parse keeping spans, the
//!    generated schema, the Rust-side rules of one file), on all cores;
//! 2. [`assemble`]: the rules across files (ids, aliases), families (`extends`, variables
//!    only an ancestor declares), the merge of each family, and the default persona, giving
//!    the resolved [`Catalog`] with every diagnostic ([`reassemble`] is the same step after a
//!    small change, reusing the entries of the catalog before it).
//!
//! Its input is a [`Tree`]: the files on disk, overlays on top of them (a proposed write, an
//! unsaved buffer), or texts from anywhere (a git tree). Front ends differ only in where the
//! bytes come from.

pub(crate) mod bounded;
pub(crate) mod catalog;
pub(crate) mod document;
pub(crate) mod family;
pub(crate) mod load;
pub(crate) mod schema;
pub(crate) mod source;
mod tree;
pub(crate) mod validate;
pub(crate) mod violations;

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

pub use tree::Tree;
pub(crate) use tree::path_order;

use crate::catalog::{Catalog, Entry};
use crate::diagnostic::{Code, Diagnostic};
use crate::persona::Persona;
use crate::persona_file::PersonaFile;
use crate::validate::{CheckedFile, cross_file_diagnostics, resolve_checked};

/// What a check looks at beyond the files themselves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Report `default.missing` when no file defines this id.
    pub default_persona: Option<String>,
    /// Only the verdict is wanted: the catalog's diagnostics, without its entries (no merge,
    /// no revisions), as `validate` and the store's checks need. The diagnostics are the same.
    pub diagnostics_only: bool,
}

/// Checks a whole tree: [`check_files`], then [`assemble`].
#[must_use]
pub fn check(tree: &Tree, options: &Options) -> Catalog {
    let files = if options.diagnostics_only {
        check_files_lean(tree)
    } else {
        check_files(tree)
    };
    assemble(tree, &files, options)
}

/// Stage 1: every file of the tree on its own, in path order, on all cores.
#[must_use]
pub fn check_files(tree: &Tree) -> Vec<CheckedFile> {
    check_files_with(tree, true)
}

/// [`check_files`] without each file's standalone [`CheckedFile::persona`] (stage 2 never
/// reads it): what a check that wants only the verdict needs, in less time and memory.
pub(crate) fn check_files_lean(tree: &Tree) -> Vec<CheckedFile> {
    check_files_with(tree, false)
}

fn check_files_with(tree: &Tree, with_persona: bool) -> Vec<CheckedFile> {
    // The tree's entries as they are (no lookup by path per file: comparing paths costs).
    let inputs: Vec<(&Path, Option<&Arc<str>>)> = tree.inputs().collect();
    inputs
        .par_iter()
        .map(|(path, text)| check_input(path, *text, with_persona))
        .collect()
}

/// Stage 1 for one file of the tree.
#[must_use]
pub fn check_one(tree: &Tree, path: &Path) -> CheckedFile {
    check_input(path, tree.given(path), true)
}

/// One file: its given text, or read from disk (without a copy of the text).
fn check_input(path: &Path, text: Option<&Arc<str>>, with_persona: bool) -> CheckedFile {
    match text {
        Some(text) => validate::check_text_with(path, text, with_persona),
        None => match load::read_source(path) {
            Ok(text) => validate::check_text_with(path, &text, with_persona),
            Err(d) => CheckedFile::unreadable(path, *d),
        },
    }
}

/// Stage 2: the rules across `files` (in path order, as [`check_files`] gives them), their
/// families and merges, and the default persona: the resolved catalog with every diagnostic
/// of the tree, sorted by path, line and column.
#[must_use]
pub fn assemble(tree: &Tree, files: &[CheckedFile], options: &Options) -> Catalog {
    assemble_with(tree, files, options, None)
}

/// [`assemble`] after a change to a tree that gave `previous`: the same catalog and
/// diagnostics, but a persona that resolves as in `previous` (same id, same file, equal
/// content) keeps its entry from it: it is neither copied again nor hashed again for its
/// revision, which is most of the cost of assembling a large tree after a small change.
#[must_use]
pub fn reassemble(
    tree: &Tree,
    files: &[CheckedFile],
    options: &Options,
    previous: &Catalog,
) -> Catalog {
    assemble_with(tree, files, options, Some(previous))
}

fn assemble_with(
    tree: &Tree,
    files: &[CheckedFile],
    options: &Options,
    previous: Option<&Catalog>,
) -> Catalog {
    let mut diagnostics: Vec<Diagnostic> = tree.problems().to_vec();
    diagnostics.extend(cross_file_diagnostics(files));
    let mut resolution = resolve_checked(files);
    diagnostics.extend(
        std::mem::take(&mut resolution.diagnostics)
            .into_iter()
            .map(|(_, d)| d),
    );
    if options.diagnostics_only {
        // Only the families with a prompt budget need their merge (the budget applies to the
        // resolved persona); in every other family a file's persona exists exactly when its
        // family resolved (what the merge below turns into an entry).
        let budgeted = crate::tokens::budgeted_families(files, &resolution);
        let (resolved, budgets) =
            crate::tokens::resolve_with_budgets(files, &resolution, Some(&budgeted));
        diagnostics.extend(budgets);
        let exists = |v: usize| {
            if budgeted[v] {
                resolved[v].is_some()
            } else {
                resolution.ok[v]
            }
        };
        if let Some(default) = &options.default_persona
            && !files
                .iter()
                .enumerate()
                .any(|(v, c)| exists(v) && c.id.as_deref() == Some(default.as_str()))
        {
            diagnostics.push(default_missing(tree.root(), default));
        }
        for c in files {
            diagnostics.extend(c.diagnostics.iter().cloned());
        }
        diagnostics.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        return Catalog {
            entries: std::collections::BTreeMap::new(),
            diagnostics,
            files: files.len(),
        };
    }
    // Parents before children: each child merged onto its parent's resolved persona (through
    // `resolve_one`); a persona over its token budget is left out, with its diagnostic.
    let (mut resolved, budgets) = crate::tokens::resolve_with_budgets(files, &resolution, None);
    diagnostics.extend(budgets);
    if let Some(previous) = previous {
        // A persona that resolves as `previous` resolved it from the same file keeps that
        // `Arc` (and so its entry, whose revision need not be hashed again).
        for (c, slot) in files.iter().zip(resolved.iter_mut()) {
            let Some(persona) = slot.as_ref() else {
                continue;
            };
            let before =
                c.id.as_deref()
                    .and_then(|id| previous.entries.get(id))
                    .filter(|e| same_path(&e.path, &c.path));
            if let Some(e) = before
                && !Arc::ptr_eq(&e.persona, persona)
                && *e.persona == **persona
            {
                *slot = Some(Arc::clone(&e.persona));
            }
        }
    }
    let mut entries = std::collections::BTreeMap::new();
    for (c, persona) in files.iter().zip(resolved) {
        diagnostics.extend(c.diagnostics.iter().cloned());
        if let (Some(id), Some(persona)) = (&c.id, persona) {
            entries
                .entry(id.clone())
                .or_insert_with(|| (c.path.clone(), persona));
        }
    }
    let entries: std::collections::BTreeMap<String, Entry> = entries
        .into_par_iter()
        .map(|(id, (path, persona))| {
            // Same file, same resolved persona: same entry (its revision is a hash of it).
            let kept = previous
                .and_then(|p| p.entries.get(&id))
                .filter(|e| same_path(&e.path, &path) && Arc::ptr_eq(&e.persona, &persona));
            let entry = match kept {
                Some(e) => e.clone(),
                None => Entry::new(id.clone(), path, persona),
            };
            (id, entry)
        })
        .collect();
    if let Some(default) = &options.default_persona
        && !entries.contains_key(default)
    {
        diagnostics.push(default_missing(tree.root(), default));
    }
    diagnostics.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Catalog {
        entries,
        diagnostics,
        files: files.len(),
    }
}

/// The same path, spelt the same way (a cheap byte comparison: a path spelt differently is
/// only a missed reuse).
fn same_path(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
}

/// The merge step of one file of a resolved family: the file merged onto its parent's
/// resolved persona, or on its own when it has no parent (`None` when it is incomplete
/// alone). The full check and the registry's incremental reload both merge through it.
#[must_use]
pub fn resolve_one(file: &PersonaFile, parent: Option<&Persona>) -> Option<Persona> {
    match parent {
        Some(parent) => Some(file.merge_onto(parent)),
        None => file.standalone(),
    }
}

/// The `default.missing` diagnostic, on the personas directory.
pub(crate) fn default_missing(root: &Path, default: &str) -> Diagnostic {
    Diagnostic::file_error(
        root,
        Code::DefaultMissing,
        format!("the default persona `{default}` does not exist"),
    )
    .with_hint(format!(
        "add `{default}.toml`, or choose another default with --default-persona"
    ))
}

/// The errors a change would add: every error of the `written` files after the change, and
/// each error elsewhere that the tree did not have before (a directory that is already
/// invalid elsewhere stays editable). Empty when the change may be made.
#[must_use]
pub fn new_errors(
    before: &[Diagnostic],
    after: &[Diagnostic],
    written: &[&Path],
) -> Vec<Diagnostic> {
    let key = |d: &Diagnostic| (d.path.clone(), d.code, d.message.clone());
    let old: std::collections::HashSet<_> =
        before.iter().filter(|d| d.is_error()).map(key).collect();
    let written: std::collections::HashSet<&Path> = written.iter().copied().collect();
    after
        .iter()
        .filter(|d| d.is_error())
        .filter(|d| written.contains(d.path.as_path()) || !old.contains(&key(d)))
        .cloned()
        .collect()
}
