//! The command line: global options, one module per subcommand, exit codes.

mod completions;
mod diff;
mod edit;
mod explain;
mod import;
mod init;
mod list;
mod log;
mod lsp;
mod mv;
mod new;
mod read;
mod render;
mod rm;
mod schema;
mod serve;
mod session;
mod session_pin;
mod set;
mod show;
mod validate;
mod watch;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// AI chat personas as TOML files in git: validate, inspect and manage them.
#[derive(Debug, Parser)]
#[command(name = "personactl", version, about, propagate_version = true)]
pub struct Cli {
    /// The personas directory.
    #[arg(
        long,
        global = true,
        env = "PERSONAS_DIR",
        default_value = "personas",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// The id of the default persona (the fallback for sessions without a live persona).
    #[arg(long, global = true, env = "PERSONAS_DEFAULT_PERSONA", default_value = personas::DEFAULT_PERSONA_ID, value_name = "ID")]
    pub default_persona: String,

    /// The sessions index: a file (default: `sessions.jsonl` beside the personas directory),
    /// or a PostgreSQL URL (`postgres://user:password@host:5432/dbname`).
    #[arg(
        long,
        global = true,
        env = "PERSONAS_SESSIONS",
        value_name = "FILE|URL",
        hide_env_values = true
    )]
    pub sessions: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The sessions backend: `--sessions` (a path or a `postgres://` URL), else the file
    /// `sessions.jsonl` beside the personas directory.
    pub fn sessions_backend(&self) -> personas::SessionBackend {
        match &self.sessions {
            Some(spec) => personas::SessionBackend::parse(spec),
            None => personas::SessionBackend::File(self.sessions_path()),
        }
    }

    /// The default sessions file: `sessions.jsonl` beside the personas directory (or
    /// `--sessions` itself).
    pub fn sessions_path(&self) -> PathBuf {
        if let Some(path) = &self.sessions {
            return path.clone();
        }
        match (self.dir.file_name(), self.dir.parent()) {
            (Some(_), Some(parent)) => parent.join("sessions.jsonl"),
            _ => self.dir.join("..").join("sessions.jsonl"),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check persona files and folders; report every problem (exit 1 when any is found).
    Validate(validate::Args),
    /// Print, write or check the persona JSON Schema.
    Schema(schema::Args),
    /// Write the shipped default personas into a directory (never overwriting a file).
    Init(init::Args),
    /// List the personas.
    List(list::Args),
    /// Show one persona.
    Show(show::Args),
    /// Create a persona file (validated before it is written).
    New(Box<new::Args>),
    /// Change one key of a persona in place (comments and layout are kept).
    Set(set::Args),
    /// Delete a persona file.
    Rm(rm::Args),
    /// Rename a persona; the old id stays as an alias so linked sessions still resolve.
    Mv(mv::Args),
    /// Edit a persona in $EDITOR; an invalid edit is never written.
    Edit(edit::Args),
    /// Import personas from Character Card V2 (JSON or PNG) or Markdown agent files.
    Import(import::ImportArgs),
    /// Export a persona as a Character Card V2 or a Markdown agent file.
    Export(import::ExportArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    Completions(completions::Args),
    /// Print the man page (roff).
    Man,
    /// Load, then print one line per reload event until interrupted.
    Watch(watch::Args),
    /// Link chat sessions to personas: link, show, unlink, list, compact.
    Session(session::Args),
    /// Serve the HTTP API (personas, sessions, schema, OpenAPI) over the live registry.
    Serve(serve::Args),
    /// Print a persona's final system prompt, or write/check a Markdown snapshot of all.
    Render(render::Args),
    /// Show where each field of a resolved persona comes from.
    Explain(explain::Args),
    /// Run the language server for editors (LSP over stdio): `validate`'s verdict while typing.
    Lsp(lsp::Args),
    /// Compare the resolved personas of two git revisions (default: HEAD and the work tree).
    Diff(diff::Args),
    /// The commits where a resolved persona changed, newest first.
    Log(log::Args),
}

/// How a command ended, short of an error: the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: invalid input was found.
    Invalid,
}

/// A command's failure: exit 2 (usage or I/O), with a message and maybe a hint.
#[derive(Debug)]
pub struct Failure {
    message: String,
    hint: Option<String>,
    /// Exit code 1 instead of 2 (the input is wrong, not the invocation or the machine).
    invalid: bool,
}

impl Failure {
    /// An exit-2 failure.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            invalid: false,
        }
    }

    /// An exit-1 failure: the input named is invalid or does not exist.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            invalid: true,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<personas::Error> for Failure {
    fn from(e: personas::Error) -> Self {
        Failure::new(e.to_string())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::new(e.to_string())
    }
}

/// A result of a command.
pub type CmdResult = Result<Outcome, Failure>;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli, args),
        Command::Schema(args) => schema::run(&cli, args),
        Command::Init(args) => init::run(&cli, args),
        Command::List(args) => list::run(&cli, args),
        Command::Show(args) => show::run(&cli, args),
        Command::New(args) => new::run(&cli, args),
        Command::Set(args) => set::run(&cli, args),
        Command::Rm(args) => rm::run(&cli, args),
        Command::Mv(args) => mv::run(&cli, args),
        Command::Edit(args) => edit::run(&cli, args),
        Command::Import(args) => import::import(&cli, args),
        Command::Export(args) => import::export(&cli, args),
        Command::Completions(args) => completions::run(args),
        Command::Man => completions::man(),
        Command::Watch(args) => watch::run(&cli, args),
        Command::Session(args) => session::run(&cli, args),
        Command::Serve(args) => serve::run(&cli, args),
        Command::Render(args) => render::run(&cli, args),
        Command::Explain(args) => explain::run(&cli, args),
        Command::Lsp(args) => lsp::run(&cli, args),
        Command::Diff(args) => diff::run(&cli, args),
        Command::Log(args) => log::run(&cli, args),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(f) if f.message.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(f) => {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "error: {}", f.message);
            if let Some(hint) = f.hint {
                let _ = writeln!(err, "  hint: {hint}");
            }
            ExitCode::from(if f.invalid { 1 } else { 2 })
        }
    }
}

/// Buffered standard output; a closed pipe (`personactl list | head`) ends the command quietly.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

/// Writes with `f` to standard output and flushes, mapping a broken pipe to success.
pub fn print(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Failure> {
    let mut out = stdout();
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Failure::new("Broken pipe")),
        Err(e) => Err(e.into()),
    }
}

/// Whether standard output should get colours: a terminal, and `NO_COLOR` unset.
pub fn color_stdout() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The failure for a personas directory that cannot be read.
pub fn dir_failure(cli: &Cli, e: personas::Error) -> Failure {
    match e {
        personas::Error::NotFound { .. } => Failure::new(format!("personas directory `{}` does not exist", cli.dir.display()))
            .hint("run `personactl init` to create it with the default personas, or point --dir (or PERSONAS_DIR) at it"),
        other => other.into(),
    }
}

/// The persona `id` (or the one that lists it among its aliases) of a loaded catalog, or the
/// failure that says why there is none: no such file, or a file that is invalid (its
/// problems printed on standard error, the first one in the message).
pub fn find_persona<'c>(
    cli: &Cli,
    catalog: &'c personas::Catalog,
    id: &str,
) -> Result<&'c personas::Entry, Failure> {
    if let Some(entry) = catalog.find(id) {
        return Ok(entry);
    }
    let broken: Vec<_> = catalog
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && personas::stem_id(&d.path).as_deref() == Some(id))
        .collect();
    let Some(first) = broken.first() else {
        return Err(
            Failure::invalid(format!("no persona `{id}` in {}", cli.dir.display()))
                .hint("`personactl list --all` shows every persona"),
        );
    };
    let mut err = io::stderr().lock();
    for d in &broken {
        let _ = personas::write_diagnostic(&mut err, d, false);
    }
    Err(Failure::invalid(format!(
        "persona `{id}` is invalid: {}:{}:{}: {}",
        first.path.display(),
        first.line,
        first.column,
        first.message
    ))
    .hint(format!(
        "`personactl validate {}` shows every problem",
        first.path.display()
    )))
}

/// The store over `--dir`, guarding `--default-persona`.
pub fn store(cli: &Cli) -> personas::Store {
    personas::Store::new(&cli.dir).with_default_persona(Some(cli.default_persona.clone()))
}

/// The failure for a refused or failed write: invalid content prints its diagnostics (exit 1);
/// a missing id, a conflict or a bad key is exit 1; I/O is exit 2. With `show_source`, the
/// diagnostics quote the content that would have been written.
pub fn store_failure(e: personas::StoreError, show_source: bool) -> Failure {
    use personas::StoreError;
    match e {
        StoreError::Invalid { diagnostics } => {
            let mut err = io::stderr().lock();
            for d in &diagnostics {
                let mut d = d.clone();
                if !show_source {
                    d.snippet = None;
                }
                let _ = personas::write_diagnostic(&mut err, &d, false);
            }
            Failure::invalid(
                "refused: the result would not be a valid persona; nothing was written",
            )
        }
        StoreError::IsDefault { id } => Failure::invalid(format!(
            "`{id}` is the default persona: sessions without a persona fall back to it"
        ))
        .hint("choose another default with --default-persona first"),
        StoreError::Io(e) => e.into(),
        other => Failure::invalid(other.to_string()),
    }
}

/// A persona's token counts in one line, e.g. `812 in the system prompt, 14 in the greeting
/// (o200k_base)`.
pub fn tokens_line(t: &personas::TokenCounts) -> String {
    match t.greeting {
        Some(g) => format!(
            "{} in the system prompt, {g} in the greeting ({})",
            t.system_prompt, t.tokenizer
        ),
        None => format!("{} in the system prompt ({})", t.system_prompt, t.tokenizer),
    }
}
