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

use crate::check::{Options, Tree, assemble, check_files, new_errors};
use crate::defaults::DEFAULT_PERSONA_ID;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::load::discover;
use crate::persona::{Persona, is_valid_id};
use crate::validate::{CheckedFile, check_text, stem_id};

mod toml_text;

pub use toml_text::{NotToml, check_representable, render_new, render_value};

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
    /// The file changed since the caller read it (another writer came first).
    #[error("{} changed since it was read (another command or editor wrote it); nothing written", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The persona file is a symbolic link to a file outside the personas directory: it is
    /// not written through.
    #[error("{} is a symbolic link to {}, outside the personas directory; refusing to write through it (replace the link with a file)", path.display(), target.display())]
    LinkOutside {
        /// The link.
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
    /// The persona is the default persona: sessions without a persona fall back to it.
    #[error("`{id}` is the default persona: sessions without a persona fall back to it")]
    IsDefault {
        /// The persona asked for.
        id: String,
    },
    /// The persona changed since the revision the caller last read (a failed precondition).
    #[error("persona `{id}` changed since revision {expected} (now {current})")]
    RevisionMismatch {
        /// The persona.
        id: String,
        /// The revision the caller expected.
        expected: String,
        /// The revision on disk now.
        current: String,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] Error),
}

/// One write of a batch applied with [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Create `DIR/<id>.toml` with `text` (refused if the id exists).
    Create {
        /// The new persona's id.
        id: String,
        /// The whole file.
        text: String,
    },
    /// Replace the whole text of the existing persona `id`.
    Replace {
        /// The persona's id.
        id: String,
        /// The whole new file.
        text: String,
    },
    /// Delete the persona `id`.
    Delete {
        /// The persona's id.
        id: String,
    },
}

/// Persona files under one personas directory, managed as files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    default_persona: Option<String>,
    registry: Option<crate::Registry>,
}

impl Store {
    /// A store over the personas directory `dir` (created on the first write if missing),
    /// guarding the default persona `journaling-assistant`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store {
            dir: dir.into(),
            default_persona: Some(DEFAULT_PERSONA_ID.to_owned()),
            registry: None,
        }
    }

    /// A store that checks its writes against `registry`, a registry over the same directory
    /// that holds every file already checked: a write then costs what it touches (the written
    /// files, the rules across files, the families involved), not a read of the directory.
    /// Each write is applied to the registry before the store lock is released, so the next
    /// write and its revision precondition see it. Edits made outside personactl reach the
    /// registry within its debounce.
    #[must_use]
    pub fn with_registry(mut self, registry: crate::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The default persona this store guards: it cannot be deleted or renamed, and a write
    /// that would leave the directory without it is refused (`None`: no guard).
    #[must_use]
    pub fn with_default_persona(mut self, id: Option<String>) -> Self {
        self.default_persona = id;
        self
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
        if let Some(path) = self.registry.as_ref().and_then(|r| r.path_of(id))
            && path.is_file()
        {
            return Ok(Some(path));
        }
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
        toml_text::check_representable(fields)
            .map_err(|e| e.into_store_error(&self.dir.join(format!("{id}.toml"))))?;
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
        self.verdict(&[(&path, text)], &[], None)?;
        write_atomic(&path, text, true).map_err(|e| match e {
            WriteError::Exists => StoreError::Conflict {
                id: id.to_owned(),
                path: path.clone(),
            },
            WriteError::Io(e) => StoreError::Io(e),
        })?;
        self.publish(&[&path]);
        Ok(path)
    }

    /// Applies a batch of writes as one change: the directory is read and checked once, with
    /// every write of the batch in place (so the cost follows the batch and the directory
    /// once, not their product), and nothing is written unless the whole batch is accepted.
    /// The files are then written one by one, each atomically, creations first in the
    /// batch's order. Returns the path of each write, in order.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidId`], [`StoreError::Conflict`] (a created id exists, or one id
    /// is written twice), [`StoreError::NotFound`] (a replaced or deleted id does not),
    /// [`StoreError::IsDefault`], [`StoreError::Invalid`] with every error the batch would
    /// add, [`StoreError::Io`]. Nothing is written in any of these cases, but for
    /// [`StoreError::Io`] during the writes themselves.
    pub fn apply(&self, ops: &[WriteOp]) -> Result<Vec<PathBuf>, StoreError> {
        let id_of = |op: &WriteOp| match op {
            WriteOp::Create { id, .. } | WriteOp::Replace { id, .. } | WriteOp::Delete { id } => {
                id.clone()
            }
        };
        for op in ops {
            check_id(&id_of(op))?;
            if let WriteOp::Delete { id } = op {
                self.guard_default(id)?;
            }
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let _lock = self.lock()?;
        let existing: std::collections::HashMap<String, PathBuf> = discover(&self.dir)?
            .into_iter()
            .filter_map(|p| Some((stem_id(&p)?, p)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut paths = Vec::with_capacity(ops.len());
        for op in ops {
            let id = id_of(op);
            let path = match (op, existing.get(&id)) {
                (WriteOp::Create { .. }, Some(path)) => {
                    return Err(StoreError::Conflict {
                        id,
                        path: path.clone(),
                    });
                }
                (WriteOp::Create { .. }, None) => self.dir.join(format!("{id}.toml")),
                (_, Some(path)) => path.clone(),
                (_, None) => return Err(StoreError::NotFound { id }),
            };
            if !seen.insert(id.clone()) {
                return Err(StoreError::Conflict { id, path });
            }
            paths.push(path);
        }
        let writes: Vec<(&Path, &str)> = ops
            .iter()
            .zip(&paths)
            .filter_map(|(op, p)| match op {
                WriteOp::Create { text, .. } | WriteOp::Replace { text, .. } => {
                    Some((p.as_path(), text.as_str()))
                }
                WriteOp::Delete { .. } => None,
            })
            .collect();
        let removes: Vec<&Path> = ops
            .iter()
            .zip(&paths)
            .filter(|(op, _)| matches!(op, WriteOp::Delete { .. }))
            .map(|(_, p)| p.as_path())
            .collect();
        self.verdict(&writes, &removes, None)?;
        for (op, path) in ops.iter().zip(&paths) {
            match op {
                WriteOp::Create { id, text } => {
                    write_atomic(path, text, true).map_err(|e| match e {
                        WriteError::Exists => StoreError::Conflict {
                            id: id.clone(),
                            path: path.clone(),
                        },
                        WriteError::Io(e) => StoreError::Io(e),
                    })?;
                }
                WriteOp::Replace { text, .. } => {
                    write_atomic(path, text, false).map_err(WriteError::into_store)?;
                }
                WriteOp::Delete { .. } => {
                    std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
                    sync_parent(path).map_err(StoreError::Io)?;
                }
            }
        }
        self.publish(&paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        Ok(paths)
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
        self.replace_value_if(id, fields, None)
    }

    /// [`Store::replace_value`], only if the persona's revision is still `revision` (checked
    /// under the store lock, with the write: of concurrent writers holding one revision,
    /// exactly one wins).
    ///
    /// # Errors
    ///
    /// As [`Store::replace`], and [`StoreError::RevisionMismatch`].
    pub fn replace_value_if(
        &self,
        id: &str,
        fields: &Value,
        revision: Option<&str>,
    ) -> Result<PathBuf, StoreError> {
        toml_text::check_representable(fields)
            .map_err(|e| e.into_store_error(&self.dir.join(format!("{id}.toml"))))?;
        self.edit_if(id, revision, |doc| {
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
        self.patch_value_if(id, patch, None)
    }

    /// [`Store::patch_value`], only if the persona's revision is still `revision` (see
    /// [`Store::replace_value_if`]).
    ///
    /// # Errors
    ///
    /// As [`Store::replace`], and [`StoreError::RevisionMismatch`].
    pub fn patch_value_if(
        &self,
        id: &str,
        patch: &Value,
        revision: Option<&str>,
    ) -> Result<PathBuf, StoreError> {
        self.edit_if(id, revision, |doc| {
            let mut current = toml_text::current_json(doc);
            merge_patch(&mut current, patch);
            toml_text::check_representable(&current)
                .map_err(|e| e.into_store_error(&self.dir.join(format!("{id}.toml"))))?;
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
        self.verdict(&[(&path, text)], &[], None)?;
        self.write_over(&path, text)?;
        self.publish(&[&path]);
        Ok(path)
    }

    /// [`Store::write_text`], only if the file still holds `expected` (what the caller read
    /// before it began its change): checked and written under the store's lock, so that a
    /// change made meanwhile is never overwritten.
    ///
    /// # Errors
    ///
    /// [`StoreError::Changed`] when the file holds something else now; as [`Store::write_text`].
    pub fn write_text_if_unchanged(
        &self,
        id: &str,
        text: &str,
        expected: &str,
    ) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let path = self.existing(id)?;
        let now = crate::load::read_limited(&path).map_err(|e| Error::io(&path, e))?;
        if now != expected.as_bytes() {
            return Err(StoreError::Changed { path });
        }
        self.verdict(&[(&path, text)], &[], None)?;
        self.write_over(&path, text)?;
        Ok(path)
    }

    /// Replaces the existing file at `path`. A symbolic link is written through to its target
    /// when the target is inside the personas directory (the link stays a link), and refused
    /// otherwise.
    fn write_over(&self, path: &Path, text: &str) -> Result<(), StoreError> {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return write_atomic(path, text, false).map_err(WriteError::into_store);
        }
        let target = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let root = std::fs::canonicalize(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if !target.starts_with(&root) {
            return Err(StoreError::LinkOutside {
                path: path.to_path_buf(),
                target,
            });
        }
        write_atomic(&target, text, false).map_err(WriteError::into_store)
    }

    /// Deletes persona `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::IsDefault`], [`StoreError::HasChildren`],
    /// [`StoreError::Invalid`] (the directory would have new errors), [`StoreError::Io`].
    pub fn delete(&self, id: &str) -> Result<PathBuf, StoreError> {
        self.delete_if(id, None)
    }

    /// [`Store::delete`], only if the persona's revision is still `revision` (see
    /// [`Store::replace_value_if`]).
    ///
    /// # Errors
    ///
    /// As [`Store::delete`], and [`StoreError::RevisionMismatch`].
    pub fn delete_if(&self, id: &str, revision: Option<&str>) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        self.guard_default(id)?;
        let _lock = self.lock()?;
        let path = self.existing(id)?;
        self.verdict(&[], &[&path], Some((id, revision)))
            .map_err(|e| children_error(e, id))?;
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        sync_parent(&path).map_err(StoreError::Io)?;
        self.publish(&[&path]);
        Ok(path)
    }

    /// Renames persona `old` to `new` in the same folder, adding `old` to its `aliases` so
    /// that sessions linked to the old id still resolve to it.
    ///
    /// The rename is made so that a crash at any point leaves one file, never two: first the
    /// old file gets its new content (with `old` among its aliases, valid under either name),
    /// then one `rename(2)` moves it, then an `id` key, if the file has one, is updated.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for `old`, [`StoreError::Conflict`] when `new` exists,
    /// [`StoreError::IsDefault`], [`StoreError::Invalid`] (e.g. other personas extend `old`),
    /// [`StoreError::Io`].
    pub fn rename(&self, old: &str, new: &str) -> Result<PathBuf, StoreError> {
        check_id(old)?;
        check_id(new)?;
        self.guard_default(old)?;
        let _lock = self.lock()?;
        let old_path = self.existing(old)?;
        if let Some(path) = self.path_of(new)? {
            return Err(StoreError::Conflict {
                id: new.to_owned(),
                path,
            });
        }
        let text =
            crate::load::read_limited_text(&old_path).map_err(|e| Error::io(&old_path, e))?;
        let mut doc = toml_text::parse(&old_path, &text)?;
        toml_text::renamed(&mut doc, old, new);
        let new_path = old_path.with_file_name(format!("{new}.toml"));
        let new_text = doc.to_string();
        self.verdict(&[(&new_path, &new_text)], &[&old_path], None)
            .map_err(|e| children_error(e, old))?;
        // Step 1: the content, under the old name (an `id` key would not match it yet).
        let had_id = doc.remove("id").is_some();
        write_atomic(&old_path, &doc.to_string(), false).map_err(WriteError::into_store)?;
        // Step 2: one atomic move (the store lock keeps other personactl writers out; the
        // existence check above is repeated to narrow the window for anyone else).
        if new_path.exists() {
            return Err(StoreError::Conflict {
                id: new.to_owned(),
                path: new_path,
            });
        }
        std::fs::rename(&old_path, &new_path).map_err(|e| Error::io(&new_path, e))?;
        sync_parent(&new_path).map_err(StoreError::Io)?;
        // Step 3: the `id` key, when the file had one.
        if had_id {
            write_atomic(&new_path, &new_text, false).map_err(WriteError::into_store)?;
        }
        self.publish(&[&old_path, &new_path]);
        Ok(new_path)
    }

    /// Read-modify-write of an existing persona's document, under the store lock.
    fn edit(
        &self,
        id: &str,
        change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), StoreError>,
    ) -> Result<PathBuf, StoreError> {
        self.edit_if(id, None, change)
    }

    /// Read-modify-write under the store lock, with an optional revision precondition.
    fn edit_if(
        &self,
        id: &str,
        revision: Option<&str>,
        change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), StoreError>,
    ) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let path = self.existing(id)?;
        let text = crate::load::read_limited_text(&path).map_err(|e| Error::io(&path, e))?;
        let mut doc = toml_text::parse(&path, &text)?;
        change(&mut doc)?;
        let new_text = doc.to_string();
        if new_text == text && revision.is_none() {
            return Ok(path);
        }
        self.verdict(&[(&path, &new_text)], &[], Some((id, revision)))?;
        if new_text == text {
            return Ok(path);
        }
        self.write_over(&path, &new_text)?;
        self.publish(&[&path]);
        Ok(path)
    }

    /// Checks a proposed change exactly as `personactl validate` would check the directory
    /// after it, through the one check pipeline: the tree on disk with `writes` put in place
    /// and `removes` left out. Refused when the change would add an error (every error of a
    /// written file, and each error elsewhere the directory did not have before), or when
    /// `precondition` names a persona whose revision is no longer the one given. Called
    /// under the store lock, so the check and the write see the same directory.
    fn verdict(
        &self,
        writes: &[(&Path, &str)],
        removes: &[&Path],
        precondition: Option<(&str, Option<&str>)>,
    ) -> Result<(), StoreError> {
        if let Some(registry) = &self.registry {
            if let Some((id, Some(expected))) = precondition {
                let snapshot = registry.snapshot();
                let current = snapshot.get(id).map_or("none", |e| e.revision.as_str());
                if current != expected {
                    return Err(StoreError::RevisionMismatch {
                        id: id.to_owned(),
                        expected: expected.to_owned(),
                        current: current.to_owned(),
                    });
                }
            }
            let checked: Vec<CheckedFile> = writes.iter().map(|(p, t)| check_text(p, t)).collect();
            let (before, mut after) = registry.errors_now_and_after(&checked, removes);
            // The token budget of each written persona, resolved onto its live parent.
            let snapshot = registry.snapshot();
            for c in &checked {
                let Some(file) = &c.file else { continue };
                let parent = c.extends().and_then(|id| snapshot.get(id));
                if c.extends().is_some() && parent.is_none() {
                    continue; // already `extends.*`
                }
                let resolved = crate::check::resolve_one(file, parent.map(|p| p.persona.as_ref()));
                let from = || {
                    file.system_prompt
                        .is_none()
                        .then(|| parent.map(|p| p.id.clone()))
                        .flatten()
                };
                if let Some(d) = resolved
                    .and_then(|r| crate::tokens::budget_diagnostic(&c.path, &c.links, &r, from))
                {
                    after.push(d);
                }
            }
            let written: Vec<&Path> = writes.iter().map(|(p, _)| *p).collect();
            let added = new_errors(&before, &after, &written);
            return if added.is_empty() {
                Ok(())
            } else {
                Err(StoreError::Invalid { diagnostics: added })
            };
        }
        let base = if self.dir.exists() {
            Tree::from_dir(&self.dir)?
        } else {
            Tree::new(&self.dir)
        };
        // Only a revision precondition needs the resolved personas; the verdict itself needs
        // only the diagnostics.
        let options = Options {
            default_persona: self.default_persona.clone(),
            diagnostics_only: true,
        };
        let files = check_files(&base);
        let before = assemble(
            &base,
            &files,
            &Options {
                diagnostics_only: !matches!(precondition, Some((_, Some(_)))),
                ..options.clone()
            },
        );
        if let Some((id, Some(expected))) = precondition {
            let current = before
                .entries
                .get(id)
                .map_or("none", |e| e.revision.as_str());
            if current != expected {
                return Err(StoreError::RevisionMismatch {
                    id: id.to_owned(),
                    expected: expected.to_owned(),
                    current: current.to_owned(),
                });
            }
        }
        let mut proposed = base;
        let changed: Vec<&Path> = writes
            .iter()
            .map(|(p, _)| *p)
            .chain(removes.iter().copied())
            .collect();
        for (path, text) in writes {
            proposed.insert(*path, *text);
        }
        for path in removes {
            proposed.remove(path);
        }
        // Files the change does not touch keep their first-stage results.
        let mut after_files: Vec<CheckedFile> = files
            .into_iter()
            .filter(|c| !changed.contains(&c.path.as_path()))
            .collect();
        after_files.extend(writes.iter().map(|(p, t)| check_text(p, t)));
        after_files.sort_by(|a, b| a.path.cmp(&b.path));
        let after = assemble(&proposed, &after_files, &options);
        let written: Vec<&Path> = writes.iter().map(|(p, _)| *p).collect();
        let added = new_errors(&before.diagnostics, &after.diagnostics, &written);
        if added.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid { diagnostics: added })
        }
    }

    /// Applies written paths to the registry the store checks against (if any), before the
    /// store lock is released. A failure only delays them to the registry's next reload.
    fn publish(&self, paths: &[&Path]) {
        if let Some(registry) = &self.registry {
            let _ = registry.reload_paths(paths);
        }
    }

    fn guard_default(&self, id: &str) -> Result<(), StoreError> {
        if self.default_persona.as_deref() == Some(id) {
            return Err(StoreError::IsDefault { id: id.to_owned() });
        }
        Ok(())
    }

    fn existing(&self, id: &str) -> Result<PathBuf, StoreError> {
        self.path_of(id)?
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })
    }

    /// An exclusive advisory lock on the personas directory itself (`flock(2)` on the
    /// folder), serialising read-modify-write cycles of every personactl process without
    /// leaving a file of its own in the directory.
    fn lock(&self) -> Result<File, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        #[cfg(unix)]
        let (path, file) = (self.dir.clone(), File::open(&self.dir));
        #[cfg(not(unix))]
        let (path, file) = {
            // Folders cannot be opened as files here: a hidden lock file instead.
            let path = self.dir.join(".personactl.lock");
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path);
            (path, file)
        };
        let file = file.map_err(|e| Error::io(&path, e))?;
        file.lock().map_err(|e| Error::io(&path, e))?;
        Ok(file)
    }
}

/// A refusal only because other personas extend `id` (their `extends` would dangle) is
/// [`StoreError::HasChildren`], naming them.
fn children_error(e: StoreError, id: &str) -> StoreError {
    match e {
        StoreError::Invalid { diagnostics }
            if !diagnostics.is_empty()
                && diagnostics
                    .iter()
                    .all(|d| d.code == crate::diagnostic::Code::ExtendsMissing) =>
        {
            let mut children: Vec<String> = diagnostics
                .iter()
                .filter_map(|d| stem_id(&d.path))
                .collect();
            children.sort();
            children.dedup();
            StoreError::HasChildren {
                id: id.to_owned(),
                children,
            }
        }
        other => other,
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
