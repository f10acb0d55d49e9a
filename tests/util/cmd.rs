//! One way to run a binary in a test: [`Cmd`] builds the command line fluently, [`Cmd::run`]
//! runs it to the end and gives an [`Output`] whose assertions print everything on failure.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Variables removed from every child's environment, so that the developer's shell or CI
/// cannot change what a test sees. Every `PERSONAS_*` and `PERSONACTL_*` variable goes too
/// (see [`CLEARED_PREFIXES`]); a test that needs one sets it with [`Cmd::env`].
pub const CLEARED: &[&str] = &[
    // Colour: output is never a terminal in a test, so no colour either way; removed so that a
    // test setting one of these is the only thing deciding.
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    // `personactl edit` prefers VISUAL over EDITOR: a test names its editor itself.
    "VISUAL",
    "EDITOR",
    // Log filters would add lines to stderr.
    "RUST_LOG",
    // The example chat tool calls a model server only when these are set.
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
];

/// Prefixes of the variables personactl reads (`PERSONAS_DIR`, `PERSONAS_SESSIONS`,
/// `PERSONAS_DEFAULT_PERSONA`, `PERSONAS_TOKEN`, and any added later).
pub const CLEARED_PREFIXES: &[&str] = &["PERSONAS_", "PERSONACTL_"];

/// A command line of a binary (by default the real `personactl`), run from the repository
/// root with a clean environment unless told otherwise.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// The name the tests have used since the start: `personactl()` returns an [`Invocation`].
pub type Invocation = Cmd;

/// `personactl` with a clean environment, run from the repository root (kept name: same as
/// [`Cmd::new`]).
pub fn personactl() -> Cmd {
    Cmd::new()
}

impl Default for Cmd {
    fn default() -> Self {
        Self::new()
    }
}

impl Cmd {
    /// The real `personactl` built for this test run.
    pub fn new() -> Self {
        Self::program(env!("CARGO_BIN_EXE_personactl"))
    }

    /// Another program (an example binary, a tool), with the same clean environment.
    pub fn program(program: impl AsRef<OsStr>) -> Self {
        let mut cmd = Command::new(program);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        for var in CLEARED {
            cmd.env_remove(var);
        }
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if CLEARED_PREFIXES.iter().any(|p| name.starts_with(p)) {
                cmd.env_remove(&key);
            }
        }
        Cmd { cmd, stdin: None }
    }

    /// Runs in `dir` (the default is the repository root).
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Passes `--dir DIR`: the personas directory.
    pub fn personas(self, dir: impl AsRef<Path>) -> Self {
        self.arg("--dir").arg(dir.as_ref())
    }

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

    pub fn env_remove(mut self, key: &str) -> Self {
        self.cmd.env_remove(key);
        self
    }

    /// What the process reads on stdin (otherwise it reads nothing: stdin is `/dev/null`).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The configured `std::process::Command`, for a test that drives the process itself
    /// (kills it, reads its output line by line). Stdin, when set, is not applied.
    pub fn command(self) -> Command {
        self.cmd
    }

    /// Starts the process with stdin from `/dev/null` and stdout and stderr piped.
    pub fn spawn(mut self) -> Child {
        let line = describe(&self.cmd);
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {line}: {e}"))
    }

    /// Runs to the end and collects the exit code, stdout and stderr.
    pub fn run(mut self) -> Output {
        let line = describe(&self.cmd);
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {line}: {e}"));
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin was piped just above");
            // Written from a thread: a child that prints a lot before reading would otherwise
            // block on a full stdout pipe while we block on its full stdin.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{line} did not finish: {e}"));
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stdout_bytes: out.stdout,
            line,
        }
    }
}

/// `program arg…`, for messages.
fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_else(|| cmd.get_program())
        .to_string_lossy()
        .into_owned();
    let args: Vec<OsString> = cmd.get_args().map(OsStr::to_owned).collect();
    let args: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", a.to_string_lossy()))
        .collect();
    format!("{program} {}", args.join(" "))
}

/// What a run printed and how it exited. The assertions take and give back the output, so
/// that they chain: `cmd.run().code(1).stderr_contains("no persona")`.
pub struct Output {
    /// The exit code (`None` when a signal ended the process).
    pub code: Option<i32>,
    /// Stdout, decoded lossily.
    pub stdout: String,
    /// Stderr, decoded lossily.
    pub stderr: String,
    /// Stdout as the bytes the process wrote.
    pub stdout_bytes: Vec<u8>,
    line: String,
}

/// The name the tests have used since the start.
pub type Run = Output;

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n--- exit code: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.line, self.code, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(self) -> Self {
        self.code(0)
    }

    /// Asserts the exit code (0 ok, 1 invalid input found, 2 usage or I/O error).
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "exit code of {self}");
        self
    }

    /// Asserts the exit code, borrowing (kept name from the first helper).
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "exit code of {self}");
        self
    }

    #[track_caller]
    pub fn stdout_contains(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {self}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}: {self}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_contains(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self}"
        );
        self
    }

    /// Asserts stdout is exactly `expected`.
    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(self.stdout, expected, "stdout of {self}");
        self
    }

    /// Stdout parsed as one JSON document.
    #[track_caller]
    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self}"))
    }

    /// Stdout parsed as JSON Lines, one document a line.
    #[track_caller]
    pub fn stdout_json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("line {l:?} is not JSON ({e}): {self}"))
            })
            .collect()
    }
}
