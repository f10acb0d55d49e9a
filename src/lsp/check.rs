//! The one check the language server runs: a set of persona texts (the directory on disk with
//! the editor's buffers in place of their files) → the diagnostics `validate` would print for
//! them, and the resolved catalog. Everything else in the server reads only its result.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Catalog, CheckedFile, Code, Diagnostic, check_file, check_text};

/// Where one file's bytes come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The text (from disk or from an editor buffer).
    Text(Arc<str>),
    /// The file on disk cannot be used as text (unreadable, too large, not UTF-8): it is
    /// checked from disk so that the diagnostic is exactly the one `validate` gives.
    Unreadable,
}

/// What the check found.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Every diagnostic, by the path it is on (the personas directory itself for
    /// `default.missing`), each list in `validate`'s order.
    pub diagnostics: BTreeMap<PathBuf, Vec<Diagnostic>>,
    /// The valid personas, resolved (inheritance applied).
    pub catalog: Catalog,
}

/// Checks sets of files, remembering each file's own check by content so that a keystroke
/// re-checks one file and then only the rules across files.
#[derive(Debug)]
pub(crate) struct Checker {
    /// The personas directory (where `default.missing` is reported).
    root: PathBuf,
    /// The id the default persona must have, if any.
    default_persona: Option<String>,
    cache: HashMap<PathBuf, (Arc<str>, CheckedFile)>,
}

impl Checker {
    pub(crate) fn new(root: PathBuf, default_persona: Option<String>) -> Self {
        Checker {
            root,
            default_persona,
            cache: HashMap::new(),
        }
    }

    /// Checks `files` (sorted by path) as `personactl validate ROOT` checks the directory.
    pub(crate) fn check<'a>(
        &mut self,
        files: impl Iterator<Item = (&'a Path, &'a Source)>,
    ) -> Analysis {
        let mut checked = Vec::new();
        let mut seen = HashMap::with_capacity(self.cache.len());
        for (path, source) in files {
            let file = match source {
                Source::Unreadable => check_file(path),
                Source::Text(text) => match self.cache.remove(path) {
                    Some((old, file)) if Arc::ptr_eq(&old, text) || *old == **text => file,
                    _ => check_text(path, text),
                },
            };
            if let Source::Text(text) = source {
                seen.insert(path.to_path_buf(), (Arc::clone(text), file.clone()));
            }
            checked.push(file);
        }
        self.cache = seen;
        let has_default = self
            .default_persona
            .as_deref()
            .is_none_or(|default| checked.iter().any(|c| c.id.as_deref() == Some(default)));
        let catalog = Catalog::from_checked(checked);
        let mut diagnostics: BTreeMap<PathBuf, Vec<Diagnostic>> = BTreeMap::new();
        for d in &catalog.diagnostics {
            diagnostics
                .entry(d.path.clone())
                .or_default()
                .push(d.clone());
        }
        if let (false, Some(default)) = (has_default, &self.default_persona) {
            let d = Diagnostic::file_error(
                &self.root,
                Code::DefaultMissing,
                format!("the default persona `{default}` does not exist"),
            )
            .with_hint(format!(
                "add `{default}.toml`, or choose another default with --default-persona"
            ));
            let list = diagnostics.entry(self.root.clone()).or_default();
            list.push(d);
            list.sort_by_key(|d| (d.line, d.column));
        }
        Analysis {
            diagnostics,
            catalog,
        }
    }
}
