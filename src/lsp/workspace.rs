//! The files the server sees: the personas directory as on disk, with each open editor buffer
//! in place of its file, and the last check of the whole set.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_types::Uri;

use super::check::{Analysis, Checker, Source};
use crate::{MAX_FILE_BYTES, discover, is_persona_file_name};

/// An open editor buffer.
#[derive(Debug, Clone)]
pub(crate) struct OpenDoc {
    /// The buffer's text.
    pub text: Arc<str>,
    /// The editor's version of it.
    pub version: i32,
}

/// The directory, the buffers, and the latest analysis.
#[derive(Debug)]
pub(crate) struct Workspace {
    /// The personas directory.
    pub dir: PathBuf,
    disk: BTreeMap<PathBuf, Source>,
    open: HashMap<PathBuf, OpenDoc>,
    checker: Checker,
    /// The result of the latest [`Workspace::analyze`].
    pub analysis: Analysis,
}

impl Workspace {
    /// Reads every persona file under `dir` (none when it does not exist yet).
    pub(crate) fn load(dir: PathBuf, default_persona: Option<String>) -> Self {
        let mut ws = Workspace {
            checker: Checker::new(dir.clone(), default_persona),
            dir,
            disk: BTreeMap::new(),
            open: HashMap::new(),
            analysis: Analysis::default(),
        };
        ws.rescan();
        ws
    }

    /// Re-reads the whole directory. Returns whether anything the check sees changed.
    pub(crate) fn rescan(&mut self) -> bool {
        let paths = discover(&self.dir).unwrap_or_default();
        let mut disk = BTreeMap::new();
        for p in paths {
            let source = read(&p);
            disk.insert(p, source);
        }
        let changed = !same_sources(&self.disk, &disk);
        self.disk = disk;
        changed
    }

    /// Re-reads one path from disk (gone: dropped). Returns whether the check sees a change.
    pub(crate) fn refresh(&mut self, path: &Path) -> bool {
        let now = if path.is_file() {
            Some(read(path))
        } else {
            None
        };
        let before = self.disk.get(path);
        let changed = match (before, &now) {
            (None, None) => false,
            (Some(a), Some(b)) => !same_source(a, b),
            _ => true,
        };
        match now {
            Some(s) => self.disk.insert(path.to_path_buf(), s),
            None => self.disk.remove(path),
        };
        changed && !self.open.contains_key(path)
    }

    /// Whether `path` is one of the persona files of the directory: a `.toml` file under it,
    /// not hidden, in no hidden folder (the files `validate DIR` would find).
    pub(crate) fn is_member(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.dir) else {
            return false;
        };
        is_persona_file_name(path)
            && rel
                .components()
                .all(|c| !c.as_os_str().as_encoded_bytes().starts_with(b"."))
    }

    /// Opens (or replaces) a buffer.
    pub(crate) fn open(&mut self, path: PathBuf, text: String, version: i32) {
        self.open.insert(
            path,
            OpenDoc {
                text: text.into(),
                version,
            },
        );
    }

    /// The open buffer at `path`.
    pub(crate) fn doc(&self, path: &Path) -> Option<&OpenDoc> {
        self.open.get(path)
    }

    /// Replaces an open buffer's text.
    pub(crate) fn set_text(&mut self, path: &Path, text: String, version: i32) {
        if let Some(doc) = self.open.get_mut(path) {
            doc.text = text.into();
            doc.version = version;
        }
    }

    /// Closes a buffer: the file on disk counts again.
    pub(crate) fn close(&mut self, path: &Path) {
        self.open.remove(path);
    }

    /// The text the check sees for `path`: the buffer, else the file.
    pub(crate) fn text(&self, path: &Path) -> Option<&str> {
        match (self.open.get(path), self.disk.get(path)) {
            (Some(doc), _) => Some(&doc.text),
            (None, Some(Source::Text(t))) => Some(t),
            _ => None,
        }
    }

    /// The version of the buffer at `path`, if open.
    pub(crate) fn version(&self, path: &Path) -> Option<i32> {
        self.open.get(path).map(|d| d.version)
    }

    /// The files of the check, sorted by path: every file on disk and every open buffer that
    /// belongs to the directory, each buffer in place of its file.
    fn sources(&self) -> Vec<(PathBuf, Source)> {
        let mut all: BTreeMap<&Path, Source> = self
            .disk
            .iter()
            .map(|(p, s)| (p.as_path(), s.clone()))
            .collect();
        for (p, doc) in &self.open {
            if self.is_member(p) {
                all.insert(p, Source::Text(Arc::clone(&doc.text)));
            }
        }
        all.into_iter().map(|(p, s)| (p.to_path_buf(), s)).collect()
    }

    /// Paths of every file of the check whose id (file stem) is `id`, in path order.
    pub(crate) fn paths_with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Path> + 'a {
        let open = self
            .open
            .keys()
            .filter(|p| self.is_member(p) && !self.disk.contains_key(*p));
        let mut paths: Vec<&Path> = self.disk.keys().chain(open).map(PathBuf::as_path).collect();
        paths.sort();
        paths
            .into_iter()
            .filter(move |p| p.file_stem().and_then(|s| s.to_str()) == Some(id))
    }

    /// Every id defined by a file of the check, sorted.
    pub(crate) fn ids(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<String> = self
            .sources()
            .iter()
            .filter_map(|(p, _)| crate::stem_id(p))
            .collect();
        ids.into_iter().collect()
    }

    /// Checks the whole set again (reusing each unchanged file's own check).
    pub(crate) fn analyze(&mut self) {
        let sources = self.sources();
        self.analysis = self
            .checker
            .check(sources.iter().map(|(p, s)| (p.as_path(), s)));
    }
}

/// Reads a file as `validate` does: a BOM dropped; anything that is not usable text is left
/// for the checker to report from disk.
fn read(path: &Path) -> Source {
    let Ok(file) = std::fs::File::open(path) else {
        return Source::Unreadable;
    };
    let mut bytes = Vec::new();
    if file
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .is_err()
        || bytes.len() as u64 > MAX_FILE_BYTES
    {
        return Source::Unreadable;
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Source::Text(text.into()),
        Err(_) => Source::Unreadable,
    }
}

fn same_source(a: &Source, b: &Source) -> bool {
    match (a, b) {
        (Source::Text(a), Source::Text(b)) => a == b,
        // An unreadable file may have become unreadable differently: check it again.
        _ => false,
    }
}

fn same_sources(a: &BTreeMap<PathBuf, Source>, b: &BTreeMap<PathBuf, Source>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((pa, sa), (pb, sb))| pa == pb && same_source(sa, sb))
}

/// The path of a `file://` URI.
pub(crate) fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

/// The `file://` URI of a path.
pub(crate) fn path_to_uri(path: &Path) -> Option<Uri> {
    url::Url::from_file_path(path).ok()?.as_str().parse().ok()
}
