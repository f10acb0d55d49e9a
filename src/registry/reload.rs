//! The registry's writer side: every persona file it knows, and the incremental step that
//! turns a set of changed paths into the next [`Snapshot`] and its [`Event`]s.
//!
//! Only the paths given are read; a file whose content is unchanged (same hash) is not even
//! parsed. Entries of untouched files are shared with the previous snapshot.

use compact_str::CompactString;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::catalog::Entry;
use crate::check::{default_missing, path_order, resolve_one};
use crate::diagnostic::Diagnostic;
use crate::events::Event;
use crate::load::{outside_link, read_source};
use crate::persona_file::PersonaFile;
use crate::resolve::{Node, resolve};
use crate::snapshot::{IdHash, Snapshot};
use crate::tokens;
use crate::validate::{CheckedFile, check_file, check_text_with, cross_file_diagnostics_in};

/// One persona file as last read.
struct FileRecord {
    id: Option<Arc<str>>,
    /// The checked file without its persona and diagnostics: what the rules across files need.
    skeleton: CheckedFile,
    /// The file's own diagnostics (errors and warnings).
    diagnostics: Vec<Diagnostic>,
    /// Hash of the content last read (`None` when it could not be read).
    hash: Option<u64>,
    /// The file's content when it is valid on its own now.
    file: Option<Arc<PersonaFile>>,
    /// Whether `file` changed since `last_good` was resolved from it.
    stale: bool,
    /// The parent version `last_good` was merged onto (for a file with `extends`).
    based_on: Option<Arc<Entry>>,
    /// The last resolved version of the file, kept live while the file (or its family) is
    /// invalid.
    last_good: Option<Arc<Entry>>,
}

/// Every persona file the registry knows, in path order: as in a full check, the first file
/// (in path order) that defines an id keeps it.
#[derive(Default)]
pub(crate) struct ReloadState {
    /// By path (hashed: a reload looks every touched file up several times; where path
    /// order matters, the paths are sorted).
    records: HashMap<PathBuf, FileRecord, IdHash>,
    /// The files whose own diagnostics hold an error (so that the list of every error is
    /// made from them, not from every file).
    with_errors: HashSet<PathBuf, IdHash>,
    /// id → the files named after it, in path order.
    claimants: HashMap<Arc<str>, BTreeSet<PathBuf>>,
    /// alias → the live ids that list it.
    alias_claims: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Errors across files (duplicates), by path.
    cross: HashMap<PathBuf, Vec<Diagnostic>>,
    /// Errors of families (`extends.*`, placeholders no ancestor declares), by path.
    family: HashMap<PathBuf, Vec<Diagnostic>>,
    /// parent id → the files that name it in `extends`.
    children: HashMap<Arc<str>, BTreeSet<PathBuf>>,
    /// Entries of the directory that are not persona files it can read (a dangling link, a
    /// link loop), by path: one diagnostic each, as in a full check.
    problems: BTreeMap<PathBuf, Diagnostic>,
    /// Every error in the directory, sorted by path.
    errors: Arc<Vec<Diagnostic>>,
    /// The personas directory and the default persona, for `default.missing`.
    root: PathBuf,
    default_persona: Option<Arc<str>>,
}

/// What reading one candidate path found.
enum Loaded {
    Unchanged,
    Gone,
    Checked(Box<CheckedFile>, Option<u64>),
}

/// What [`ReloadState::apply`] produced: the next snapshot and its events, when anything changed.
pub(crate) struct Applied {
    pub snapshot: Snapshot,
    pub events: Vec<Event>,
}

impl ReloadState {
    /// An empty state for the personas directory `root`, reporting `default.missing` when
    /// no file defines `default_persona`.
    pub fn new(root: &Path, default_persona: Option<&str>) -> Self {
        ReloadState {
            root: root.to_path_buf(),
            default_persona: default_persona.map(Arc::from),
            ..ReloadState::default()
        }
    }

    /// Every known persona file, in no order.
    pub fn known(&self) -> impl Iterator<Item = &Path> {
        self.records.keys().map(PathBuf::as_path)
    }

    /// How many persona files are known.
    pub fn files(&self) -> usize {
        self.records.len()
    }

    /// Every error in the directory now.
    pub fn errors(&self) -> Arc<Vec<Diagnostic>> {
        Arc::clone(&self.errors)
    }

    /// Takes the entries a walk of the whole directory could not use (`all`), or, for the
    /// paths of a partial reload (`all` is `None`), looks at each again. Returns whether the
    /// list changed (the errors are then refreshed).
    pub fn note_problems(
        &mut self,
        all: Option<Vec<Diagnostic>>,
        paths: &BTreeSet<PathBuf>,
    ) -> bool {
        let before = self.problems.clone();
        match all {
            Some(all) => {
                self.problems = all.into_iter().map(|d| (d.path.clone(), d)).collect();
            }
            None => {
                for p in paths {
                    match crate::load::entry_problem(p) {
                        Some(d) => self.problems.insert(p.clone(), d),
                        None => self.problems.remove(p),
                    };
                }
            }
        }
        let changed = before != self.problems;
        if changed {
            self.refresh_errors();
        }
        changed
    }

    /// Re-reads `candidates` and builds the next snapshot (generation `old.generation + 1`),
    /// or returns `None` when nothing a reader or subscriber can see changed.
    pub fn apply(&mut self, old: &Snapshot, candidates: BTreeSet<PathBuf>) -> Option<Applied> {
        let generation = old.generation + 1;
        if self.records.is_empty() {
            // A first load: every file is new, so the maps are sized once.
            self.records.reserve(candidates.len());
            self.claimants.reserve(candidates.len());
        }
        let loaded: Vec<(PathBuf, Loaded)> = candidates
            .into_par_iter()
            .map(|p| {
                let prev = self.records.get(&p).map(|r| r.hash);
                let l = load(&self.root, &p, prev);
                (p, l)
            })
            .collect();
        // (Collected, then sorted once: a first load touches every id.)
        let mut touched: Vec<Arc<str>> = Vec::new();
        let mut changed: Vec<PathBuf> = Vec::new();
        let mut any = false;
        // Whether the rules across files may judge differently now (a file added or removed,
        // an id or alias changed or moved).
        let mut cross_changed = false;
        for (path, l) in loaded {
            match l {
                Loaded::Unchanged => {}
                Loaded::Gone => {
                    if let Some(r) = self.records.remove(&path) {
                        self.with_errors.remove(&path);
                        any = true;
                        cross_changed = true;
                        self.family.remove(&path);
                        self.unlink_parent(&r.skeleton, &path);
                        if let Some(id) = r.id {
                            self.unclaim(&id, &path);
                            touched.push(id);
                        }
                    }
                }
                Loaded::Checked(checked, hash) => {
                    any = true;
                    let same = self.record(path.clone(), *checked, hash);
                    cross_changed |= !same;
                    if let Some(id) = self.records.get(&path).and_then(|r| r.id.clone()) {
                        touched.push(id);
                    }
                    changed.push(path);
                }
            }
        }
        if !any {
            return None;
        }
        touched.sort_unstable();
        touched.dedup();
        let also = self.resolve_families(&touched, &changed);
        let touched: BTreeSet<Arc<str>> = touched.into_iter().chain(also).collect();

        let mut snapshot = old.clone();
        snapshot.generation = generation;
        let mut events = Vec::new();
        let mut ids_changed = false;
        let mut touched_aliases: BTreeSet<Arc<str>> = BTreeSet::new();
        for id in touched {
            let new_live = self.live(&id);
            let old_live = old.by_id.get(&id).cloned();
            let event = match (&old_live, &new_live) {
                (Some(o), Some(n)) if Arc::ptr_eq(o, n) => continue,
                (None, None) => continue,
                (Some(_), Some(n)) => Event::Updated {
                    id: id.to_string(),
                    path: n.path.clone(),
                    generation,
                },
                (None, Some(n)) => Event::Added {
                    id: id.to_string(),
                    path: n.path.clone(),
                    generation,
                },
                (Some(o), None) => Event::Removed {
                    id: id.to_string(),
                    path: o.path.clone(),
                    generation,
                },
            };
            events.push(event);
            if let Some(o) = &old_live {
                for a in &o.persona.aliases {
                    let a: Arc<str> = Arc::from(a.as_str());
                    if let Some(ids) = self.alias_claims.get_mut(&a) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.alias_claims.remove(&a);
                        }
                    }
                    touched_aliases.insert(a);
                }
            }
            match new_live {
                Some(n) => {
                    for a in &n.persona.aliases {
                        let a: Arc<str> = Arc::from(a.as_str());
                        self.alias_claims
                            .entry(Arc::clone(&a))
                            .or_default()
                            .insert(Arc::clone(&id));
                        touched_aliases.insert(a);
                    }
                    ids_changed |= snapshot
                        .by_id
                        .insert(CompactString::from(&*id), n)
                        .is_none();
                }
                None => ids_changed |= snapshot.by_id.remove(&id).is_some(),
            }
        }
        if ids_changed {
            let mut order: Vec<Arc<str>> = snapshot
                .by_id
                .keys()
                .map(|k| Arc::from(k.as_str()))
                .collect();
            order.sort_unstable();
            snapshot.order = Arc::from(order);
        }
        for a in touched_aliases {
            match self.alias_claims.get(&a).and_then(|ids| ids.first()) {
                Some(id) => snapshot.aliases.insert(a, Arc::clone(id)),
                None => snapshot.aliases.remove(&a),
            };
        }

        let involved = |path: &Path| {
            self.cross
                .values()
                .flatten()
                .any(|d| d.path == path || d.related.iter().any(|r| r.path == path))
        };
        if cross_changed || changed.iter().any(|p| involved(p)) {
            self.refresh_cross(&changed);
        }
        self.refresh_errors();
        for path in changed {
            let Some(r) = self.records.get(&path) else {
                continue;
            };
            let cross = self.cross.get(&r.skeleton.path);
            let family = self.family.get(&r.skeleton.path);
            let mut diagnostics: Vec<Diagnostic> = r
                .diagnostics
                .iter()
                .chain(cross.into_iter().flatten())
                .chain(family.into_iter().flatten())
                .cloned()
                .collect();
            if diagnostics.iter().any(Diagnostic::is_error) {
                diagnostics.sort_by_key(|d| (d.line, d.column));
                events.push(Event::Invalid {
                    id: r.id.as_deref().map(str::to_owned),
                    path: r.skeleton.path.clone(),
                    generation,
                    diagnostics,
                });
            }
        }
        if events.is_empty() {
            return None;
        }
        events.sort_by(|a, b| (a.path(), a.name()).cmp(&(b.path(), b.name())));
        Some(Applied { snapshot, events })
    }

    /// The live version of `id`: the last good version of the first-loaded file named `id`
    /// that has one.
    fn live(&self, id: &str) -> Option<Arc<Entry>> {
        self.claimants
            .get(id)?
            .iter()
            .find_map(|p| self.records.get(p)?.last_good.clone())
    }

    /// The file that defines `id` now (the first in path order), valid or not.
    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        self.claimants.get(id)?.first().cloned()
    }

    /// Every error the directory would have with `writes` (files checked on their own, at
    /// their paths) in place and `removes` gone, as a full check of the result would report
    /// it, computed from the known files without reading the directory: the rules across
    /// files over every file (no parsing; skipped when the change keeps every name where the
    /// rules cannot judge differently), families only for the files the change may affect,
    /// and the default persona. The same functions as [`ReloadState::apply`] and the
    /// full check.
    pub fn errors_after(&self, writes: &[CheckedFile], removes: &[&Path]) -> Vec<Diagnostic> {
        let changed: Vec<PathBuf> = writes
            .iter()
            .map(|c| c.path.clone())
            .chain(removes.iter().map(|p| p.to_path_buf()))
            .collect();
        // A handful of paths (one write, as a rule) are compared directly: hashing a path
        // costs more than comparing it, and this runs for every known file.
        let changed_set: std::collections::HashSet<&Path> = if changed.len() > 8 {
            changed.iter().map(PathBuf::as_path).collect()
        } else {
            std::collections::HashSet::new()
        };
        let is_changed = |p: &Path| {
            if changed.len() > 8 {
                changed_set.contains(p)
            } else {
                changed.iter().any(|c| same_file(c, p))
            }
        };
        // The rules across files judge by names (ids, aliases) and where they are written:
        // when every write keeps its file's names and none of the changed files takes part in
        // a duplicate now, their verdict is the one they give now. Otherwise every file, in
        // path order, the writes in place.
        let involved = |path: &Path| {
            self.cross
                .values()
                .flatten()
                .any(|d| d.path == path || d.related.iter().any(|r| r.path == path))
        };
        let names_kept = removes.is_empty()
            && writes.iter().all(|w| {
                self.records
                    .get(&w.path)
                    .is_some_and(|r| r.skeleton.same_names(w))
                    && !involved(&w.path)
            });
        let mut after: Vec<Diagnostic> = if names_kept {
            self.cross
                .values()
                .flatten()
                .filter(|d| d.is_error())
                .cloned()
                .collect()
        } else {
            let mut files: Vec<&CheckedFile> = self
                .records
                .iter()
                .filter(|(p, _)| !is_changed(p))
                .map(|(_, r)| &r.skeleton)
                .chain(writes.iter())
                .collect();
            files.sort_unstable_by(|a, b| path_order(&a.path, &b.path));
            cross_file_diagnostics_in(files.iter().copied())
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect()
        };
        // Entries that are not persona files, and each file's own errors.
        after.extend(self.problems.values().cloned());
        after.extend(
            self.with_errors
                .iter()
                .filter(|p| !is_changed(p))
                .filter_map(|p| self.records.get(p))
                .flat_map(|r| r.diagnostics.iter().filter(|d| d.is_error()).cloned()),
        );
        after.extend(
            writes
                .iter()
                .flat_map(|c| c.diagnostics.iter().filter(|d| d.is_error()).cloned()),
        );
        // Families: those the change may touch are resolved anew, the others keep theirs.
        let mut seeds: Vec<Arc<str>> = changed
            .iter()
            .filter_map(|p| crate::validate::stem_id(p).map(Arc::from))
            .collect();
        seeds.extend(writes.iter().filter_map(|c| c.extends().map(Arc::from)));
        let known_changed: Vec<PathBuf> = changed
            .iter()
            .filter(|p| self.records.contains_key(*p))
            .cloned()
            .collect();
        let subset: Vec<PathBuf> = self
            .families_of(&seeds, &known_changed)
            .into_iter()
            .filter(|p| !is_changed(p))
            .collect();
        let mut nodes: Vec<&CheckedFile> = subset
            .iter()
            .filter_map(|p| self.records.get(p).map(|r| &r.skeleton))
            .chain(writes.iter())
            .collect();
        nodes.sort_by(|a, b| path_order(&a.path, &b.path));
        let family = resolve(
            &nodes
                .iter()
                .map(|c| Node {
                    path: &c.path,
                    id: c.id.as_deref(),
                    links: &c.links,
                    valid: c.valid_alone,
                })
                .collect::<Vec<_>>(),
        );
        // Prompt budgets of the families resolved anew, merged and counted as a full check
        // does (a base edit can push a child over its budget): only when one of them has one.
        let file_of = |c: &CheckedFile| -> Option<Arc<PersonaFile>> {
            match &c.file {
                Some(f) => Some(Arc::clone(f)),
                None if !is_changed(&c.path) => self.records.get(&c.path)?.file.clone(),
                None => None,
            }
        };
        let has_budget = |f: &PersonaFile| {
            f.model
                .as_ref()
                .is_some_and(|m| m.max_prompt_tokens.is_some())
        };
        let declares = |c: &CheckedFile| match &c.file {
            Some(f) => has_budget(f),
            None => self
                .records
                .get(&c.path)
                .and_then(|r| r.file.as_deref())
                .is_some_and(has_budget),
        };
        if nodes.iter().any(|c| declares(c)) {
            let with_files: Vec<CheckedFile> = nodes
                .iter()
                .map(|c| {
                    let mut c = (*c).clone();
                    c.file = file_of(&c);
                    c
                })
                .collect();
            let budgeted = tokens::budgeted_families(&with_files, &family);
            let (_, budgets) = tokens::resolve_with_budgets(&with_files, &family, Some(&budgeted));
            after.extend(budgets.into_iter().filter(Diagnostic::is_error));
        }
        let resolved_anew: BTreeSet<&Path> = nodes.iter().map(|c| c.path.as_path()).collect();
        after.extend(
            self.family
                .iter()
                .filter(|(p, _)| !resolved_anew.contains(p.as_path()) && !is_changed(p))
                .flat_map(|(_, ds)| ds.iter().filter(|d| d.is_error()).cloned()),
        );
        after.extend(
            family
                .diagnostics
                .iter()
                .filter(|(_, d)| d.is_error())
                .map(|(_, d)| d.clone()),
        );
        // The default persona, judged as a full check does.
        if let Some(default) = &self.default_persona {
            let anew = nodes
                .iter()
                .enumerate()
                .any(|(i, c)| c.id.as_deref() == Some(&**default) && family.ok[i]);
            let kept = self
                .claimants
                .get(&**default)
                .into_iter()
                .flatten()
                .any(|p| {
                    !resolved_anew.contains(p.as_path())
                        && !is_changed(p)
                        && self
                            .records
                            .get(p)
                            .is_some_and(|r| r.file.is_some() && !r.stale)
                        && !self
                            .family
                            .get(p)
                            .is_some_and(|ds| ds.iter().any(Diagnostic::is_error))
                });
            if !anew && !kept {
                after.push(default_missing(&self.root, default));
            }
        }
        after.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        after
    }

    /// Whether a file defines `id` validly now: valid on its own, and its family resolves.
    fn valid_now(&self, id: &str) -> bool {
        self.claimants.get(id).into_iter().flatten().any(|p| {
            self.records
                .get(p)
                .is_some_and(|r| r.file.is_some() && !r.stale)
                && !self
                    .family
                    .get(p)
                    .is_some_and(|ds| ds.iter().any(Diagnostic::is_error))
        })
    }

    fn unclaim(&mut self, id: &Arc<str>, path: &Path) {
        if let Some(seqs) = self.claimants.get_mut(id) {
            seqs.remove(path);
            if seqs.is_empty() {
                self.claimants.remove(id);
            }
        }
    }

    /// Stores a freshly checked file, keeping its last good version when it is invalid now.
    /// Returns whether the rules across files see it as before.
    fn record(&mut self, path: PathBuf, mut checked: CheckedFile, hash: Option<u64>) -> bool {
        let diagnostics = std::mem::take(&mut checked.diagnostics);
        if diagnostics.iter().any(Diagnostic::is_error) {
            self.with_errors.insert(path.clone());
        } else {
            self.with_errors.remove(&path);
        }
        checked.persona = None;
        let file = checked.file.take();
        let id: Option<Arc<str>> = checked.id.as_deref().map(Arc::from);
        let previous = self.records.remove(&path);
        if let Some(p) = &previous {
            self.unlink_parent(&p.skeleton, &path);
            if let Some(old_id) = &p.id
                && id.as_ref() != Some(old_id)
            {
                self.unclaim(old_id, &path);
            }
        }
        if let Some(parent) = checked.extends() {
            self.children
                .entry(Arc::from(parent))
                .or_default()
                .insert(path.clone());
        }
        let same = previous
            .as_ref()
            .is_some_and(|p| p.skeleton.same_cross_facts(&checked));
        let (last_good, based_on) = previous.map_or((None, None), |p| (p.last_good, p.based_on));
        if let Some(id) = &id {
            self.claimants
                .entry(Arc::clone(id))
                .or_default()
                .insert(path.clone());
        }
        self.records.insert(
            path,
            FileRecord {
                id,
                skeleton: checked,
                diagnostics,
                hash,
                file,
                stale: true,
                based_on,
                last_good,
            },
        );
        same
    }

    /// Resolves every family (a walk over the links each check kept, no parsing) and
    /// re-merges only the files that changed or whose parent's version changed. A file whose
    /// family is broken keeps its last good version. Returns the ids whose version changed.
    fn resolve_families(&mut self, ids: &[Arc<str>], changed: &[PathBuf]) -> Vec<Arc<str>> {
        let seqs: Vec<PathBuf> = self
            .families_of(ids, changed)
            .into_iter()
            .filter(|s| self.records.contains_key(s))
            .collect();
        let records: Vec<&FileRecord> = seqs.iter().filter_map(|s| self.records.get(s)).collect();
        let nodes: Vec<Node<'_>> = records
            .iter()
            .map(|r| Node {
                path: &r.skeleton.path,
                id: r.skeleton.id.as_deref(),
                links: &r.skeleton.links,
                valid: r.skeleton.valid_alone,
            })
            .collect();
        let mut resolution = resolve(&nodes);
        let mut family: HashMap<PathBuf, Vec<Diagnostic>> = HashMap::new();
        for (i, d) in std::mem::take(&mut resolution.diagnostics) {
            family
                .entry(records[i].skeleton.path.clone())
                .or_default()
                .push(d);
        }
        let resolved_paths: Vec<PathBuf> =
            records.iter().map(|r| r.skeleton.path.clone()).collect();
        // Each file on its parent's outcome, one level of the families at a time, on all
        // cores (the merge, the budget and the revision hash are the cost of a large load).
        let outcomes = resolution.by_levels(|v, parent: Option<&Outcome>| {
            let r = records[v];
            let parent_out = resolution.parent[v].and(parent);
            if let Some(p) = resolution.parent[v].filter(|_| parent_out.is_some_and(|o| o.over)) {
                // As in a full check: the child of a parent over its budget is left out too.
                let d = tokens::parent_over_budget(
                    &r.skeleton.path,
                    &r.skeleton.links,
                    &records[p].skeleton.path,
                );
                return Some(Outcome::over(d));
            }
            let parent_entry = parent_out.and_then(|o| o.current.clone());
            let unchanged_parent = match (&r.based_on, &parent_entry) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !r.stale && unchanged_parent && r.last_good.is_some() {
                return Some(Outcome::kept(r.last_good.clone()));
            }
            let (Some(file), Some(id)) = (&r.file, &r.id) else {
                return Some(Outcome::kept(None));
            };
            let Some(persona) = resolve_one(file, parent_entry.as_deref().map(|p| &*p.persona))
            else {
                return Some(Outcome::kept(None));
            };
            let prompt_from = || {
                tokens::inherited_prompt_from(&resolution, v, |p| {
                    (records[p].file.as_deref(), records[p].id.as_deref())
                })
            };
            if let Some(d) = tokens::budget_diagnostic(
                &r.skeleton.path,
                &r.skeleton.links,
                &persona,
                prompt_from,
            ) {
                // Over its budget: the last good version stays live.
                return Some(Outcome::over(d));
            }
            let entry = match &r.last_good {
                Some(old) if *old.persona == persona && old.path == r.skeleton.path => {
                    Arc::clone(old)
                }
                _ => Arc::new(Entry::new(
                    id.to_string(),
                    r.skeleton.path.clone(),
                    Arc::new(persona),
                )),
            };
            Some(Outcome {
                current: Some(Arc::clone(&entry)),
                over: false,
                diagnostic: None,
                update: Some((parent_entry, entry)),
            })
        });
        let mut updates: Vec<(usize, Option<Arc<Entry>>, Arc<Entry>)> = Vec::new();
        let mut outcomes = outcomes;
        for &v in &resolution.order {
            let Some(outcome) = outcomes[v].take() else {
                continue;
            };
            if let Some(d) = outcome.diagnostic {
                family
                    .entry(records[v].skeleton.path.clone())
                    .or_default()
                    .push(d);
            }
            if let Some((parent, entry)) = outcome.update {
                updates.push((v, parent, entry));
            }
        }
        for path in resolved_paths {
            self.family.remove(&path);
        }
        self.family.extend(family);
        let mut touched = Vec::new();
        for (v, parent, entry) in updates {
            if let Some(r) = self.records.get_mut(&seqs[v]) {
                let changed = !r.last_good.as_ref().is_some_and(|o| Arc::ptr_eq(o, &entry));
                if changed && let Some(id) = &r.id {
                    touched.push(Arc::clone(id));
                }
                r.stale = false;
                r.based_on = parent;
                r.last_good = Some(entry);
            }
        }
        touched
    }

    fn unlink_parent(&mut self, skeleton: &CheckedFile, path: &Path) {
        if let Some(parent) = skeleton.extends()
            && let Some(kids) = self.children.get_mut(parent)
        {
            kids.remove(path);
            if kids.is_empty() {
                self.children.remove(parent);
            }
        }
    }

    /// The files whose family a change may affect, in path order: the changed files and
    /// every file of a touched id, all their descendants, and (so that each resolves as in a
    /// whole-directory pass) all their ancestors, with every file of each parent id.
    fn families_of(&self, ids: &[Arc<str>], changed: &[PathBuf]) -> Vec<PathBuf> {
        if changed.len() >= self.records.len() {
            // Every file changed (a first load): every family, without following links.
            return self.in_path_order(changed).into_iter().cloned().collect();
        }
        let mut set: HashSet<PathBuf, IdHash> = changed.iter().cloned().collect();
        let mut queue: Vec<Arc<str>> = ids.to_vec();
        queue.extend(
            changed
                .iter()
                .filter_map(|s| self.records.get(s)?.id.clone()),
        );
        let mut seen: HashSet<Arc<str>, IdHash> = HashSet::default();
        while let Some(id) = queue.pop() {
            if !seen.insert(Arc::clone(&id)) {
                continue;
            }
            set.extend(self.claimants.get(&id).into_iter().flatten().cloned());
            for c in self.children.get(&id).into_iter().flatten() {
                if set.insert(c.clone())
                    && let Some(cid) = self.records.get(c).and_then(|r| r.id.clone())
                {
                    queue.push(cid);
                }
            }
        }
        let mut up: Vec<PathBuf> = set.iter().cloned().collect();
        while let Some(s) = up.pop() {
            let Some(parent) = self.records.get(&s).and_then(|r| r.skeleton.extends()) else {
                continue;
            };
            for c in self.claimants.get(parent).into_iter().flatten() {
                if set.insert(c.clone()) {
                    up.push(c.clone());
                }
            }
        }
        let mut paths: Vec<PathBuf> = set.into_iter().collect();
        paths.sort_unstable_by(|a, b| path_order(a, b));
        paths
    }

    /// Every known file in path order. `changed` (distinct known files, as [`apply`] collects
    /// them) is that list already when it holds every file and is sorted, as on a first load,
    /// whose files are read in path order: then nothing is sorted.
    ///
    /// [`apply`]: ReloadState::apply
    fn in_path_order<'a>(&'a self, changed: &'a [PathBuf]) -> Vec<&'a PathBuf> {
        if changed.len() == self.records.len()
            && changed.is_sorted_by(|a, b| path_order(a, b).is_le())
        {
            return changed.iter().collect();
        }
        let mut paths: Vec<&PathBuf> = self.records.keys().collect();
        paths.sort_unstable_by(|a, b| path_order(a, b));
        paths
    }

    /// Recomputes the rules across files, in path order (`changed` as for
    /// [`in_path_order`](ReloadState::in_path_order)).
    fn refresh_cross(&mut self, changed: &[PathBuf]) {
        let mut cross: HashMap<PathBuf, Vec<Diagnostic>> = HashMap::new();
        let files: Vec<&CheckedFile> = self
            .in_path_order(changed)
            .into_iter()
            .filter_map(|p| self.records.get(p))
            .map(|r| &r.skeleton)
            .collect();
        for d in cross_file_diagnostics_in(files.iter().copied()) {
            cross.entry(d.path.clone()).or_default().push(d);
        }
        self.cross = cross;
    }

    /// Recomputes the list of every error.
    fn refresh_errors(&mut self) {
        let cross = &self.cross;
        let mut errors: Vec<Diagnostic> = self
            .with_errors
            .iter()
            .filter_map(|p| self.records.get(p))
            .flat_map(|r| r.diagnostics.iter().filter(|d| d.is_error()).cloned())
            .chain(self.problems.values().cloned())
            .chain(cross.values().flatten().cloned())
            .chain(self.family.values().flatten().cloned())
            .collect();
        // As in a full check: the default persona exists when a file defines it validly now
        // (a last good version kept live does not count).
        if let Some(default) = &self.default_persona
            && !self.valid_now(default)
        {
            errors.push(default_missing(&self.root, default));
        }
        errors.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        self.errors = Arc::new(errors);
    }
}

/// What resolving one file of a family gave: its live version now, whether it (or an
/// ancestor) is over its token budget, the diagnostic of that, and the version to record
/// as its last good one (with the parent version it was merged on).
struct Outcome {
    current: Option<Arc<Entry>>,
    over: bool,
    diagnostic: Option<Diagnostic>,
    update: Option<(Option<Arc<Entry>>, Arc<Entry>)>,
}

impl Outcome {
    fn kept(current: Option<Arc<Entry>>) -> Self {
        Outcome {
            current,
            over: false,
            diagnostic: None,
            update: None,
        }
    }

    fn over(d: Diagnostic) -> Self {
        Outcome {
            current: None,
            over: true,
            diagnostic: Some(d),
            update: None,
        }
    }
}

/// `a == b` for paths, fast when they differ in their last component (the rule for files of
/// one directory): comparing a `Path` walks its components, comparing bytes does not.
fn same_file(a: &Path, b: &Path) -> bool {
    fn last(p: &Path) -> &[u8] {
        let bytes = p.as_os_str().as_encoded_bytes();
        bytes.rsplit(|&c| c == b'/').next().unwrap_or(bytes)
    }
    a.as_os_str() == b.as_os_str() || (last(a) == last(b) && a == b)
}

/// Reads one candidate path: gone, unchanged since `prev` (the hash last read, when the file
/// is known), or checked anew.
fn load(root: &Path, path: &Path, prev: Option<Option<u64>>) -> Loaded {
    // A regular file, not a link (one `lstat`, what almost every file is): it is a file, and
    // right in the directory it cannot lead outside it.
    let plain = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if !plain && !path.is_file() {
        return if prev.is_some() {
            Loaded::Gone
        } else {
            Loaded::Unchanged
        };
    }
    // The symlink policy of a full check: a link leading outside the directory is not read.
    let may_lead_outside = !root.as_os_str().is_empty() && (!plain || path.parent() != Some(root));
    if may_lead_outside && let Some(d) = outside_link(root, path) {
        return Loaded::Checked(Box::new(CheckedFile::unreadable(path, d)), None);
    }
    match read_source(path) {
        Ok(text) => {
            // Only to tell an unchanged file from a changed one: a fast fixed hash.
            let hash = foldhash::quality::FixedState::with_seed(0).hash_one(text.as_bytes());
            if prev == Some(Some(hash)) {
                Loaded::Unchanged
            } else {
                // Without the standalone persona: a record keeps the file, never that copy.
                Loaded::Checked(Box::new(check_text_with(path, &text, false)), Some(hash))
            }
        }
        // Deleted between the check and the read: a removal, not an unreadable file.
        Err(_) if !path.exists() => match prev {
            Some(_) => Loaded::Gone,
            None => Loaded::Unchanged,
        },
        Err(_) => Loaded::Checked(Box::new(check_file(path)), None),
    }
}
