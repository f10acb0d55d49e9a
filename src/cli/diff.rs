//! `personactl diff`: what a change in git does to every resolved persona.

use clap::ValueEnum;
use personas::{Date, GitError, GitRepo, Head, Vars};

use super::{Cli, CmdResult, Failure, Outcome, color_stdout, print};

/// What `{{date}}` becomes without `--date`: a stand-in, so that a diff does not depend on
/// the day it is run.
const DATE_STAND_IN: &str = "[date]";

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old side: a git revision (default: HEAD, the last commit).
    base: Option<String>,

    /// The new side: a git revision (default: the work tree, uncommitted and untracked
    /// persona files included, files git ignores left out).
    head: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Exit 1 when any persona is added, removed, renamed, changed or invalid.
    #[arg(long)]
    exit_code: bool,

    #[command(flatten)]
    render: RenderArgs,
}

/// How prompts are rendered before they are compared.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// A variable value, `NAME=VALUE` (repeatable): `user_name`, or one declared in `[vars]`.
    /// Without it each variable takes its default (`user_name`: the stand-in `[user_name]`).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,

    /// The date for `{{date}}` (YYYY-MM-DD). Default: the stand-in `[date]`.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    date: Option<Date>,
}

impl RenderArgs {
    /// The variables to render with.
    pub fn vars(&self) -> Vars {
        // 1970-01-01 exists: `Date::new` cannot fail here.
        let epoch = Date::new(1970, 1, 1).unwrap_or_else(Date::today_utc);
        let mut vars = Vars::new(self.date.unwrap_or(epoch));
        if self.date.is_none() {
            vars.set("date", DATE_STAND_IN);
        }
        for (k, v) in &self.vars {
            vars.set(k.clone(), v.clone());
        }
        vars
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people (coloured on a terminal).
    Human,
    /// For a pull-request comment or `$GITHUB_STEP_SUMMARY`.
    Markdown,
    /// One JSON document.
    Json,
}

pub fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

pub fn parse_date(s: &str) -> Result<Date, String> {
    s.parse()
}

/// The failure for a git error: exit 2, with a hint where one helps.
pub fn git_failure(e: GitError) -> Failure {
    let hint = match &e {
        GitError::NotARepository { .. } => {
            Some("run it inside a git repository that holds the personas directory")
        }
        GitError::OutsideWorkTree { .. } => {
            Some("point --dir (or PERSONAS_DIR) at a folder inside the repository")
        }
        GitError::UnknownRevision { .. } => Some(
            "check the name with `git rev-parse`; a shallow clone may lack it (CI: fetch-depth: 0)",
        ),
        _ => None,
    };
    let failure = Failure::new(e.to_string());
    match hint {
        Some(h) => failure.hint(h),
        None => failure,
    }
}

/// Opens the repository around `--dir`.
pub fn open(cli: &Cli) -> Result<GitRepo, Failure> {
    GitRepo::open(&cli.dir).map_err(git_failure)
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let repo = open(cli)?;
    let base = args.base.as_deref().unwrap_or("HEAD");
    let head = match &args.head {
        Some(rev) => Head::Rev(rev.clone()),
        None => Head::WorkTree,
    };
    let review = personas::diff(&repo, base, &head, &args.render.vars()).map_err(git_failure)?;
    match args.format {
        Format::Human => {
            let color = color_stdout();
            print(|out| personas::write_review_human(out, &review, color))?;
        }
        Format::Markdown => print(|out| personas::write_review_markdown(out, &review))?,
        Format::Json => print(|out| personas::write_review_json(out, &review))?,
    }
    Ok(if args.exit_code && review.any_change() {
        Outcome::Invalid
    } else {
        Outcome::Success
    })
}
