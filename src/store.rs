//! [`Store`]: creating, changing, renaming and deleting personas as file operations.
//!
//! Every write is validated with the same checks as `personactl validate` **before** the disk
//! is touched, written atomically (a temp file in the same folder, fsync, rename, fsync of the
//! folder), and an edit of an existing file is made in place with `toml_edit`, so comments,
//! key order and layout survive and the git diff is as small as the change.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::load::discover;
use crate::persona::{Persona, is_valid_id};
use rayon::prelude::*;

use crate::validate::{CheckedFile, check_file, check_text, resolve_checked, stem_id};

mod toml_text;

pub use toml_text::{render_new, render_value};

/// Why a write was refused or failed. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The id is not a valid persona id (which also keeps it from naming a path).
    #[error(
        "`{id}` is not a valid persona id: use lowercase kebab-case (a-z, 0-9, single hyphens), at most 64 characters"
    )]
    InvalidId {
        /// The refused id.
        id: String,
    },
    /// No persona file has this id.
    #[error("no persona `{id}`")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// A persona with this id already exists.
    #[error("persona `{id}` already exists ({})", path.display())]
    Conflict {
        /// The id.
        id: String,
        /// The existing file.
        path: PathBuf,
    },
    /// The key cannot be set (unknown, or not settable this way).
    #[error("unknown key `{key}`{}", hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    UnknownKey {
        /// The key as given.
        key: String,
        /// A suggestion.
        hint: Option<String>,
    },
    /// The new content is not a valid persona; the diagnostics say why.
    #[error("the new content is not a valid persona ({} problem(s))", diagnostics.len())]
    Invalid {
        /// The problems, located in the content that would have been written.
        diagnostics: Vec<Diagnostic>,
    },
    /// Other personas extend this one: deleting it would break them.
    #[error("persona `{id}` is extended by {}: change their `extends` first", children.join(", "))]
    HasChildren {
        /// The persona asked for.
        id: String,
        /// The ids of the personas that extend it.
        children: Vec<String>,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] Error),
}

/// Persona files under one personas directory, managed as files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store over the personas directory `dir` (created on the first write if missing).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    /// The personas directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that defines `id`, wherever it is under the directory.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidId`] for an invalid id; [`StoreError::Io`] when the directory
    /// cannot be listed.
    pub fn path_of(&self, id: &str) -> Result<Option<PathBuf>, StoreError> {
        check_id(id)?;
        if !self.dir.exists() {
            return Ok(None);
        }
        Ok(discover(&self.dir)?
            .into_iter()
            .find(|p| stem_id(p).as_deref() == Some(id)))
    }

    /// Creates `DIR/<id>.toml` from `persona`, laid out like a hand-written file.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the id exists (also when another writer creates it at the
    /// same moment: exactly one wins); [`StoreError::Invalid`] when the persona is invalid.
    pub fn create(&self, id: &str, persona: &Persona) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        self.create_text(id, &render_new(persona, 0))
    }

    /// Creates `DIR/<id>.toml` from a persona given as a JSON object (as an API receives it):
    /// unknown keys or wrong types are reported as diagnostics of the file it would write.
    ///
    /// # Errors
    ///
    /// As [`Store::create`].
    pub fn create_value(&self, id: &str, fields: &Value) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        self.create_text(id, &render_value(fields, 0))
    }

    /// Creates `DIR/<id>.toml` with `text` as written, after validating it.
    ///
    /// # Errors
    ///
    /// As [`Store::create`].
    pub fn create_text(&self, id: &str, text: &str) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let _lock = self.lock()?;
        if let Some(path) = self.path_of(id)? {
            return Err(StoreError::Conflict {
                id: id.to_owned(),
                path,
            });
        }
        let path = self.dir.join(format!("{id}.toml"));
        self.validated(&path, text)?;
        write_atomic(&path, text, true).map_err(|e| match e {
            WriteError::Exists => StoreError::Conflict {
                id: id.to_owned(),
                path: path.clone(),
            },
            WriteError::Io(e) => StoreError::Io(e),
        })?;
        Ok(path)
    }

    /// Replaces the persona `id` with `persona`, editing the file in place: keys whose value
    /// did not change keep their text, comments and position; changed keys keep their
    /// comments; removed keys go; new keys are added.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::Invalid`], [`StoreError::Io`].
    pub fn replace(&self, id: &str, persona: &Persona) -> Result<PathBuf, StoreError> {
        let new = serde_json::to_value(persona).unwrap_or(Value::Null);
        self.edit(id, |doc| {
            toml_text::apply(doc, &new);
            Ok(())
        })
    }

    /// Replaces persona `id` with `fields` (a JSON object), editing the file in place like
    /// [`Store::replace`]; keys absent from `fields` are removed.
    ///
    /// # Errors
    ///
    /// As [`Store::replace`].
    pub fn replace_value(&self, id: &str, fields: &Value) -> Result<PathBuf, StoreError> {
        self.edit(id, |doc| {
            toml_text::apply(doc, fields);
            Ok(())
        })
    }

    /// Applies a JSON merge patch (RFC 7386) to persona `id`: keys in `patch` replace (tables
    /// merge), `null` removes; everything else, and its comments, stays.
    ///
    /// # Errors
    ///
    /// As [`Store::replace`].
    pub fn patch_value(&self, id: &str, patch: &Value) -> Result<PathBuf, StoreError> {
        self.edit(id, |doc| {
            let mut current = toml_text::current_json(doc);
            merge_patch(&mut current, patch);
            toml_text::apply(doc, &current);
            Ok(())
        })
    }

    /// Sets one key (dotted for tables: `model.temperature`, `extensions.ui.accent`) to
    /// `raw`, parsed to the key's type: strings are taken as written; numbers, booleans and
    /// lists (`["a", "b"]`) are parsed as TOML values.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownKey`], [`StoreError::NotFound`], [`StoreError::Invalid`] (e.g. a
    /// temperature of 3), [`StoreError::Io`].
    pub fn set(&self, id: &str, key: &str, raw: &str) -> Result<PathBuf, StoreError> {
        let path: Vec<&str> = key.split('.').collect();
        toml_text::check_settable(&path)?;
        self.edit(id, |doc| toml_text::set(doc, &path, raw))
    }

    /// Removes one key (dotted as for [`Store::set`]).
    ///
    /// # Errors
    ///
    /// As [`Store::set`]; removing a required key is [`StoreError::Invalid`].
    pub fn unset(&self, id: &str, key: &str) -> Result<PathBuf, StoreError> {
        let path: Vec<&str> = key.split('.').collect();
        toml_text::check_settable(&path)?;
        self.edit(id, |doc| {
            toml_text::unset(doc, &path);
            Ok(())
        })
    }

    /// Replaces the whole text of persona `id` (as `personactl edit` does), after validating it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::Invalid`], [`StoreError::Io`].
    pub fn write_text(&self, id: &str, text: &str) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let path = self.existing(id)?;
        self.validated(&path, text)?;
        write_atomic(&path, text, false).map_err(WriteError::into_store)?;
        Ok(path)
    }

    /// Deletes persona `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::Io`].
    pub fn delete(&self, id: &str) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let path = self.existing(id)?;
        let children = self.children_of(id, &path)?;
        if !children.is_empty() {
            return Err(StoreError::HasChildren {
                id: id.to_owned(),
                children,
            });
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        sync_parent(&path).map_err(StoreError::Io)?;
        Ok(path)
    }

    /// Renames persona `old` to `new` in the same folder, adding `old` to its `aliases` so
    /// that sessions linked to the old id still resolve to it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for `old`, [`StoreError::Conflict`] when `new` exists,
    /// [`StoreError::Invalid`], [`StoreError::Io`].
    pub fn rename(&self, old: &str, new: &str) -> Result<PathBuf, StoreError> {
        check_id(old)?;
        check_id(new)?;
        let _lock = self.lock()?;
        let old_path = self.existing(old)?;
        if let Some(path) = self.path_of(new)? {
            return Err(StoreError::Conflict {
                id: new.to_owned(),
                path,
            });
        }
        let text = std::fs::read_to_string(&old_path).map_err(|e| Error::io(&old_path, e))?;
        let mut doc = toml_text::parse(&old_path, &text)?;
        toml_text::renamed(&mut doc, old, new);
        let new_path = old_path.with_file_name(format!("{new}.toml"));
        let new_text = doc.to_string();
        self.validated(&new_path, &new_text)?;
        write_atomic(&new_path, &new_text, true).map_err(|e| match e {
            WriteError::Exists => StoreError::Conflict {
                id: new.to_owned(),
                path: new_path.clone(),
            },
            WriteError::Io(e) => StoreError::Io(e),
        })?;
        std::fs::remove_file(&old_path).map_err(|e| Error::io(&old_path, e))?;
        sync_parent(&old_path).map_err(StoreError::Io)?;
        Ok(new_path)
    }

    /// Read-modify-write of an existing persona's document, under the store lock.
    fn edit(
        &self,
        id: &str,
        change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), StoreError>,
    ) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let path = self.existing(id)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut doc = toml_text::parse(&path, &text)?;
        change(&mut doc)?;
        let new_text = doc.to_string();
        if new_text == text {
            return Ok(path);
        }
        self.validated(&path, &new_text)?;
        write_atomic(&path, &new_text, false).map_err(WriteError::into_store)?;
        Ok(path)
    }

    /// Validates `text` as the file at `path` would be: on its own, and, when it extends
    /// another persona or uses a variable only an ancestor can declare, within its family in
    /// the directory (a missing or invalid parent, a cycle, an undeclared variable).
    fn validated(&self, path: &Path, text: &str) -> Result<(), StoreError> {
        let checked = check_text(path, text);
        if !checked.is_valid() {
            return Err(StoreError::Invalid {
                diagnostics: checked.diagnostics,
            });
        }
        if let Some(d) = checked
            .persona
            .as_ref()
            .and_then(|p| crate::tokens::budget_diagnostic(path, &checked.links, p, || None))
        {
            return Err(StoreError::Invalid {
                diagnostics: vec![d],
            });
        }
        if checked.links.extends.is_none() && checked.links.pending.is_empty() {
            return Ok(());
        }
        let others = self.others(path)?;
        let mut files: Vec<CheckedFile> = others.par_iter().map(|p| check_file(p)).collect();
        files.push(checked);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut resolution = resolve_checked(&files);
        let mut family: Vec<Diagnostic> = std::mem::take(&mut resolution.diagnostics)
            .into_iter()
            .filter(|(i, _)| files[*i].path == path)
            .map(|(_, d)| d)
            .collect();
        let (_, budgets) = crate::tokens::resolve_with_budgets(&files, &resolution);
        family.extend(budgets.into_iter().filter(|d| d.path == path));
        if family.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid {
                diagnostics: family,
            })
        }
    }

    /// Every persona file in the directory but `path` (none if the directory is missing).
    fn others(&self, path: &Path) -> Result<Vec<PathBuf>, StoreError> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        Ok(discover(&self.dir)?
            .into_iter()
            .filter(|p| p != path)
            .collect())
    }

    /// The ids of the personas whose `extends` names `id`.
    fn children_of(&self, id: &str, path: &Path) -> Result<Vec<String>, StoreError> {
        let others = self.others(path)?;
        let mut children: Vec<String> = others
            .par_iter()
            .map(|p| check_file(p))
            .filter(|c| c.links.extends.as_ref().is_some_and(|e| e.id == id))
            .filter_map(|c| c.id)
            .collect();
        children.sort();
        Ok(children)
    }

    fn existing(&self, id: &str) -> Result<PathBuf, StoreError> {
        self.path_of(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })
    }

    /// An exclusive advisory lock on `DIR/.personactl.lock`, serialising read-modify-write
    /// cycles of every personactl process (the file is hidden, so never read as a persona).
    fn lock(&self) -> Result<File, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let path = self.dir.join(".personactl.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.lock().map_err(|e| Error::io(&path, e))?;
        Ok(file)
    }
}

fn check_id(id: &str) -> Result<(), StoreError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(StoreError::InvalidId { id: id.to_owned() })
    }
}

enum WriteError {
    Exists,
    Io(Error),
}

impl WriteError {
    fn into_store(self) -> StoreError {
        match self {
            WriteError::Io(e) => StoreError::Io(e),
            WriteError::Exists => StoreError::Io(Error::io(
                PathBuf::new(),
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            )),
        }
    }
}

/// Writes `text` to `path` atomically: a hidden temp file in the same folder, fsync, rename
/// (or, with `create_new`, a rename that fails if `path` exists), fsync of the folder.
/// Readers see the old file or the new one, never a part.
fn write_atomic(path: &Path, text: &str, create_new: bool) -> Result<(), WriteError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let io = |e: std::io::Error| WriteError::Io(Error::io(path, e));
    let mut tmp = tempfile::Builder::new()
        .prefix(".personactl-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    if create_new {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists
            } else {
                io(e.error)
            }
        })?;
    } else {
        tmp.persist(path).map_err(|e| io(e.error))?;
    }
    sync_parent(path).map_err(WriteError::Io)
}

/// fsyncs the folder holding `path`, so that a rename or removal survives a crash.
fn sync_parent(path: &Path) -> Result<(), Error> {
    let folder = path.parent().unwrap_or(Path::new("."));
    File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(folder, e))
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
