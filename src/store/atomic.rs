//! Durable, atomic file writes: a hidden temp file in the same folder, flushed to disk, then
//! renamed over the target, then the folder flushed so that the rename survives a crash.
//! Readers see the old file or the new one, never a part; a crash leaves at worst a hidden
//! `.personactl-*.tmp` file, which no check reads.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::Error;

/// Why an atomic write failed.
pub(super) enum WriteError {
    /// A file that was to be created exists (another writer got there first).
    Exists,
    /// Reading or writing failed.
    Io(Error),
}

/// One file of a batch: where, what, and whether it must not exist yet.
pub(super) struct Pending<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub create_new: bool,
}

/// From this many files on, a batch flushes the whole filesystem once (`syncfs(2)`) instead
/// of each file: one flush is cheaper than a few dozen on every disk we measured, while for
/// a handful of files flushing only them is cheaper than flushing whatever else is pending.
const SYNCFS_FROM: usize = 16;

/// Writes `text` to `path` atomically (see the module's doc); with `create_new`, fails with
/// [`WriteError::Exists`] rather than replace a file that exists.
pub(super) fn write_atomic(path: &Path, text: &str, create_new: bool) -> Result<(), WriteError> {
    write_all(&[Pending {
        path,
        text,
        create_new,
    }])
    .map_err(|(_, e)| e)
}

/// Writes every file of `batch` atomically and durably: all temp files first, one flush of
/// their contents, then the renames in order, then one flush of each folder. On an error,
/// returns the index of the file it concerns; the files before it in the batch are written
/// (each whole), the others are not, and no temp file is left behind.
pub(super) fn write_all(batch: &[Pending<'_>]) -> Result<(), (usize, WriteError)> {
    // Staged on all cores (each file its own temp file); the first failure in batch order
    // is the one reported, and every staged temp file is removed when one fails.
    let staged: Vec<Result<NamedTempFile, Error>> = {
        use rayon::prelude::*;
        batch.par_iter().map(stage).collect()
    };
    let mut temps: Vec<NamedTempFile> = Vec::with_capacity(batch.len());
    for (i, tmp) in staged.into_iter().enumerate() {
        temps.push(tmp.map_err(|e| (i, WriteError::Io(e)))?);
    }
    flush_contents(batch, &temps)?;
    let mut folders = BTreeSet::new();
    for (i, (file, tmp)) in batch.iter().zip(temps).enumerate() {
        persist(file, tmp).map_err(|e| (i, e))?;
        folders.insert(folder_of(file.path).to_path_buf());
    }
    for folder in folders {
        sync_folder(&folder).map_err(|e| {
            // Every rename is done; the error concerns the last file in that folder.
            let last = batch
                .iter()
                .rposition(|f| folder_of(f.path) == folder)
                .unwrap_or(0);
            (last, WriteError::Io(e))
        })?;
    }
    Ok(())
}

/// fsyncs the folder holding `path`, so that a rename or removal survives a crash.
pub(super) fn sync_parent(path: &Path) -> Result<(), Error> {
    sync_folder(folder_of(path))
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_folder(folder: &Path) -> Result<(), Error> {
    File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(folder, e))
}

/// The temp file beside `file.path`, holding its text, with the mode of the file it replaces
/// (a new file: `0644` as the umask allows, set when the temp file is created).
fn stage(file: &Pending<'_>) -> Result<NamedTempFile, Error> {
    let io = |e: std::io::Error| Error::io(file.path, e);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".personactl-").suffix(".tmp");
    #[cfg(unix)]
    if file.create_new {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(folder_of(file.path)).map_err(io)?;
    tmp.write_all(file.text.as_bytes()).map_err(io)?;
    #[cfg(unix)]
    if !file.create_new {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file.path).map_or(0o644, |m| m.permissions().mode());
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    Ok(tmp)
}

/// Flushes the staged contents to disk: each file, or (large batches, Linux) the filesystem
/// at once.
fn flush_contents(
    batch: &[Pending<'_>],
    temps: &[NamedTempFile],
) -> Result<(), (usize, WriteError)> {
    #[cfg(target_os = "linux")]
    if temps.len() >= SYNCFS_FROM {
        // All temp files of a batch live on the personas directory's filesystem: one
        // `syncfs` flushes them all, and reports a write-back error of any of them.
        return rustix::fs::syncfs(temps[0].as_file())
            .map_err(|e| (0, WriteError::Io(Error::io(batch[0].path, e.into()))));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = SYNCFS_FROM;
    for (i, (file, tmp)) in batch.iter().zip(temps).enumerate() {
        tmp.as_file()
            .sync_all()
            .map_err(|e| (i, WriteError::Io(Error::io(file.path, e))))?;
    }
    Ok(())
}

fn persist(file: &Pending<'_>, tmp: NamedTempFile) -> Result<(), WriteError> {
    let target: PathBuf = file.path.to_path_buf();
    if file.create_new {
        tmp.persist_noclobber(&target).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists
            } else {
                WriteError::Io(Error::io(&target, e.error))
            }
        })?;
    } else {
        tmp.persist(&target)
            .map_err(|e| WriteError::Io(Error::io(&target, e.error)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Pending, WriteError, write_all};

    #[test]
    fn a_batch_that_cannot_stage_one_file_writes_none_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let good: Vec<_> = (0..40)
            .map(|i| dir.path().join(format!("p-{i:02}.toml")))
            .collect();
        // Its folder does not exist: its temp file cannot be made.
        let bad = dir.path().join("missing").join("q.toml");
        let mut paths: Vec<&std::path::Path> = good.iter().map(|p| p.as_path()).collect();
        paths.insert(25, &bad);
        let batch: Vec<Pending<'_>> = paths
            .iter()
            .map(|p| Pending {
                path: p,
                text: "name = \"x\"\n",
                create_new: true,
            })
            .collect();
        let (at, e) = write_all(&batch).expect_err("one file cannot be staged");
        assert_eq!(at, 25, "the failing file is the one reported");
        assert!(matches!(e, WriteError::Io(_)));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("the dir reads")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert!(left.is_empty(), "nothing written, no temp file: {left:?}");
    }
}
