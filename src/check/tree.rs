//! [`Tree`]: the persona files one check looks at, wherever their bytes come from: the files
//! on disk, a set of overlays on top of them (a proposed write, an unsaved editor buffer), or
//! texts from anywhere else (a git tree).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::load::walk;

/// `a.cmp(b)` for paths (the order of [`Path`]: component by component), fast for the files
/// of one folder: when both sit in a folder spelt the same way, their names decide, byte by
/// byte, which is what comparing the components would find after walking the folder's.
/// Sorting or searching thousands of paths of one directory spends most of its time walking
/// components otherwise.
#[must_use]
pub(crate) fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    fn split(p: &Path) -> Option<(&[u8], &[u8])> {
        let bytes = p.as_os_str().as_encoded_bytes();
        let slash = bytes.iter().rposition(|&c| c == b'/')?;
        let (folder, name) = (&bytes[..slash], &bytes[slash + 1..]);
        // A plain name (not empty, `.` or `..`) is one normal component.
        (!name.is_empty() && name != b"." && name != b"..").then_some((folder, name))
    }
    match (split(a), split(b)) {
        (Some((fa, na)), Some((fb, nb))) if fa == fb => na.cmp(nb),
        _ => a.cmp(b),
    }
}

/// Where one file's text comes from.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    /// Read from disk when checked.
    Disk,
    /// Given: an overlay over the disk, or a file from somewhere else.
    Text(Arc<str>),
}

/// The persona files of one personas directory, as one check sees them.
///
/// Paths are as discovery gives them (`root` joined with the path inside it), sorted; that
/// order decides which of two files defining one id keeps it.
#[derive(Debug, Clone)]
pub struct Tree {
    root: PathBuf,
    files: BTreeMap<PathBuf, Input>,
    /// Entries that could not be taken as persona files (a dangling symlink, a symlink loop,
    /// a link leaving the directory): one diagnostic each, so the rest is still checked.
    problems: Vec<Diagnostic>,
}

impl Tree {
    /// An empty tree rooted at `root` (fill it with [`Tree::insert`]).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Tree {
            root: root.into(),
            files: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// The persona files under `root` on disk (read when checked). `root` may be one file.
    ///
    /// Symbolic links are followed only when they stay inside `root` (which covers a
    /// Kubernetes ConfigMap's `..data` layout); a link leaving it, a dangling link and a
    /// link loop are each one diagnostic, and the rest of the tree is checked as usual.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when `root` does not exist, [`Error::Io`] when it cannot be read.
    pub fn from_dir(root: &Path) -> Result<Self, Error> {
        let mut tree = Tree::new(root);
        let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !meta.is_dir() {
            tree.files.insert(root.to_path_buf(), Input::Disk);
            return Ok(tree);
        }
        let (files, problems) = walk(root)?;
        tree.files = files.into_iter().map(|p| (p, Input::Disk)).collect();
        tree.problems = problems;
        Ok(tree)
    }

    /// The personas directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Puts `text` in place of the file at `path` (which need not exist on disk).
    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<Arc<str>>) {
        self.files.insert(path.into(), Input::Text(text.into()));
    }

    /// Adds the file at `path`, read from disk when checked.
    pub fn insert_disk(&mut self, path: impl Into<PathBuf>) {
        self.files.insert(path.into(), Input::Disk);
    }

    /// Leaves the file at `path` out, as if it were deleted.
    pub fn remove(&mut self, path: &Path) {
        self.files.remove(path);
    }

    /// [`Tree::insert`], returning what the tree held at `path` (for [`Tree::restore`]).
    pub(crate) fn swap_in(&mut self, path: PathBuf, text: Arc<str>) -> Option<Input> {
        self.files.insert(path, Input::Text(text))
    }

    /// [`Tree::remove`], returning what the tree held at `path` (for [`Tree::restore`]).
    pub(crate) fn take(&mut self, path: &Path) -> Option<Input> {
        self.files.remove(path)
    }

    /// Puts back at `path` what [`Tree::swap_in`] or [`Tree::take`] returned.
    pub(crate) fn restore(&mut self, path: PathBuf, input: Option<Input>) {
        match input {
            Some(input) => {
                self.files.insert(path, input);
            }
            None => {
                self.files.remove(&path);
            }
        }
    }

    /// Whether the tree holds a file at `path`.
    #[must_use]
    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }

    /// Every file, in path order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }

    /// How many files the tree holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the tree holds no file.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The entries that could not be taken as persona files.
    #[must_use]
    pub fn problems(&self) -> &[Diagnostic] {
        &self.problems
    }

    /// Every file in path order, with its text when it is given (`None`: read from disk).
    pub(crate) fn inputs(&self) -> impl Iterator<Item = (&Path, Option<&Arc<str>>)> {
        self.files.iter().map(|(p, input)| match input {
            Input::Text(t) => (p.as_path(), Some(t)),
            Input::Disk => (p.as_path(), None),
        })
    }

    /// The text given for `path` (an overlay), if any.
    pub(crate) fn given(&self, path: &Path) -> Option<&Arc<str>> {
        match self.files.get(path) {
            Some(Input::Text(t)) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::path_order;
    use proptest::prelude::*;
    use std::path::Path;

    #[test]
    fn path_order_is_the_order_of_paths() {
        let paths = [
            "a/b",
            "a-b",
            "a/b/c",
            "a//b",
            "a/./b",
            "./a",
            "a/",
            "a/..",
            "a/.",
            "/x/y",
            "x/y",
            "a/b.toml",
            "a/b-c.toml",
            "a/bc.toml",
            "ü/a",
            "a/ü",
            "a",
            "",
            "/",
            "a/b/",
            "ab/c",
        ];
        for a in paths {
            for b in paths {
                assert_eq!(
                    path_order(Path::new(a), Path::new(b)),
                    Path::new(a).cmp(Path::new(b)),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn path_order_agrees_with_path_cmp(a in "[ab/.-]{0,8}", b in "[ab/.-]{0,8}") {
            prop_assert_eq!(path_order(Path::new(&a), Path::new(&b)), Path::new(&a).cmp(Path::new(&b)));
        }
    }
}
