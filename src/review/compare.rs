//! Comparing two [`Side`]s persona by persona: what each resolved persona will say, before
//! and after.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::check::Side;
use crate::{Diagnostic, Entry, Vars, stem_id};

/// What `{{user_name}}` becomes when the caller gives none and the persona declares no
/// default: a stand-in that keeps the output stable.
const USER_NAME_STAND_IN: &str = "[user_name]";

/// The fields of a resolved persona in the order a reader expects them.
const FIELD_ORDER: &[&str] = &[
    "schema_version",
    "name",
    "description",
    "icon",
    "system_prompt",
    "greeting",
    "tags",
    "starters",
    "hidden",
    "order",
    "aliases",
    "model",
    "vars",
    "extensions",
];

/// Tables whose keys are compared one by one (`model.temperature`, `vars.tone`).
const TABLES: &[&str] = &["model", "vars", "extensions"];

/// The texts shown as unified diffs.
pub(crate) const DIFFED: &[&str] = &["system_prompt", "greeting"];

/// How a persona differs between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    /// Only on the new side (or valid only there).
    Added,
    /// Only on the old side.
    Removed,
    /// On the new side under a new id that lists the old one in `aliases`.
    Renamed,
    /// On both sides, resolved differently.
    Changed,
    /// Its file on the new side has errors.
    Invalid,
}

impl ChangeStatus {
    /// The word used in every output format.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Added => "added",
            ChangeStatus::Removed => "removed",
            ChangeStatus::Renamed => "renamed",
            ChangeStatus::Changed => "changed",
            ChangeStatus::Invalid => "invalid",
        }
    }
}

/// One field that changed: its dotted name and both values (`null` where absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// `name`, `system_prompt` (rendered), `model.temperature`, `vars.tone`, …
    pub field: String,
    /// The old value.
    pub old: Value,
    /// The new value.
    pub new: Value,
}

/// One persona that is not unchanged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaChange {
    /// The id on the new side (the old one for a removed persona).
    pub id: String,
    /// How it differs.
    pub status: ChangeStatus,
    /// The former id, for a renamed persona.
    pub renamed_from: Option<String>,
    /// The ancestors (nearest first) through which it changed, when its own file did not.
    pub via: Vec<String>,
    /// The fields that changed, old → new (prompts rendered).
    pub fields: Vec<FieldChange>,
    /// Unified diffs of the rendered `system_prompt` and `greeting`, for those that differ.
    pub diff: BTreeMap<String, String>,
    /// The problems of an invalid persona's file (the same shape as `validate --format json`).
    pub diagnostics: Vec<Diagnostic>,
    /// The persona's revision on the new side, when it is valid there.
    #[serde(skip)]
    pub revision: Option<String>,
}

/// How many personas are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Added personas.
    pub added: usize,
    /// Removed personas.
    pub removed: usize,
    /// Renamed personas.
    pub renamed: usize,
    /// Changed personas.
    pub changed: usize,
    /// Invalid personas.
    pub invalid: usize,
    /// Personas that resolve the same on both sides.
    pub unchanged: usize,
}

impl Summary {
    /// Whether anything is not unchanged.
    #[must_use]
    pub fn any_change(&self) -> bool {
        self.added + self.removed + self.renamed + self.changed + self.invalid > 0
    }
}

/// Compares every persona of `old` with `new`; personas come out sorted by id.
#[must_use]
pub fn compare(old: &Side, new: &Side, vars: &Vars) -> (Summary, Vec<PersonaChange>) {
    let mut summary = Summary::default();
    let mut out = Vec::new();
    let mut consumed: BTreeSet<&str> = BTreeSet::new();
    for id in new.files.keys() {
        let Some(entry) = new.catalog.entries.get(id) else {
            consumed.insert(id);
            out.push(invalid(new, id));
            continue;
        };
        if let Some(before) = old.catalog.entries.get(id) {
            consumed.insert(id);
            match change(old, Some(before), new, Some(entry), vars) {
                Some(c) => out.push(c),
                None => summary.unchanged += 1,
            }
            continue;
        }
        if old.files.contains_key(id) {
            consumed.insert(id);
        } else if let Some(alias) = entry.persona.aliases.iter().find(|a| {
            old.catalog.entries.contains_key(a.as_str())
                && !new.files.contains_key(a.as_str())
                && !consumed.contains(a.as_str())
        }) {
            consumed.insert(alias);
            let before = old.catalog.entries.get(alias);
            if let Some(c) = change(old, before, new, Some(entry), vars) {
                out.push(c);
            }
            continue;
        }
        if let Some(c) = change(old, None, new, Some(entry), vars) {
            out.push(c);
        }
    }
    for id in old.files.keys() {
        if consumed.contains(id.as_str()) || new.files.contains_key(id) {
            continue;
        }
        let before = old.catalog.entries.get(id);
        let c = change(old, before, new, None, vars).unwrap_or_else(|| PersonaChange {
            id: id.clone(),
            status: ChangeStatus::Removed,
            renamed_from: None,
            via: Vec::new(),
            fields: Vec::new(),
            diff: BTreeMap::new(),
            diagnostics: Vec::new(),
            revision: None,
        });
        out.push(c);
    }
    for c in &out {
        match c.status {
            ChangeStatus::Added => summary.added += 1,
            ChangeStatus::Removed => summary.removed += 1,
            ChangeStatus::Renamed => summary.renamed += 1,
            ChangeStatus::Changed => summary.changed += 1,
            ChangeStatus::Invalid => summary.invalid += 1,
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    (summary, out)
}

/// The invalid persona `id` of `side`, with the diagnostics of its file.
pub(crate) fn invalid(side: &Side, id: &str) -> PersonaChange {
    let path = side.files.get(id).map(|f| f.path.as_path());
    let diagnostics = side
        .catalog
        .diagnostics
        .iter()
        .filter(|d| Some(d.path.as_path()) == path || stem_id(&d.path).as_deref() == Some(id))
        .cloned()
        .collect();
    PersonaChange {
        id: id.to_owned(),
        status: ChangeStatus::Invalid,
        renamed_from: None,
        via: Vec::new(),
        fields: Vec::new(),
        diff: BTreeMap::new(),
        diagnostics,
        revision: None,
    }
}

/// How `before` (on side `old`) became `after` (on side `new`); `None` when both resolve and
/// render the same, or both are absent.
pub(crate) fn change(
    old: &Side,
    before: Option<&Entry>,
    new: &Side,
    after: Option<&Entry>,
    vars: &Vars,
) -> Option<PersonaChange> {
    let (status, id) = match (before, after) {
        (None, None) => return None,
        (Some(b), None) => (ChangeStatus::Removed, b.id.clone()),
        (None, Some(a)) => (ChangeStatus::Added, a.id.clone()),
        (Some(b), Some(a)) if b.id != a.id => (ChangeStatus::Renamed, a.id.clone()),
        (Some(_), Some(a)) => (ChangeStatus::Changed, a.id.clone()),
    };
    if let (ChangeStatus::Changed, Some(b), Some(a)) = (status, before, after) {
        // The same resolved persona renders the same: no need to look closer.
        if b.persona == a.persona {
            return None;
        }
    }
    let old_view = before.map(|e| view(e, vars)).unwrap_or_default();
    let new_view = after.map(|e| view(e, vars)).unwrap_or_default();
    if status == ChangeStatus::Changed && old_view == new_view {
        return None;
    }
    let mut fields = Vec::new();
    let mut names: Vec<&String> = new_view.keys().collect();
    names.extend(old_view.keys().filter(|k| !new_view.contains_key(*k)));
    names.sort_by_key(|k| field_rank(k));
    for name in names {
        let (o, n) = (old_view.get(name), new_view.get(name));
        if o != n {
            fields.push(FieldChange {
                field: name.clone(),
                old: o.cloned().unwrap_or(Value::Null),
                new: n.cloned().unwrap_or(Value::Null),
            });
        }
    }
    if matches!(status, ChangeStatus::Added | ChangeStatus::Removed) {
        // Every field is new (or gone): the diffs of the prompts say what matters.
        fields.clear();
    }
    let mut diff = BTreeMap::new();
    let old_name = before.map_or_else(|| id.clone(), |b| b.id.clone());
    for field in DIFFED {
        let text = |v: &BTreeMap<String, Value>| {
            v.get(*field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (o, n) = (text(&old_view), text(&new_view));
        if o != n {
            let unified = similar::TextDiff::from_lines(&o, &n)
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{old_name}/{field}"), &format!("b/{id}/{field}"))
                .to_string();
            diff.insert((*field).to_owned(), unified);
        }
    }
    let via = match (before, after) {
        (Some(b), Some(a)) if b.id == a.id => via(old, new, &a.id),
        _ => Vec::new(),
    };
    Some(PersonaChange {
        id,
        status,
        renamed_from: (status == ChangeStatus::Renamed).then_some(old_name),
        via,
        fields,
        diff,
        diagnostics: Vec::new(),
        revision: after.map(|a| a.revision().to_owned()),
    })
}

/// The ancestors of `id` (nearest first) whose own file differs between the sides, when
/// `id`'s own file does not: the persona changed only through them.
fn via(old: &Side, new: &Side, id: &str) -> Vec<String> {
    let same = |k: &str| match (old.files.get(k), new.files.get(k)) {
        (Some(o), Some(n)) => o.extends == n.extends && o.own == n.own,
        (None, None) => true,
        _ => false,
    };
    if !same(id) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::from([id.to_owned()]);
    let mut next = new.files.get(id).and_then(|f| f.extends.clone());
    while let Some(parent) = next {
        if !seen.insert(parent.clone()) {
            break;
        }
        if !same(&parent) {
            out.push(parent.clone());
        }
        next = new.files.get(&parent).and_then(|f| f.extends.clone());
    }
    out
}

fn field_rank(name: &str) -> (usize, String) {
    let top = name.split('.').next().unwrap_or(name);
    let rank = FIELD_ORDER
        .iter()
        .position(|f| *f == top)
        .unwrap_or(FIELD_ORDER.len());
    (rank, name.to_owned())
}

/// A resolved persona as a flat map of fields, prompts rendered with `vars`.
pub(crate) fn view(entry: &Entry, vars: &Vars) -> BTreeMap<String, Value> {
    let persona = &entry.persona;
    let mut vars = vars.clone();
    if vars.get("user_name").is_none() && !persona.vars.contains_key("user_name") {
        vars.set("user_name", USER_NAME_STAND_IN);
    }
    // Serialising a persona cannot fail: every field is a plain value with string keys.
    let Ok(Value::Object(map)) = serde_json::to_value(&**persona) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if k == "id" {
            continue;
        }
        match v {
            Value::Object(table) if TABLES.contains(&k.as_str()) => {
                for (sub, v) in table {
                    out.insert(format!("{k}.{sub}"), v);
                }
            }
            v => {
                out.insert(k, v);
            }
        }
    }
    // A persona that does not render (a malformed placeholder) is compared as written.
    if let Ok(rendered) = persona.render(&vars) {
        out.insert(
            "system_prompt".into(),
            Value::String(rendered.system_prompt),
        );
        if let Some(g) = rendered.greeting {
            out.insert("greeting".into(), Value::String(g));
        }
    }
    out
}
