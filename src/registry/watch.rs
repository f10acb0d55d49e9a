//! Hot reload: [`notify`] file events, debounced over the whole directory into one
//! [`Batch`] per burst, applied to the [`Registry`] as one swap.
//!
//! Why not `notify-debouncer-full`: it releases each path once *that path* has been quiet for
//! the timeout, so a `git checkout` that takes longer than the timeout arrives in several
//! batches (several generations, readers seeing a half-checked-out tree). Here a batch closes
//! only when the *directory* has been quiet for the debounce time (or after
//! `max_batch_wait`). Renames need no pairing: a batch names paths, and the reload reads each
//! one's final state. Overflow (`Flag::Rescan`) and watcher errors become a full rescan.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::batch::Batch;
use crate::error::Error;
use crate::registry::Registry;

enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// A running hot reload (see [`Registry::watch`]). Dropping it stops the watch and joins its
/// thread.
pub struct Watcher {
    stop: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    pub(crate) fn start(registry: Registry) -> Result<Self, Error> {
        let dir = registry.dir().to_path_buf();
        let root = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
        let (tx, rx) = channel();
        let events = tx.clone();
        let mut fs = notify::recommended_watcher(move |res| {
            // The receiver is gone only once the watch thread has stopped.
            let _ = events.send(Msg::Fs(res));
        })
        .map_err(|e| watch_error(&dir, &e))?;
        fs.watch(&root, RecursiveMode::Recursive)
            .map_err(|e| watch_error(&dir, &e))?;
        // The parent too, to see the directory removed and created again. Best effort: a
        // directory at the file system root has no parent worth watching.
        if let Some(parent) = root.parent() {
            let _ = fs.watch(parent, RecursiveMode::NonRecursive);
        }
        let thread = std::thread::Builder::new()
            .name("personas-watch".into())
            .spawn(move || run(&registry, &root, fs, &rx))
            .map_err(|e| Error::io(&dir, e))?;
        Ok(Watcher {
            stop: tx,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.stop.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The watch thread: collect a burst, apply it, repeat until told to stop.
fn run(registry: &Registry, root: &Path, mut fs: RecommendedWatcher, rx: &Receiver<Msg>) {
    let debounce = registry.shared().debounce;
    let max_wait = registry.shared().max_batch_wait;
    // Files may have changed between the initial load and the start of the watch: the
    // first batch is a rescan, merged with whatever burst is under way.
    let mut batch = Batch {
        rescan: true,
        ..Batch::default()
    };
    let mut error = None;
    loop {
        // Wait for the first relevant event of the next burst.
        while batch.is_empty() {
            match rx.recv() {
                Ok(Msg::Fs(res)) => {
                    absorb(&mut batch, &mut error, root, res, &mut fs);
                }
                Ok(Msg::Stop) | Err(_) => return,
            }
        }
        // Then until the directory has been quiet for `debounce`.
        let start = Instant::now();
        let mut last = start;
        loop {
            let deadline = (last + debounce).min(start + max_wait);
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match rx.recv_timeout(left) {
                Ok(Msg::Fs(res)) => {
                    if absorb(&mut batch, &mut error, root, res, &mut fs) {
                        last = Instant::now();
                    }
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        batch.watch_error = error.take();
        // A failed reload (directory missing) is in the status; keep watching.
        let _ = registry.apply(std::mem::take(&mut batch));
    }
}

/// Folds one notification into the batch; returns whether it was relevant. Re-arms the
/// watch at once when the directory itself came back, so that no later change is missed.
fn absorb(
    batch: &mut Batch,
    error: &mut Option<String>,
    root: &Path,
    res: notify::Result<notify::Event>,
    fs: &mut RecommendedWatcher,
) -> bool {
    match res {
        Ok(event) => {
            let was_rearm = batch.rearm;
            let relevant = batch.add(root, &event);
            if batch.rearm && !was_rearm {
                rearm(fs, root);
                batch.rearm = false;
            }
            relevant
        }
        Err(e) => {
            *error = Some(watch_error(root, &e).to_string());
            batch.add_error();
            true
        }
    }
}

fn rearm(fs: &mut RecommendedWatcher, root: &Path) {
    let _ = fs.unwatch(root);
    if root.is_dir() {
        let _ = fs.watch(root, RecursiveMode::Recursive);
    }
}

/// A watcher error as an [`Error::Watch`], saying which limit to raise when one was hit.
pub(crate) fn watch_error(dir: &Path, e: &notify::Error) -> Error {
    let os = match &e.kind {
        notify::ErrorKind::Io(io) => io.raw_os_error(),
        _ => None,
    };
    let message = match (&e.kind, os) {
        (notify::ErrorKind::MaxFilesWatch, _) | (_, Some(28)) => {
            "the inotify watch limit is reached (no space left on device); raise it with \
             `sysctl fs.inotify.max_user_watches=524288` (persist it in /etc/sysctl.d/)"
                .to_owned()
        }
        (_, Some(24)) => "too many open files or inotify instances; raise \
             `sysctl fs.inotify.max_user_instances=512` (and `ulimit -n`)"
            .to_owned(),
        _ => e.to_string(),
    };
    Error::Watch {
        path: PathBuf::from(dir),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_limits_name_the_sysctl_to_raise() {
        let full = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        let msg = watch_error(Path::new("personas"), &full).to_string();
        assert!(msg.contains("fs.inotify.max_user_watches"), "{msg}");
        assert!(msg.starts_with("personas: cannot watch"), "{msg}");
        let nospc = notify::Error::io(std::io::Error::from_raw_os_error(28));
        assert!(
            watch_error(Path::new("p"), &nospc)
                .to_string()
                .contains("max_user_watches")
        );
        let emfile = notify::Error::io(std::io::Error::from_raw_os_error(24));
        assert!(
            watch_error(Path::new("p"), &emfile)
                .to_string()
                .contains("fs.inotify.max_user_instances")
        );
    }
}
