//! [`Batch`]: file events folded into what a reload must look at. A pure function of the
//! events (no file system access), so it is tested with data: events in, batch out.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
use notify::{Event, EventKind};

/// What a burst of file events asks the registry to re-read. Paths are relative to the
/// personas directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Re-read everything: events were lost or overflowed, the directory itself was removed
    /// or created, or a ConfigMap's `..data` symlink was swapped.
    pub rescan: bool,
    /// The personas directory itself was created, removed or moved: watch it anew.
    pub rearm: bool,
    /// Persona files (`*.toml`, not hidden, not an editor's backup) that changed.
    pub files: BTreeSet<PathBuf>,
    /// Paths that may be folders (created, removed or renamed): re-read what is under them.
    pub dirs: BTreeSet<PathBuf>,
    /// A problem of the watcher to report in the status.
    pub watch_error: Option<String>,
}

impl Batch {
    /// Whether the batch asks for nothing.
    pub fn is_empty(&self) -> bool {
        !self.rescan && !self.rearm && self.files.is_empty() && self.dirs.is_empty()
    }

    /// Folds one event in; returns whether it was relevant (an event that is not must not
    /// delay a reload, and never causes one).
    pub fn add(&mut self, root: &Path, event: &Event) -> bool {
        if event.need_rescan() {
            self.rescan = true;
            return true;
        }
        let kind = event.kind;
        if !relevant_kind(kind) {
            return false;
        }
        let mut relevant = false;
        for path in &event.paths {
            relevant |= self.add_path(root, path, kind);
        }
        // An event without paths (some back ends say "something changed") → look again.
        if event.paths.is_empty() {
            self.rescan = true;
            relevant = true;
        }
        relevant
    }

    /// Folds in a lost event or a watcher error: only a rescan can make up for it.
    pub fn add_error(&mut self) {
        self.rescan = true;
    }

    fn add_path(&mut self, root: &Path, path: &Path, kind: EventKind) -> bool {
        if path == root {
            self.rescan = true;
            self.rearm = true;
            return true;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            // A sibling of the directory (its parent is watched to see it re-created).
            return false;
        };
        let mut names = rel.components().filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        });
        let first = names.next();
        if first.is_some_and(|n| n.as_encoded_bytes().starts_with(b"..")) {
            // Kubernetes ConfigMap volume: `..data` → `..2024_…` swapped atomically; the
            // files at the top are symlinks through it.
            self.rescan = true;
            return true;
        }
        if first.into_iter().chain(names).any(is_hidden) {
            return false;
        }
        let Some(name) = rel.file_name() else {
            return false;
        };
        if is_editor_scratch(name) {
            return false;
        }
        if rel.extension().is_some_and(|e| e == "toml") {
            self.files.insert(rel.to_path_buf());
            return true;
        }
        if maybe_folder(kind) {
            self.dirs.insert(rel.to_path_buf());
            return true;
        }
        false
    }
}

/// Whether an event kind can mean changed content (opening or reading a file cannot; nor can
/// a change of permissions or times, which the registry would find unchanged anyway).
fn relevant_kind(kind: EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// Whether an event on a path without the `.toml` extension may concern a folder.
fn maybe_folder(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(CreateKind::Folder | CreateKind::Any | CreateKind::Other)
            | EventKind::Remove(RemoveKind::Folder | RemoveKind::Any | RemoveKind::Other)
            | EventKind::Modify(ModifyKind::Name(_))
            | EventKind::Any
            | EventKind::Other
    )
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Editors' swap, backup and probe files: `x.swp`, `x~`, `x.tmp`, `#x#`, vim's `4913`.
fn is_editor_scratch(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.ends_with(b"~")
        || b.ends_with(b".swp")
        || b.ends_with(b".swx")
        || b.ends_with(b".tmp")
        || b.starts_with(b"#")
        || b == b"4913"
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{DataChange, Flag, MetadataKind, RenameMode};

    const ROOT: &str = "/srv/personas";

    fn ev(kind: EventKind, paths: &[&str]) -> Event {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(Path::new(ROOT).join(p));
        }
        e
    }

    fn batch(events: &[Event]) -> Batch {
        let mut b = Batch::default();
        for e in events {
            b.add(Path::new(ROOT), e);
        }
        b
    }

    fn files(paths: &[&str]) -> BTreeSet<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    const WRITE: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    const CLOSE: EventKind = EventKind::Access(AccessKind::Close(AccessMode::Write));
    const OPEN: EventKind = EventKind::Access(AccessKind::Open(AccessMode::Any));
    const CREATE: EventKind = EventKind::Create(CreateKind::File);
    const REMOVE: EventKind = EventKind::Remove(RemoveKind::File);
    const FROM: EventKind = EventKind::Modify(ModifyKind::Name(RenameMode::From));
    const TO: EventKind = EventKind::Modify(ModifyKind::Name(RenameMode::To));
    const BOTH: EventKind = EventKind::Modify(ModifyKind::Name(RenameMode::Both));

    #[test]
    fn in_place_edit_is_one_file() {
        let b = batch(&[ev(WRITE, &["coach.toml"]), ev(CLOSE, &["coach.toml"])]);
        assert_eq!(b.files, files(&["coach.toml"]));
        assert!(!b.rescan && b.dirs.is_empty());
    }

    #[test]
    fn write_temp_then_rename_is_the_target_only() {
        let b = batch(&[
            ev(CREATE, &["coach.toml.tmp"]),
            ev(WRITE, &["coach.toml.tmp"]),
            ev(FROM, &["coach.toml.tmp"]),
            ev(TO, &["coach.toml"]),
            ev(BOTH, &["coach.toml.tmp", "coach.toml"]),
        ]);
        assert_eq!(b.files, files(&["coach.toml"]));
        assert!(b.dirs.is_empty() && !b.rescan);
    }

    #[test]
    fn vim_save_sequence_is_the_target_only() {
        // vim: probe file 4913, rename the original to a backup `coach.toml~`, write anew.
        let b = batch(&[
            ev(CREATE, &["4913"]),
            ev(REMOVE, &["4913"]),
            ev(BOTH, &["coach.toml", "coach.toml~"]),
            ev(CREATE, &["coach.toml"]),
            ev(WRITE, &["coach.toml"]),
            ev(REMOVE, &["coach.toml~"]),
            ev(WRITE, &[".coach.toml.swp"]),
        ]);
        assert_eq!(b.files, files(&["coach.toml"]));
        assert!(b.dirs.is_empty() && !b.rescan);
    }

    #[test]
    fn ignored_paths_are_not_relevant() {
        let mut b = Batch::default();
        for (kind, path) in [
            (WRITE, "notes.md"),
            (CREATE, "README"),
            (WRITE, ".hidden.toml"),
            (WRITE, ".git/index"),
            (CREATE, "sub/.draft.toml"),
            (WRITE, "x.tmp"),
            (CREATE, "coach.toml.swp"),
            (WRITE, "#coach.toml#"),
            (OPEN, "coach.toml"),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                "coach.toml",
            ),
        ] {
            assert!(!b.add(Path::new(ROOT), &ev(kind, &[path])), "{path}");
        }
        // A sibling of the directory, seen through the parent's watch.
        let sibling = Event::new(CREATE).add_path(PathBuf::from("/srv/other.toml"));
        assert!(!b.add(Path::new(ROOT), &sibling));
        assert!(b.is_empty(), "{b:?}");
    }

    #[test]
    fn sub_folders_count_and_folder_events_rescan_the_folder() {
        let b = batch(&[
            ev(WRITE, &["team/coach.toml"]),
            ev(EventKind::Create(CreateKind::Folder), &["imported"]),
            ev(FROM, &["old-group"]),
            ev(EventKind::Remove(RemoveKind::Folder), &["gone"]),
        ]);
        assert_eq!(b.files, files(&["team/coach.toml"]));
        assert_eq!(b.dirs, files(&["gone", "imported", "old-group"]));
        assert!(!b.rescan);
    }

    #[test]
    fn overflow_and_errors_rescan() {
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        let b = batch(&[overflow]);
        assert!(b.rescan && !b.rearm);
        let mut b = Batch::default();
        b.add_error();
        assert!(b.rescan);
    }

    #[test]
    fn the_directory_itself_rescans_and_rearms() {
        let removed = Event::new(EventKind::Remove(RemoveKind::Folder)).add_path(ROOT.into());
        let b = batch(&[removed]);
        assert!(b.rescan && b.rearm);
    }

    #[test]
    fn configmap_data_swap_rescans() {
        let b = batch(&[
            ev(
                EventKind::Create(CreateKind::Folder),
                &["..2026_01_02_03_04_05.1"],
            ),
            ev(CREATE, &["..2026_01_02_03_04_05.1/coach.toml"]),
            ev(CREATE, &["..data_tmp"]),
            ev(BOTH, &["..data_tmp", "..data"]),
        ]);
        assert!(b.rescan && !b.rearm);
        assert!(b.files.is_empty());
    }
}
