//! The registry's writer side: every persona file it knows, and the incremental step that
//! turns a set of changed paths into the next [`Snapshot`] and its [`Event`]s.
//!
//! Only the paths given are read; a file whose content is unchanged (same hash) is not even
//! parsed. Entries of untouched files are shared with the previous snapshot.

use compact_str::CompactString;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::catalog::{Entry, revision};
use crate::diagnostic::Diagnostic;
use crate::events::Event;
use crate::load::read_source;
use crate::persona_file::PersonaFile;
use crate::resolve::{Node, resolve};
use crate::snapshot::Snapshot;
use crate::tokens;
use crate::validate::{CheckedFile, check_file, check_text, cross_file_diagnostics_in};

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

/// Every persona file the registry knows, in load order (`seq`): the first file loaded with
/// an id keeps it.
#[derive(Default)]
pub(crate) struct State {
    records: BTreeMap<u64, FileRecord>,
    seq_of: HashMap<PathBuf, u64>,
    /// id → the files named after it, in load order.
    claimants: HashMap<Arc<str>, BTreeSet<u64>>,
    /// alias → the live ids that list it.
    alias_claims: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Errors across files (duplicates), by path.
    cross: HashMap<PathBuf, Vec<Diagnostic>>,
    /// Errors of families (`extends.*`, placeholders no ancestor declares), by path.
    family: HashMap<PathBuf, Vec<Diagnostic>>,
    /// parent id → the files that name it in `extends`.
    children: HashMap<Arc<str>, BTreeSet<u64>>,
    /// Every error in the directory, sorted by path.
    errors: Arc<Vec<Diagnostic>>,
    next_seq: u64,
}

/// What reading one candidate path found.
enum Loaded {
    Unchanged,
    Gone,
    Checked(Box<CheckedFile>, Option<u64>),
}

/// What [`State::apply`] produced: the next snapshot and its events, when anything changed.
pub(crate) struct Applied {
    pub snapshot: Snapshot,
    pub events: Vec<Event>,
}

impl State {
    /// Every known persona file.
    pub fn known(&self) -> impl Iterator<Item = &Path> {
        self.seq_of.keys().map(PathBuf::as_path)
    }

    /// How many persona files are known.
    pub fn files(&self) -> usize {
        self.records.len()
    }

    /// Every error in the directory now.
    pub fn errors(&self) -> Arc<Vec<Diagnostic>> {
        Arc::clone(&self.errors)
    }

    /// Re-reads `candidates` and builds the next snapshot (generation `old.generation + 1`),
    /// or returns `None` when nothing a reader or subscriber can see changed.
    pub fn apply(&mut self, old: &Snapshot, candidates: BTreeSet<PathBuf>) -> Option<Applied> {
        let generation = old.generation + 1;
        let loaded: Vec<(PathBuf, Loaded)> = candidates
            .into_par_iter()
            .map(|p| {
                let prev = self
                    .seq_of
                    .get(&p)
                    .and_then(|s| self.records.get(s))
                    .map(|r| r.hash);
                let l = load(&p, prev);
                (p, l)
            })
            .collect();

        let mut touched: BTreeSet<Arc<str>> = BTreeSet::new();
        let mut changed: Vec<u64> = Vec::new();
        let mut any = false;
        // Whether the rules across files may judge differently now (a file added or removed,
        // an id or alias changed or moved).
        let mut cross_changed = false;
        for (path, l) in loaded {
            match l {
                Loaded::Unchanged => {}
                Loaded::Gone => {
                    if let Some(seq) = self.seq_of.remove(&path) {
                        any = true;
                        cross_changed = true;
                        self.family.remove(&path);
                        if let Some(r) = self.records.remove(&seq) {
                            self.unlink_parent(&r.skeleton, seq);
                            if let Some(id) = r.id {
                                self.unclaim(&id, seq);
                                touched.insert(id);
                            }
                        }
                    }
                }
                Loaded::Checked(checked, hash) => {
                    any = true;
                    let (seq, same) = self.record(path, *checked, hash);
                    cross_changed |= !same;
                    if let Some(id) = self.records.get(&seq).and_then(|r| r.id.clone()) {
                        touched.insert(id);
                    }
                    changed.push(seq);
                }
            }
        }
        if !any {
            return None;
        }
        let seeds: Vec<Arc<str>> = touched.iter().cloned().collect();
        touched.extend(self.resolve_families(&seeds, &changed));

        let mut snapshot = old.clone();
        snapshot.generation = generation;
        let mut events = Vec::new();
        let mut ids_changed = false;
        let mut touched_aliases: BTreeSet<Arc<str>> = BTreeSet::new();
        for id in touched {
            let new_live = self.live(&id);
            let old_live = old.by_id.get(&*id).cloned();
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
                None => ids_changed |= snapshot.by_id.remove(&*id).is_some(),
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
        if cross_changed
            || changed.iter().any(|seq| {
                self.records
                    .get(seq)
                    .is_some_and(|r| involved(&r.skeleton.path))
            })
        {
            self.refresh_cross();
        }
        self.refresh_errors();
        for seq in changed {
            let Some(r) = self.records.get(&seq) else {
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
            .find_map(|seq| self.records.get(seq)?.last_good.clone())
    }

    fn unclaim(&mut self, id: &Arc<str>, seq: u64) {
        if let Some(seqs) = self.claimants.get_mut(id) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.claimants.remove(id);
            }
        }
    }

    /// Stores a freshly checked file, keeping its last good version when it is invalid now.
    /// Returns its load order, and whether the rules across files see it as before.
    fn record(
        &mut self,
        path: PathBuf,
        mut checked: CheckedFile,
        hash: Option<u64>,
    ) -> (u64, bool) {
        let diagnostics = std::mem::take(&mut checked.diagnostics);
        checked.persona = None;
        let file = checked.file.take().map(Arc::new);
        let id: Option<Arc<str>> = checked.id.as_deref().map(Arc::from);
        let existing = self.seq_of.get(&path).copied();
        let seq = existing.unwrap_or_else(|| {
            self.next_seq += 1;
            self.seq_of.insert(path.clone(), self.next_seq);
            self.next_seq
        });
        let previous = self.records.remove(&seq);
        if let Some(p) = &previous {
            self.unlink_parent(&p.skeleton, seq);
        }
        if let Some(parent) = checked.extends() {
            self.children
                .entry(Arc::from(parent))
                .or_default()
                .insert(seq);
        }
        let same = previous
            .as_ref()
            .is_some_and(|p| p.skeleton.same_cross_facts(&checked));
        let (last_good, based_on) = previous.map_or((None, None), |p| (p.last_good, p.based_on));
        if let Some(id) = &id {
            self.claimants
                .entry(Arc::clone(id))
                .or_default()
                .insert(seq);
        }
        self.records.insert(
            seq,
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
        (seq, same)
    }

    /// Resolves every family (a walk over the links each check kept, no parsing) and
    /// re-merges only the files that changed or whose parent's version changed. A file whose
    /// family is broken keeps its last good version. Returns the ids whose version changed.
    fn resolve_families(&mut self, ids: &[Arc<str>], changed: &[u64]) -> Vec<Arc<str>> {
        let seqs: Vec<u64> = self
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
        let resolution = resolve(&nodes);
        let mut family: HashMap<PathBuf, Vec<Diagnostic>> = HashMap::new();
        for (i, d) in resolution.diagnostics {
            family
                .entry(records[i].skeleton.path.clone())
                .or_default()
                .push(d);
        }
        let resolved_paths: Vec<PathBuf> =
            records.iter().map(|r| r.skeleton.path.clone()).collect();
        let mut current: Vec<Option<Arc<Entry>>> = vec![None; records.len()];
        let mut over_budget = vec![false; records.len()];
        let mut updates: Vec<(usize, Option<Arc<Entry>>, Arc<Entry>)> = Vec::new();
        for &v in &resolution.order {
            let r = records[v];
            let parent = resolution.parent[v].and_then(|p| current[p].clone());
            let unchanged_parent = match (&r.based_on, &parent) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !r.stale && unchanged_parent && r.last_good.is_some() {
                current[v].clone_from(&r.last_good);
                continue;
            }
            let (Some(file), Some(id)) = (&r.file, &r.id) else {
                continue;
            };
            let persona = match &parent {
                Some(p) => Some(file.merge_onto(&p.persona)),
                None => file.standalone(),
            };
            let Some(persona) = persona else {
                if let Some(p) = resolution.parent[v].filter(|&p| over_budget[p]) {
                    let path = &r.skeleton.path;
                    let d = tokens::parent_over_budget(
                        path,
                        &r.skeleton.links,
                        &records[p].skeleton.path,
                    );
                    family.entry(path.clone()).or_default().push(d);
                    over_budget[v] = true;
                }
                continue;
            };
            let prompt_from = || {
                let mut up = resolution.parent[v];
                while let Some(p) = up {
                    if records[p]
                        .file
                        .as_ref()
                        .is_some_and(|f| f.system_prompt.is_some())
                    {
                        return records[p].id.as_deref().map(str::to_owned);
                    }
                    up = resolution.parent[p];
                }
                None
            };
            if let Some(d) = tokens::budget_diagnostic(
                &r.skeleton.path,
                &r.skeleton.links,
                &persona,
                prompt_from,
            ) {
                // Over its budget: the last good version stays live.
                family.entry(r.skeleton.path.clone()).or_default().push(d);
                over_budget[v] = true;
                continue;
            }
            let entry = match &r.last_good {
                Some(old) if *old.persona == persona && old.path == r.skeleton.path => {
                    Arc::clone(old)
                }
                _ => Arc::new(Entry {
                    id: id.to_string(),
                    path: r.skeleton.path.clone(),
                    revision: revision(&persona),
                    persona: Arc::new(persona),
                }),
            };
            current[v] = Some(Arc::clone(&entry));
            updates.push((v, parent, entry));
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

    fn unlink_parent(&mut self, skeleton: &CheckedFile, seq: u64) {
        if let Some(parent) = skeleton.extends()
            && let Some(kids) = self.children.get_mut(parent)
        {
            kids.remove(&seq);
            if kids.is_empty() {
                self.children.remove(parent);
            }
        }
    }

    /// The files whose family a change may affect, in load order: the changed files and
    /// every file of a touched id, all their descendants, and (so that each resolves as in a
    /// whole-directory pass) all their ancestors, with every file of each parent id.
    fn families_of(&self, ids: &[Arc<str>], changed: &[u64]) -> BTreeSet<u64> {
        let mut set: BTreeSet<u64> = changed.iter().copied().collect();
        let mut queue: Vec<Arc<str>> = ids.to_vec();
        queue.extend(
            changed
                .iter()
                .filter_map(|s| self.records.get(s)?.id.clone()),
        );
        let mut seen: BTreeSet<Arc<str>> = BTreeSet::new();
        while let Some(id) = queue.pop() {
            if !seen.insert(Arc::clone(&id)) {
                continue;
            }
            set.extend(self.claimants.get(&id).into_iter().flatten());
            for &c in self.children.get(&id).into_iter().flatten() {
                if set.insert(c)
                    && let Some(cid) = self.records.get(&c).and_then(|r| r.id.clone())
                {
                    queue.push(cid);
                }
            }
        }
        let mut up: Vec<u64> = set.iter().copied().collect();
        while let Some(s) = up.pop() {
            let Some(parent) = self.records.get(&s).and_then(|r| r.skeleton.extends()) else {
                continue;
            };
            for &c in self.claimants.get(parent).into_iter().flatten() {
                if set.insert(c) {
                    up.push(c);
                }
            }
        }
        set
    }

    /// Recomputes the rules across files, in load order.
    fn refresh_cross(&mut self) {
        let mut cross: HashMap<PathBuf, Vec<Diagnostic>> = HashMap::new();
        for d in cross_file_diagnostics_in(self.records.values().map(|r| &r.skeleton)) {
            cross.entry(d.path.clone()).or_default().push(d);
        }
        self.cross = cross;
    }

    /// Recomputes the list of every error.
    fn refresh_errors(&mut self) {
        let cross = &self.cross;
        let mut errors: Vec<Diagnostic> = self
            .records
            .values()
            .flat_map(|r| r.diagnostics.iter().filter(|d| d.is_error()).cloned())
            .chain(cross.values().flatten().cloned())
            .chain(self.family.values().flatten().cloned())
            .collect();
        errors.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        self.errors = Arc::new(errors);
    }
}

/// Reads one candidate path: gone, unchanged since `prev` (the hash last read, when the file
/// is known), or checked anew.
fn load(path: &Path, prev: Option<Option<u64>>) -> Loaded {
    if !path.is_file() {
        return if prev.is_some() {
            Loaded::Gone
        } else {
            Loaded::Unchanged
        };
    }
    match read_source(path) {
        Ok(text) => {
            let mut h = std::hash::DefaultHasher::new();
            text.hash(&mut h);
            let hash = h.finish();
            if prev == Some(Some(hash)) {
                Loaded::Unchanged
            } else {
                Loaded::Checked(Box::new(check_text(path, &text)), Some(hash))
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
