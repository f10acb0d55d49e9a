//! A small fluent helper for integration tests: temp trees of files, and runs of the real
//! `personactl` binary with their stdout, stderr and exit code.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary directory, filled fluently, removed on drop.
pub struct TempTree {
    dir: tempfile::TempDir,
}

impl TempTree {
    pub fn new() -> Self {
        TempTree {
            dir: tempfile::tempdir().expect("a temp dir can be created"),
        }
    }

    /// Adds a text file (and its folders).
    pub fn file(self, rel: &str, text: &str) -> Self {
        self.bytes(rel, text.as_bytes())
    }

    /// Adds a file with raw bytes.
    pub fn bytes(self, rel: &str, bytes: &[u8]) -> Self {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("a file path has a parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write test file");
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// A command line of the real binary, run from the repository root with a clean environment.
pub struct Invocation {
    cmd: Command,
}

pub fn personactl() -> Invocation {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_personactl"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in [
        "PERSONAS_DIR",
        "PERSONAS_SESSIONS",
        "PERSONAS_DEFAULT_PERSONA",
        "PERSONAS_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    Invocation { cmd }
}

impl Invocation {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn run(mut self) -> Run {
        let out = self.cmd.output().expect("personactl runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// What a run printed and how it exited.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}
