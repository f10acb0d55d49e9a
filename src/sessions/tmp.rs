//! Temporary files of atomic rewrites (`.<name>.<pid>.<nanos>.tmp` beside the file), and the
//! removal of those left behind by writers that died mid-rewrite (a killed `session compact`).
//! They are never read as data: loading only ever opens the file itself.

use std::fs;
use std::path::{Path, PathBuf};

/// A fresh temporary path beside `path`, named after it, this process and the time.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(
        ".{}.{}.{nanos}.tmp",
        file_name(path),
        std::process::id()
    ))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "sessions".into(), |n| n.to_string_lossy().into_owned())
}

/// The writer's process id when `name` is a temporary file of `file`'s rewrites.
fn temp_pid(name: &str, file: &str) -> Option<u32> {
    let rest = name
        .strip_prefix('.')?
        .strip_prefix(file)?
        .strip_prefix('.')?;
    let rest = rest.strip_suffix(".tmp")?;
    let (pid, nanos) = rest.split_once('.')?;
    nanos.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
    pid.parse().ok()
}

/// Whether process `pid` is (as far as can be told) alive. Without `/proc`, every process
/// counts as alive, so that nothing is removed on a guess.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true; // maybe another thread of ours, mid-rewrite
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes the temporary files of `path`'s rewrites whose writer is dead; returns how many.
/// Errors are ignored: a file left behind is harmless, and the next sweep tries again.
pub(crate) fn remove_stale_temps(path: &Path) -> usize {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file = file_name(path);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_pid(n, &file)) else {
            continue;
        };
        if !alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_exactly() {
        let t = temp_path(Path::new("/d/s.jsonl"));
        let name = t.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_pid(name, "s.jsonl"), Some(std::process::id()));
        assert_eq!(temp_pid(".s.jsonl.12.345.tmp", "s.jsonl"), Some(12));
        for other in [
            "s.jsonl",
            ".s.jsonl.tmp",
            ".s.jsonl.x.1.tmp",
            ".s.jsonl.1.x.tmp",
            ".t.jsonl.1.2.tmp",
            ".s.jsonl.1.2.tmp.bak",
        ] {
            assert_eq!(temp_pid(other, "s.jsonl"), None, "{other}");
        }
        // The revisions file's temporaries are not the sessions file's, and the other way.
        assert_eq!(temp_pid(".s.revisions.jsonl.1.2.tmp", "s.jsonl"), None);
    }
}
