//! Reviewing persona changes in git: `diff` (what a change does to every resolved persona)
//! and `log` (the commits where one resolved persona changed).

mod check;
mod compare;
mod history;
mod markdown;
mod text;

use std::io::{self, Write};

use serde::Serialize;

use crate::Vars;
use crate::git::{GitError, GitRepo};

pub use check::{FileFacts, Memo, Side, check_sources};
pub use compare::{ChangeStatus, FieldChange, PersonaChange, Summary, compare};
pub use history::{LogEntry, LogOptions, log};
pub use markdown::write_markdown;
pub use text::write_human;

/// The head side of a diff: a commit, or the work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// A revision (`main`, `HEAD~1`, a hash).
    Rev(String),
    /// The work tree, with uncommitted and untracked persona files.
    WorkTree,
}

/// The outcome of `diff`: its JSON form is `{"base", "head", "summary", "personas"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The base commit (40 hex digits).
    pub base: String,
    /// The head commit, or `"worktree"`.
    pub head: String,
    /// How many personas are in each state.
    pub summary: Summary,
    /// Every persona that is not unchanged, by id.
    pub personas: Vec<PersonaChange>,
}

impl Review {
    /// Whether anything is not unchanged.
    #[must_use]
    pub fn any_change(&self) -> bool {
        self.summary.any_change()
    }
}

/// Compares the personas directory at revision `base` with `head`, resolved and rendered
/// with `vars`.
///
/// # Errors
///
/// [`GitError::UnknownRevision`] for a revision that names no commit; [`GitError::Read`] when
/// the repository or the work tree cannot be read.
pub fn diff(repo: &GitRepo, base: &str, head: &Head, vars: &Vars) -> Result<Review, GitError> {
    let base_id = repo.resolve(base)?;
    let head_id = match head {
        Head::Rev(rev) => Some(repo.resolve(rev)?),
        Head::WorkTree => None,
    };
    let mut memo = Memo::default();
    let old = check_sources(repo.files_at(base_id)?, &mut memo);
    // Blobs the base already had are not read again: their checks are reused.
    let head_files = match head_id {
        Some(id) => match repo.dir_tree(id)? {
            Some(tree) => repo.files_of_except(tree, &|path, blob| memo.knows(path, blob))?,
            None => Vec::new(),
        },
        None => repo.worktree_files()?,
    };
    let new = check_sources(head_files, &mut memo);
    let head_name = head_id.map_or_else(|| "worktree".to_owned(), |id| id.to_string());
    let (summary, personas) = compare(&old, &new, vars);
    Ok(Review {
        base: base_id.to_string(),
        head: head_name,
        summary,
        personas,
    })
}

/// Writes `review` as one JSON document and a newline.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_json(out: &mut dyn Write, review: &Review) -> io::Result<()> {
    serde_json::to_writer(&mut *out, review)?;
    writeln!(out)
}

/// A short form of a commit id for people (12 hex digits), or the word for the work tree.
pub(crate) fn short(rev: &str) -> &str {
    if rev == "worktree" {
        "work tree"
    } else {
        rev.get(..12).unwrap_or(rev)
    }
}

/// A value as one line of text: strings as written (newlines escaped), others as JSON.
pub(crate) fn one_line(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(none)".to_owned(),
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Whether the text `field` of `change` differs only in whitespace (the diff is shown all
/// the same, with this said beside it: such a change is easy to miss).
pub(crate) fn whitespace_only(change: &PersonaChange, field: &str) -> bool {
    change
        .fields
        .iter()
        .find(|f| f.field == field)
        .is_some_and(|f| match (f.old.as_str(), f.new.as_str()) {
            (Some(o), Some(n)) => o != n && o.split_whitespace().eq(n.split_whitespace()),
            _ => false,
        })
}
