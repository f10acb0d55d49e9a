//! Persona files read straight out of a git repository: the tree of a commit, or the work
//! tree (tracked, modified and untracked files, without those git ignores). Nothing is
//! written: no checkout, no stash, the index untouched. The repository is opened isolated:
//! the user's and the system's git configuration, pager and locale play no part.

mod text;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use gix::bstr::{BStr, ByteSlice};

pub use text::SourceFile;

/// What can go wrong reading persona files out of git.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The folder is not inside a git repository.
    #[error("{}: not inside a git repository", path.display())]
    NotARepository {
        /// The folder asked about.
        path: PathBuf,
    },
    /// The personas directory is not inside the repository's work tree.
    #[error("{}: the personas directory is outside the git work tree {}", dir.display(), workdir.display())]
    OutsideWorkTree {
        /// The personas directory.
        dir: PathBuf,
        /// The repository's work tree.
        workdir: PathBuf,
    },
    /// A revision does not name a commit in the repository.
    #[error("unknown revision `{rev}`: {message}")]
    UnknownRevision {
        /// The revision as given.
        rev: String,
        /// What git said.
        message: String,
    },
    /// Reading an object, the index or a folder failed.
    #[error("reading the repository failed: {message}")]
    Read {
        /// What went wrong.
        message: String,
    },
}

fn read_error(e: impl std::fmt::Display) -> GitError {
    GitError::Read {
        message: e.to_string(),
    }
}

/// A commit id (SHA-1), printed as 40 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitId(gix::ObjectId);

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One commit as `log` shows it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    /// The commit.
    pub id: CommitId,
    /// Its parents, first parent first.
    pub parents: Vec<CommitId>,
    /// The author's name.
    pub author: String,
    /// The author's e-mail address.
    pub email: String,
    /// The author date, RFC 3339 with the author's offset.
    pub date: String,
    /// The author date, in seconds since 1970 (UTC).
    pub seconds: i64,
    /// The first line of the message.
    pub subject: String,
}

/// A git repository and the personas directory inside it.
pub struct GitRepo {
    repo: gix::Repository,
    /// The personas directory as a path inside the repository (`/`-separated, empty for the
    /// repository's top).
    inside: String,
    /// The personas directory on disk, as given (diagnostics name files under it).
    shown: PathBuf,
    /// The personas directory on disk, absolute.
    absolute: PathBuf,
}

impl std::fmt::Debug for GitRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepo")
            .field("git_dir", &self.repo.git_dir())
            .field("inside", &self.inside)
            .finish_non_exhaustive()
    }
}

impl GitRepo {
    /// Opens the repository that holds the personas directory `dir` (relative to the current
    /// folder, as `--dir` is), searching upwards from that directory (or, when it does not
    /// exist, from the nearest folder above it that does).
    ///
    /// # Errors
    ///
    /// [`GitError::NotARepository`] when the current folder is in no repository (or the
    /// repository is bare), [`GitError::OutsideWorkTree`] when `dir` is not inside its work tree.
    pub fn open(dir: &Path) -> Result<Self, GitError> {
        let cwd = std::env::current_dir().map_err(read_error)?;
        let absolute = normalize(&cwd.join(dir));
        let start = canonical_prefix(&absolute);
        let start = existing_ancestor(&start);
        let not_repo = || GitError::NotARepository {
            path: start.to_path_buf(),
        };
        let trust = gix::sec::trust::Mapping {
            full: gix::open::Options::isolated(),
            reduced: gix::open::Options::isolated(),
        };
        let mut repo = gix::ThreadSafeRepository::discover_opts(start, Default::default(), trust)
            .map_err(|_| not_repo())?
            .to_thread_local();
        // `log` reads each commit twice (walk, then its tree): a small cache saves the second.
        repo.object_cache_size_if_unset(8 * 1024 * 1024);
        let workdir = repo.workdir().ok_or_else(not_repo)?;
        let workdir = std::fs::canonicalize(workdir).map_err(read_error)?;
        let inside = canonical_prefix(&absolute)
            .strip_prefix(&workdir)
            .map(Path::to_path_buf)
            .map_err(|_| GitError::OutsideWorkTree {
                dir: dir.to_path_buf(),
                workdir: workdir.clone(),
            })?;
        let inside = inside
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        Ok(GitRepo {
            repo,
            inside,
            shown: dir.to_path_buf(),
            absolute,
        })
    }

    /// The personas directory as a path inside the repository (`/`-separated).
    #[must_use]
    pub fn dir_in_repo(&self) -> &str {
        &self.inside
    }

    /// The commit a revision names (`HEAD`, `main`, `origin/main`, `HEAD~2`, a hash, …).
    ///
    /// # Errors
    ///
    /// [`GitError::UnknownRevision`] when it names nothing, or something that is not a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, GitError> {
        let unknown = |message: String| GitError::UnknownRevision {
            rev: rev.to_owned(),
            message,
        };
        let id = self
            .repo
            .rev_parse_single(BStr::new(rev))
            .map_err(|e| unknown(e.to_string()))?;
        let commit = id
            .object()
            .map_err(|e| unknown(e.to_string()))?
            .peel_to_commit()
            .map_err(|e| unknown(e.to_string()))?;
        Ok(CommitId(commit.id))
    }

    /// The tree id of the personas directory at `commit`, `None` when it has no such folder.
    /// Equal ids mean equal contents, so commits that did not touch the folder are skipped
    /// by comparing these.
    ///
    /// # Errors
    ///
    /// [`GitError::Read`] when the commit or its tree cannot be read.
    pub fn dir_tree(&self, commit: CommitId) -> Result<Option<TreeId>, GitError> {
        let commit = self.repo.find_commit(commit.0).map_err(read_error)?;
        let tree = commit.tree().map_err(read_error)?;
        if self.inside.is_empty() {
            return Ok(Some(TreeId(tree.id)));
        }
        let entry = tree
            .lookup_entry_by_path(&self.inside)
            .map_err(read_error)?;
        Ok(entry
            .filter(|e| e.mode().is_tree())
            .map(|e| TreeId(e.object_id())))
    }

    /// Every persona file of the personas directory at `commit` (see [`GitRepo::files_of`]).
    ///
    /// # Errors
    ///
    /// [`GitError::Read`] when an object cannot be read.
    pub fn files_at(&self, commit: CommitId) -> Result<Vec<SourceFile>, GitError> {
        match self.dir_tree(commit)? {
            Some(tree) => self.files_of(tree),
            None => Ok(Vec::new()),
        }
    }

    /// Every persona file of a personas-directory tree: `*.toml` blobs at any depth, skipping
    /// hidden files and folders (as on disk) and symbolic links; sorted by path. Each is named
    /// as it would be on disk under `--dir`.
    ///
    /// # Errors
    ///
    /// [`GitError::Read`] when an object cannot be read.
    pub fn files_of(&self, tree: TreeId) -> Result<Vec<SourceFile>, GitError> {
        self.files_of_except(tree, &|_, _| false)
    }

    /// Like [`GitRepo::files_of`], but the blobs `known` accepts are not read: their text is
    /// left empty, for a caller that has already checked that blob at that path.
    pub(crate) fn files_of_except(
        &self,
        tree: TreeId,
        known: &dyn Fn(&Path, &gix::ObjectId) -> bool,
    ) -> Result<Vec<SourceFile>, GitError> {
        let tree = self.repo.find_tree(tree.0).map_err(read_error)?;
        let entries = tree.traverse().breadthfirst.files().map_err(read_error)?;
        let mut files = Vec::new();
        for entry in entries {
            if !entry.mode.is_blob() {
                continue;
            }
            let Ok(rel) = entry.filepath.to_str() else {
                continue;
            };
            let rel = Path::new(rel);
            if rel.components().any(|c| is_hidden(c.as_os_str()))
                || !crate::is_persona_file_name(rel)
            {
                continue;
            }
            let path = self.shown.join(rel);
            if known(&path, &entry.oid) {
                files.push(SourceFile {
                    path,
                    text: Ok(String::new()),
                    key: Some(entry.oid),
                });
                continue;
            }
            let size = self.repo.find_header(entry.oid).map_err(read_error)?.size();
            let text = if size > crate::MAX_FILE_BYTES {
                Err(text::too_large(&path, size))
            } else {
                let blob = self.repo.find_blob(entry.oid).map_err(read_error)?;
                text::decode(&path, blob.data.clone())
            };
            files.push(SourceFile {
                path,
                text,
                key: Some(entry.oid),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Every persona file of the personas directory in the work tree, as `validate` finds
    /// them, less the files git ignores (a tracked file is kept even when a pattern matches
    /// it, as git does). Nothing is written.
    ///
    /// # Errors
    ///
    /// [`GitError::Read`] when the index, an ignore file or a folder cannot be read.
    pub fn worktree_files(&self) -> Result<Vec<SourceFile>, GitError> {
        let paths = match crate::discover(&self.absolute) {
            Ok(paths) => paths,
            Err(crate::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(read_error(e)),
        };
        let index = self.repo.index_or_empty().map_err(read_error)?;
        let mut excludes = self
            .repo
            .excludes(
                &index,
                None,
                gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
            )
            .map_err(read_error)?;
        let tracked: HashSet<&BStr> = index.entries().iter().map(|e| e.path(&index)).collect();
        let mut files = Vec::new();
        for disk in paths {
            let Ok(rel) = disk.strip_prefix(&self.absolute) else {
                continue;
            };
            let in_repo = if self.inside.is_empty() {
                rel.to_path_buf()
            } else {
                Path::new(&self.inside).join(rel)
            };
            let key = in_repo
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if !tracked.contains(BStr::new(key.as_bytes())) && ignored(&mut excludes, &in_repo)? {
                continue;
            }
            let path = self.shown.join(rel);
            let (text, key) = match text::read(&disk, &path) {
                Ok((text, key)) => (Ok(text), key),
                Err(d) => (Err(d), None),
            };
            files.push(SourceFile { path, text, key });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The commits reachable from `tip`, newest first (by commit time). In a shallow clone the
    /// walk ends where the history does.
    ///
    /// # Errors
    ///
    /// [`GitError::Read`] when a commit cannot be read.
    pub fn history(&self, tip: CommitId) -> Result<Vec<CommitInfo>, GitError> {
        use gix::revision::walk::Sorting;
        use gix::traverse::commit::simple::CommitTimeOrder;
        let walk = self
            .repo
            .rev_walk([tip.0])
            .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
            .all()
            .map_err(read_error)?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(read_error)?;
            let commit = info.object().map_err(read_error)?;
            let author = commit.author().map_err(read_error)?;
            let time = author.time().map_err(read_error)?;
            let subject = commit
                .message()
                .map_err(read_error)?
                .summary()
                .to_str_lossy()
                .into_owned();
            out.push(CommitInfo {
                id: CommitId(commit.id),
                parents: commit.parent_ids().map(|p| CommitId(p.detach())).collect(),
                author: author.name.to_str_lossy().trim().to_owned(),
                email: author.email.to_str_lossy().trim().to_owned(),
                date: time
                    .format(gix::date::time::format::ISO8601_STRICT)
                    .unwrap_or_else(|_| time.seconds.to_string()),
                seconds: time.seconds,
                subject,
            });
        }
        Ok(out)
    }
}

/// The id of a personas-directory tree at some commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeId(gix::ObjectId);

/// Whether git ignores `path` (inside the repository): the file itself or one of its folders.
fn ignored(excludes: &mut gix::AttributeStack<'_>, path: &Path) -> Result<bool, GitError> {
    let mut prefix = PathBuf::new();
    let components: Vec<_> = path.components().collect();
    for (i, c) in components.iter().enumerate() {
        prefix.push(c.as_os_str());
        let mode = if i + 1 == components.len() {
            gix::index::entry::Mode::FILE
        } else {
            gix::index::entry::Mode::DIR
        };
        if excludes
            .at_path(&prefix, Some(mode))
            .map_err(read_error)?
            .is_excluded()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// `path` without `.` and with each `..` applied to the folder before it (no file system
/// access: the folder may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The nearest of `path` and its ancestors that is an existing folder.
fn existing_ancestor(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/"))
}

/// `path` with its longest existing prefix made canonical (symbolic links resolved), so it
/// compares with the canonical work tree even when its last folders do not exist.
fn canonical_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut head = path.to_path_buf();
    loop {
        if let Ok(canon) = std::fs::canonicalize(&head) {
            let mut out = canon;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            head.file_name().map(std::ffi::OsStr::to_os_string),
            head.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                head = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}
