//! [`Store`]: creating, changing, renaming and deleting personas as file operations.
//!
//! Every write is validated with the same checks as `personactl validate` **before** the disk
//! is touched, written atomically (a temp file in the same folder, fsync, rename, fsync of the
//! folder), and an edit of an existing file is made in place with `toml_edit`, so comments,
//! key order and layout survive and the git diff is as small as the change.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::check::{Options, Tree, assemble, new_errors};
use crate::defaults::DEFAULT_PERSONA_ID;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::load::discover;
use crate::persona::{Persona, is_valid_id};
use crate::validate::{CheckedFile, check_text, stem_id};

mod atomic;
mod toml_text;

use atomic::{Pending, WriteError, sync_parent, write_all, write_atomic};

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
        let paths = discover(&self.dir)?;
        Ok(first_of_id(paths.iter().map(PathBuf::as_path), id).map(Path::to_path_buf))
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
    /// The files are then written, each atomically, with one flush to disk for the batch.
    /// Returns the path of each write, in order.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidId`], [`StoreError::Conflict`] (a created id exists, or one id
    /// is written twice), [`StoreError::NotFound`] (a replaced or deleted id does not),
    /// [`StoreError::IsDefault`], [`StoreError::Invalid`] with every error the batch would
    /// add, [`StoreError::LinkOutside`], [`StoreError::Io`]. Nothing is written in any of
    /// these cases, but for [`StoreError::Io`] during the writes themselves.
    pub fn apply(&self, ops: &[WriteOp]) -> Result<Vec<PathBuf>, StoreError> {
        self.apply_batch(ops, false).map(|applied| applied.paths)
    }

    /// [`Store::apply`], but a write that would leave its own file with errors is refused on
    /// its own and the rest of the batch is checked again without it (until what is left is
    /// accepted): how a bulk import writes every good file of a batch. Errors the batch
    /// would add to files it does not write refuse the whole batch.
    ///
    /// # Errors
    ///
    /// As [`Store::apply`]; [`StoreError::Invalid`] only for errors on files not written.
    pub fn apply_each(&self, ops: &[WriteOp]) -> Result<Applied, StoreError> {
        self.apply_batch(ops, true)
    }

    /// [`Store::apply_each`] of the writes `plan` makes from the directory as the write
    /// finds it under the store's lock (each persona file's own check, in path order), with
    /// whatever else `plan` returns: the directory is read and checked once, for the plan
    /// and for the verdict, and no other writer can change it in between. How an import
    /// matches what it brings with what the directory holds.
    ///
    /// # Errors
    ///
    /// As [`Store::apply_each`].
    pub fn apply_each_planned<T>(
        &self,
        plan: impl FnOnce(&[CheckedFile]) -> (Vec<WriteOp>, T),
    ) -> Result<(Applied, T), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let _lock = self.lock()?;
        let base = self.read_base()?;
        let (ops, planned) = match &base {
            Current::Disk { files, .. } => plan(files),
            // Checked against the registry: the plan still needs each file's own check.
            Current::Registry(_) => plan(&crate::check::check_files_lean(&self.tree()?)),
        };
        for op in &ops {
            self.admit(op)?;
        }
        let applied = self.apply_locked(&ops, true, base)?;
        Ok((applied, planned))
    }

    /// What a write may not be even before it is checked: an invalid id, or the removal of
    /// the default persona.
    fn admit(&self, op: &WriteOp) -> Result<(), StoreError> {
        check_id(op.id())?;
        if let WriteOp::Delete { id } = op {
            self.guard_default(id)?;
        }
        Ok(())
    }

    /// The directory as it is: read and each file checked on its own, once; or the registry
    /// writes are checked against, which holds that already.
    fn read_base(&self) -> Result<Current, StoreError> {
        if let Some(registry) = &self.registry {
            return Ok(Current::Registry(registry.clone()));
        }
        let tree = self.tree()?;
        // Only the verdict is wanted: no standalone personas.
        let files = crate::check::check_files_lean(&tree);
        Ok(Current::Disk { tree, files })
    }

    /// The directory's persona files (none when it does not exist yet).
    fn tree(&self) -> Result<Tree, StoreError> {
        Ok(if self.dir.exists() {
            Tree::from_dir(&self.dir)?
        } else {
            Tree::new(&self.dir)
        })
    }

    fn apply_batch(&self, ops: &[WriteOp], each: bool) -> Result<Applied, StoreError> {
        for op in ops {
            self.admit(op)?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let _lock = self.lock()?;
        let base = self.read_base()?;
        self.apply_locked(ops, each, base)
    }

    /// The batch write, under the store's lock, against `base` (from [`Store::read_base`]).
    fn apply_locked(
        &self,
        ops: &[WriteOp],
        each: bool,
        base: Current,
    ) -> Result<Applied, StoreError> {
        let existing: HashMap<String, PathBuf> = match &base {
            Current::Disk { tree, .. } => tree
                .paths()
                .filter_map(|p| Some((stem_id(p)?, p.to_path_buf())))
                .collect(),
            Current::Registry(_) => discover(&self.dir)?
                .into_iter()
                .filter_map(|p| Some((stem_id(&p)?, p)))
                .collect(),
        };
        let mut seen = HashSet::new();
        let mut paths = Vec::with_capacity(ops.len());
        for op in ops {
            let id = op.id().to_owned();
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
        // (index in the batch, path) of each write and each removal.
        let mut writes: Vec<(usize, &Path, &str)> = Vec::new();
        let mut removes: Vec<(usize, &Path)> = Vec::new();
        for (i, (op, path)) in ops.iter().zip(&paths).enumerate() {
            match op {
                WriteOp::Create { text, .. } | WriteOp::Replace { text, .. } => {
                    writes.push((i, path, text));
                }
                WriteOp::Delete { .. } => removes.push((i, path)),
            }
        }
        let mut proposal = self.propose_on(
            base,
            &writes.iter().map(|(_, p, t)| (*p, *t)).collect::<Vec<_>>(),
            &removes.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            None,
        )?;
        let mut keep_writes = vec![true; writes.len()];
        let keep_removes = vec![true; removes.len()];
        let mut refused = Vec::new();
        loop {
            let added = proposal.added(&keep_writes, &keep_removes);
            if added.is_empty() {
                break;
            }
            if !each {
                return Err(StoreError::Invalid { diagnostics: added });
            }
            let mut own: HashMap<&Path, Vec<Diagnostic>> = HashMap::new();
            let mut elsewhere = Vec::new();
            for d in added {
                match writes
                    .iter()
                    .zip(&keep_writes)
                    .find(|((_, p, _), keep)| **keep && *p == d.path.as_path())
                {
                    Some(((_, p, _), _)) => own.entry(*p).or_default().push(d),
                    None => elsewhere.push(d),
                }
            }
            if own.is_empty() {
                return Err(StoreError::Invalid {
                    diagnostics: elsewhere,
                });
            }
            for ((i, p, _), keep) in writes.iter().zip(keep_writes.iter_mut()) {
                if let Some(diagnostics) = own.remove(p) {
                    *keep = false;
                    refused.push((*i, diagnostics));
                }
            }
        }
        drop_later((proposal.base, proposal.checked));
        refused.sort_by_key(|(i, _)| *i);
        let kept: Vec<(usize, &Path, &str)> = writes
            .iter()
            .zip(&keep_writes)
            .filter(|(_, keep)| **keep)
            .map(|(w, _)| *w)
            .collect();
        self.write_batch(ops, &kept)?;
        for (_, path) in &removes {
            std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
            sync_parent(path).map_err(StoreError::Io)?;
        }
        let done: Vec<&Path> = kept
            .iter()
            .map(|(_, p, _)| *p)
            .chain(removes.iter().map(|(_, p)| *p))
            .collect();
        self.publish(&done);
        Ok(Applied { paths, refused })
    }

    /// Writes the accepted files of a batch (index in `ops`, path, text) with one flush:
    /// creations refuse to replace a file that appeared meanwhile, a replaced symbolic link
    /// is written through to its target as [`Store::write_text`] does.
    fn write_batch(
        &self,
        ops: &[WriteOp],
        kept: &[(usize, &Path, &str)],
    ) -> Result<(), StoreError> {
        let mut targets: Vec<PathBuf> = Vec::with_capacity(kept.len());
        for (i, path, _) in kept {
            targets.push(match ops[*i] {
                WriteOp::Create { .. } => path.to_path_buf(),
                _ => self.write_target(path)?,
            });
        }
        let pending: Vec<Pending<'_>> = kept
            .iter()
            .zip(&targets)
            .map(|((i, _, text), target)| Pending {
                path: target,
                text,
                create_new: matches!(ops[*i], WriteOp::Create { .. }),
            })
            .collect();
        write_all(&pending).map_err(|(k, e)| match (e, &ops[kept[k].0]) {
            (WriteError::Exists, WriteOp::Create { id, .. }) => StoreError::Conflict {
                id: id.clone(),
                path: kept[k].1.to_path_buf(),
            },
            (e, _) => e.into_store(),
        })
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
        let target = self.write_target(path)?;
        write_atomic(&target, text, false).map_err(WriteError::into_store)
    }

    /// The file a write of the existing `path` replaces: `path` itself, or the target of a
    /// symbolic link when that is inside the personas directory ([`StoreError::LinkOutside`]
    /// otherwise).
    fn write_target(&self, path: &Path) -> Result<PathBuf, StoreError> {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return Ok(path.to_path_buf());
        }
        let target = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let root = std::fs::canonicalize(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if !target.starts_with(&root) {
            return Err(StoreError::LinkOutside {
                path: path.to_path_buf(),
                target,
            });
        }
        Ok(target)
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
        // A symbolic link is written through to its target (see `write_over`); the link
        // itself is what step 2 moves.
        self.write_over(&old_path, &doc.to_string())?;
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
            self.write_over(&new_path, &new_text)?;
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
        // The directory is read once: the file to edit is found in the tree the verdict
        // checks against.
        let base = self.read_base()?;
        let path = match &base {
            Current::Disk { tree, .. } => first_of_id(tree.paths(), id)
                .map(Path::to_path_buf)
                .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?,
            Current::Registry(_) => self.existing(id)?,
        };
        let text = crate::load::read_limited_text(&path).map_err(|e| Error::io(&path, e))?;
        let mut doc = toml_text::parse(&path, &text)?;
        change(&mut doc)?;
        let new_text = doc.to_string();
        if new_text == text && revision.is_none() {
            drop_later(base);
            return Ok(path);
        }
        self.verdict_on(base, &[(&path, &new_text)], &[], Some((id, revision)))?;
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
        let base = self.read_base()?;
        self.verdict_on(base, writes, removes, precondition)
    }

    /// [`Store::verdict`] against the directory as `base` read it.
    fn verdict_on(
        &self,
        base: Current,
        writes: &[(&Path, &str)],
        removes: &[&Path],
        precondition: Option<(&str, Option<&str>)>,
    ) -> Result<(), StoreError> {
        let mut proposal = self.propose_on(base, writes, removes, precondition)?;
        let added = proposal.added(&vec![true; writes.len()], &vec![true; removes.len()]);
        drop_later((proposal.base, proposal.checked));
        if added.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid { diagnostics: added })
        }
    }

    /// The directory as `base` read it, checked once, against which `writes` and `removes`
    /// (or part of them) can be checked; [`StoreError::RevisionMismatch`] when
    /// `precondition` fails.
    fn propose_on<'a>(
        &self,
        base: Current,
        writes: &[(&'a Path, &str)],
        removes: &[&'a Path],
        precondition: Option<(&str, Option<&str>)>,
    ) -> Result<Proposal<'a>, StoreError> {
        let checked: Vec<CheckedFile> = {
            use rayon::prelude::*;
            writes.par_iter().map(|(p, t)| check_text(p, t)).collect()
        };
        let texts: Vec<Arc<str>> = writes.iter().map(|(_, t)| Arc::from(*t)).collect();
        let removes = removes.to_vec();
        let (tree, files) = match base {
            Current::Disk { tree, files } => (tree, files),
            Current::Registry(registry) => {
                return Self::propose_on_registry(registry, checked, texts, removes, precondition);
            }
        };
        // Only a revision precondition needs the resolved personas; the verdict itself needs
        // only the diagnostics.
        let options = Options {
            default_persona: self.default_persona.clone(),
            diagnostics_only: true,
        };
        let before = assemble(
            &tree,
            &files,
            &Options {
                diagnostics_only: !matches!(precondition, Some((_, Some(_)))),
                ..options.clone()
            },
        );
        if let Some((id, Some(expected))) = precondition {
            let current = before.entries.get(id).map_or("none", |e| e.revision());
            if current != expected {
                return Err(StoreError::RevisionMismatch {
                    id: id.to_owned(),
                    expected: expected.to_owned(),
                    current: current.to_owned(),
                });
            }
        }
        drop_later(before.entries);
        Ok(Proposal {
            checked,
            texts,
            removes,
            base: Base::Disk {
                tree,
                files,
                before: before.diagnostics,
                options,
            },
        })
    }

    /// [`Store::propose_on`] when writes are checked against the registry.
    fn propose_on_registry<'a>(
        registry: crate::Registry,
        checked: Vec<CheckedFile>,
        texts: Vec<Arc<str>>,
        removes: Vec<&'a Path>,
        precondition: Option<(&str, Option<&str>)>,
    ) -> Result<Proposal<'a>, StoreError> {
        if let Some((id, Some(expected))) = precondition {
            let snapshot = registry.snapshot();
            let current = snapshot.get(id).map_or("none", |e| e.revision());
            if current != expected {
                return Err(StoreError::RevisionMismatch {
                    id: id.to_owned(),
                    expected: expected.to_owned(),
                    current: current.to_owned(),
                });
            }
        }
        Ok(Proposal {
            checked,
            texts,
            removes,
            base: Base::Registry(registry),
        })
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

/// What [`Store::apply_each`] did with a batch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Applied {
    /// The path of every write of the batch, in its order (written or refused).
    pub paths: Vec<PathBuf>,
    /// The writes refused, by their index in the batch, each with the errors it would have
    /// left in its file; every other write was made.
    pub refused: Vec<(usize, Vec<Diagnostic>)>,
}

impl WriteOp {
    /// The persona id the write is for.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            WriteOp::Create { id, .. } | WriteOp::Replace { id, .. } | WriteOp::Delete { id } => id,
        }
    }
}

/// A proposed change (writes, each checked on its own, and removals) over the directory as
/// it was checked once, so that the change or any part of it can be judged without reading
/// the directory again.
struct Proposal<'a> {
    /// Each write's own check, in the order of the writes.
    checked: Vec<CheckedFile>,
    /// Each write's text.
    texts: Vec<Arc<str>>,
    removes: Vec<&'a Path>,
    base: Base,
}

/// What a write is checked against: the directory as the write found it under the store's
/// lock (its files, each checked on its own, in path order), or the registry the store is
/// attached to.
enum Current {
    Disk { tree: Tree, files: Vec<CheckedFile> },
    Registry(crate::Registry),
}

/// The directory the change is judged against.
enum Base {
    /// Read from disk: the tree; each file's own check, in the tree's order; and the tree's
    /// diagnostics.
    Disk {
        tree: Tree,
        files: Vec<CheckedFile>,
        before: Vec<Diagnostic>,
        options: Options,
    },
    /// As the registry the store is attached to holds it.
    Registry(crate::Registry),
}

impl Proposal<'_> {
    /// The errors the change would add, with only the writes and removals marked `true`:
    /// every error of a written file, and each error elsewhere the directory did not have.
    fn added(&mut self, keep_writes: &[bool], keep_removes: &[bool]) -> Vec<Diagnostic> {
        let writes: Vec<(&CheckedFile, &Arc<str>)> = self
            .checked
            .iter()
            .zip(&self.texts)
            .zip(keep_writes)
            .filter(|(_, keep)| **keep)
            .map(|(w, _)| w)
            .collect();
        let removes: Vec<&Path> = self
            .removes
            .iter()
            .zip(keep_removes)
            .filter(|(_, keep)| **keep)
            .map(|(p, _)| *p)
            .collect();
        let written: Vec<&Path> = writes.iter().map(|(c, _)| c.path.as_path()).collect();
        match &mut self.base {
            Base::Registry(registry) => {
                let checked: Vec<CheckedFile> = writes.iter().map(|(c, _)| (*c).clone()).collect();
                let (before, after) = registry.errors_now_and_after(&checked, &removes);
                new_errors(&before, &after, &written)
            }
            Base::Disk {
                tree,
                files,
                before,
                options,
            } => {
                // The change is put in place in the tree and the files (each written file's
                // check in its file's place, in path order), checked, and taken back out:
                // the directory's other files are neither copied nor moved.
                let mut undo_tree = Vec::with_capacity(writes.len() + removes.len());
                let mut changes = Vec::with_capacity(writes.len() + removes.len());
                for (c, text) in &writes {
                    undo_tree.push((
                        c.path.clone(),
                        tree.swap_in(c.path.clone(), Arc::clone(text)),
                    ));
                    changes.push((c.path.as_path(), Some((*c).clone())));
                }
                for path in &removes {
                    undo_tree.push((path.to_path_buf(), tree.take(path)));
                    changes.push((*path, None));
                }
                let undo_files = put_all(files, changes);
                let after = assemble(tree, files, options);
                for (path, entry) in undo_tree.into_iter().rev() {
                    tree.restore(path, entry);
                }
                undo_files.apply(files);
                let added = new_errors(before, &after.diagnostics, &written);
                drop_later(after);
                added
            }
        }
    }
}

/// How to take back a [`put_all`].
enum Undo {
    /// Files were replaced in place: their index and the file that was there.
    Replaced(Vec<(usize, CheckedFile)>),
    /// Files were inserted or removed: which entries of the list are the files that were
    /// there before (`true`) or the change's, and the files the change took out, each with
    /// its index before the change.
    Reordered {
        before: Vec<bool>,
        taken: Vec<(usize, CheckedFile)>,
    },
}

impl Undo {
    fn apply(self, files: &mut Vec<CheckedFile>) {
        let (before, taken) = match self {
            Undo::Replaced(replaced) => {
                for (at, c) in replaced {
                    files[at] = c;
                }
                return;
            }
            Undo::Reordered { before, taken } => (before, taken),
        };
        let mut restored = Vec::with_capacity(files.len() + taken.len());
        let mut taken = taken.into_iter().peekable();
        for (c, was_there) in std::mem::take(files).into_iter().zip(before) {
            while let Some((_, t)) = taken.next_if(|(at, _)| *at == restored.len()) {
                restored.push(t);
            }
            if was_there {
                restored.push(c);
            }
        }
        restored.extend(taken.map(|(_, t)| t));
        *files = restored;
    }
}

/// Puts each change in `files` (in path order): a file checked at its path (replacing the
/// one there, or inserted in order), or, for `None`, no file at that path. Replacements are
/// made in place; insertions and removals in one pass over the list, which moves each file
/// once (the files are not copied).
fn put_all(files: &mut Vec<CheckedFile>, mut changes: Vec<(&Path, Option<CheckedFile>)>) -> Undo {
    use crate::check::path_order;
    use std::cmp::Ordering;
    changes.sort_by(|a, b| path_order(a.0, b.0));
    let found: Vec<Result<usize, usize>> = changes
        .iter()
        .map(|(p, _)| files.binary_search_by(|c| path_order(&c.path, p)))
        .collect();
    if changes
        .iter()
        .zip(&found)
        .all(|((_, f), at)| f.is_some() && at.is_ok())
    {
        return Undo::Replaced(
            changes
                .into_iter()
                .zip(found)
                .filter_map(|((_, f), at)| Some((at.ok()?, f?)))
                .map(|(at, f)| (at, std::mem::replace(&mut files[at], f)))
                .collect(),
        );
    }
    let old = std::mem::take(files);
    let mut merged = Vec::with_capacity(old.len() + changes.len());
    let mut before = Vec::with_capacity(old.len() + changes.len());
    // Every entry of the new list, with whether it was there before.
    let mut put = |c: CheckedFile, was_there: bool| {
        merged.push(c);
        before.push(was_there);
    };
    let mut taken = Vec::new();
    let mut changes = changes.into_iter().peekable();
    for (i, c) in old.into_iter().enumerate() {
        while let Some((_, f)) = changes.next_if(|(p, _)| path_order(p, &c.path) == Ordering::Less)
        {
            f.into_iter().for_each(|f| put(f, false));
        }
        match changes.next_if(|(p, _)| path_order(p, &c.path) == Ordering::Equal) {
            Some((_, f)) => {
                taken.push((i, c));
                f.into_iter().for_each(|f| put(f, false));
            }
            None => put(c, true),
        }
    }
    changes.flat_map(|(_, f)| f).for_each(|f| put(f, false));
    *files = merged;
    Undo::Reordered { before, taken }
}

/// The file of persona `id` among `paths` (in path order): the first whose stem is the id.
fn first_of_id<'a>(mut paths: impl Iterator<Item = &'a Path>, id: &str) -> Option<&'a Path> {
    paths.find(|p| stem_id(p).as_deref() == Some(id))
}

/// Drops `value` on another thread: freeing a checked directory's thousands of small
/// allocations need not delay the answer (a one-shot process exits without waiting for it).
fn drop_later<T: Send + 'static>(value: T) {
    rayon::spawn(move || drop(value));
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

#[cfg(test)]
mod tests {
    use super::{Undo, put_all};
    use crate::validate::{CheckedFile, check_text};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// A checked file told apart by `marker` (the directory's: `false`, a change's: `true`).
    fn file(path: &str, marker: bool) -> CheckedFile {
        let mut c = check_text(Path::new(path), "");
        c.valid_alone = marker;
        c
    }

    fn view(files: &[CheckedFile]) -> Vec<(PathBuf, bool)> {
        files
            .iter()
            .map(|c| (c.path.clone(), c.valid_alone))
            .collect()
    }

    proptest! {
        #[test]
        fn put_all_makes_the_change_in_order_and_undo_takes_it_back(
            old in proptest::collection::btree_set("d/(x/)?[ab]{1,3}\\.toml", 0..12),
            changes in proptest::collection::btree_map("d/(x/)?[ab]{1,3}\\.toml", any::<bool>(), 0..6),
        ) {
            let old: BTreeSet<PathBuf> = old.iter().map(PathBuf::from).collect();
            // In path order, as a checked tree is.
            let mut files: Vec<CheckedFile> =
                old.iter().map(|p| file(&p.to_string_lossy(), false)).collect();
            let before = view(&files);
            let mut expected: BTreeMap<PathBuf, bool> =
                old.iter().map(|p| (p.clone(), false)).collect();
            for (p, write) in &changes {
                if *write {
                    expected.insert(PathBuf::from(p), true);
                } else {
                    expected.remove(Path::new(p));
                }
            }
            let change: Vec<(&Path, Option<CheckedFile>)> = changes
                .iter()
                .map(|(p, write)| (Path::new(p.as_str()), write.then(|| file(p, true))))
                .collect();
            let undo: Undo = put_all(&mut files, change);
            prop_assert_eq!(view(&files), expected.into_iter().collect::<Vec<_>>());
            undo.apply(&mut files);
            prop_assert_eq!(view(&files), before);
        }
    }
}
