//! `log`: the commits where one resolved persona changed, newest first, through its
//! ancestors and across renames (`aliases`).

use std::rc::Rc;

use serde::Serialize;

use super::check::{Memo, Side, check_sources};
use super::compare::{ChangeStatus, change, invalid};
use crate::git::{GitError, GitRepo, TreeId};
use crate::{Entry, Vars};

/// What `log` lists.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// At most this many commits.
    pub limit: Option<usize>,
    /// Only commits authored at or after this time (seconds since 1970, UTC).
    pub since: Option<i64>,
    /// The values prompts are rendered with.
    pub vars: Vars,
}

/// One commit where the persona changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// The commit (40 hex digits).
    pub commit: String,
    /// The author's name.
    pub author: String,
    /// The author's e-mail address.
    pub email: String,
    /// The author date, RFC 3339.
    pub date: String,
    /// The first line of the commit message.
    pub subject: String,
    /// The persona's id after the commit (before it, for a removal).
    pub id: String,
    /// What the commit did to it.
    pub status: ChangeStatus,
    /// The former id, when the commit renamed it.
    pub renamed_from: Option<String>,
    /// The persona's revision after the commit (`null` when it was removed or invalid).
    pub revision: Option<String>,
    /// The fields that changed.
    pub fields: Vec<String>,
    /// The ancestors through which it changed, when its own file did not.
    pub via: Vec<String>,
}

/// The persona as found at one commit.
enum Found<'a> {
    Valid(&'a Entry),
    Invalid(String),
    Absent,
}

/// `id` (or the persona that lists it in `aliases`) on `side`.
fn find<'a>(side: &'a Side, id: &str) -> Found<'a> {
    if let Some(e) = side.catalog.entries.get(id) {
        return Found::Valid(e);
    }
    if side.files.contains_key(id) {
        return Found::Invalid(id.to_owned());
    }
    match side
        .catalog
        .entries
        .values()
        .find(|e| e.persona.aliases.iter().any(|a| a == id))
    {
        Some(e) => Found::Valid(e),
        None => Found::Absent,
    }
}

/// The commits reachable from `HEAD` where the resolved persona `id` changed, newest first.
/// Only commits whose personas-directory tree differs from their parents' are examined.
///
/// # Errors
///
/// [`GitError`] when `HEAD` or an object cannot be read.
pub fn log(repo: &GitRepo, id: &str, options: &LogOptions) -> Result<Vec<LogEntry>, GitError> {
    let head = repo.resolve("HEAD")?;
    let commits = repo.history(head)?;
    let mut memo = Memo::default();
    // The last few sides, by tree: a commit's parent is usually the next commit walked.
    let mut recent: Vec<(Option<TreeId>, Rc<Side>)> = Vec::new();
    let mut side = |tree: Option<TreeId>, memo: &mut Memo| -> Result<Rc<Side>, GitError> {
        if let Some((_, s)) = recent.iter().find(|(t, _)| *t == tree) {
            return Ok(Rc::clone(s));
        }
        let files = match tree {
            Some(t) => repo.files_of_except(t, &|path, id| memo.knows(path, id))?,
            None => Vec::new(),
        };
        let s = Rc::new(check_sources(files, memo));
        if recent.len() == 4 {
            recent.remove(0);
        }
        recent.push((tree, Rc::clone(&s)));
        Ok(s)
    };
    let mut tracked = id.to_owned();
    let mut out = Vec::new();
    for c in commits {
        if options.limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        if options.since.is_some_and(|s| c.seconds < s) {
            continue;
        }
        let dir = repo.dir_tree(c.id)?;
        let mut parent_dirs = Vec::with_capacity(c.parents.len());
        for p in &c.parents {
            // A parent beyond a shallow clone's boundary is not there: the history ends.
            match repo.dir_tree(*p) {
                Ok(d) => parent_dirs.push(d),
                Err(_) => break,
            }
        }
        if parent_dirs.len() < c.parents.len() || parent_dirs.contains(&dir) {
            continue;
        }
        let new = side(dir, &mut memo)?;
        let old = side(parent_dirs.first().copied().flatten(), &mut memo)?;
        let after = find(&new, &tracked);
        let before = match &after {
            Found::Valid(a) => match find(&old, &a.id) {
                Found::Absent => a
                    .persona
                    .aliases
                    .iter()
                    .filter(|al| !new.files.contains_key(al.as_str()))
                    .find_map(|al| old.catalog.entries.get(al).map(Found::Valid))
                    .unwrap_or(Found::Absent),
                found => found,
            },
            _ => find(&old, &tracked),
        };
        let vars = &options.vars;
        let entry = match (&before, &after) {
            (Found::Valid(b), Found::Valid(a)) => change(&old, Some(b), &new, Some(a), vars),
            (Found::Absent | Found::Invalid(_), Found::Valid(a)) => {
                change(&old, None, &new, Some(a), vars)
            }
            (Found::Valid(b), Found::Absent) => change(&old, Some(b), &new, None, vars),
            (Found::Valid(_) | Found::Absent, Found::Invalid(i)) => Some(invalid(&new, i)),
            (Found::Invalid(_), Found::Invalid(_) | Found::Absent)
            | (Found::Absent, Found::Absent) => None,
        };
        match &before {
            Found::Valid(b) => tracked.clone_from(&b.id),
            Found::Invalid(i) => tracked.clone_from(i),
            Found::Absent => {}
        }
        if let Some(change) = entry {
            out.push(LogEntry {
                commit: c.id.to_string(),
                author: c.author,
                email: c.email,
                date: c.date,
                subject: c.subject,
                id: change.id,
                status: change.status,
                renamed_from: change.renamed_from,
                revision: change.revision,
                fields: change.fields.into_iter().map(|f| f.field).collect(),
                via: change.via,
            });
        }
    }
    Ok(out)
}
