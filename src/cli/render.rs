//! `personactl render`: a persona's final system prompt, or a Markdown snapshot of every
//! persona for review (`--out`) and CI (`--check`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use personas::{Catalog, Date, Entry, Vars};

use super::{Cli, CmdResult, Failure, Outcome, dir_failure, print};

/// What `{{user_name}}` becomes when the caller gives none and the persona declares no
/// default, and `{{date}}` in a snapshot without `--date`: stand-ins that keep output stable.
const USER_NAME_STAND_IN: &str = "[user_name]";
const DATE_STAND_IN: &str = "[date]";

/// Arguments of `render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persona id (or alias) whose final system prompt to print.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    id: Option<String>,

    /// Every persona (hidden ones too): with `--out DIR` or `--check DIR`.
    #[arg(long, requires = "snapshot")]
    all: bool,

    /// Write one Markdown file per persona into DIR (front matter + final prompt), removing
    /// `*.md` files of personas that no longer exist.
    #[arg(long, value_name = "DIR", group = "snapshot")]
    out: Option<PathBuf>,

    /// Exit 1 when the Markdown snapshot in DIR differs from what `--out` would write.
    #[arg(long, value_name = "DIR", group = "snapshot")]
    check: Option<PathBuf>,

    /// A variable value, `NAME=VALUE` (repeatable): `user_name`, or one declared in `[vars]`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,

    /// The date for `{{date}}` (YYYY-MM-DD). Default: today (UTC) for one persona; the
    /// stand-in `[date]` for a snapshot, so that it does not go stale every day.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    date: Option<Date>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

fn parse_date(s: &str) -> Result<Date, String> {
    s.parse()
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let catalog = Catalog::load(&cli.dir).map_err(|e| dir_failure(cli, e))?;
    let mut vars = Vars::new(args.date.unwrap_or_else(Date::today_utc));
    if args.id.is_none() && args.date.is_none() {
        vars.set("date", DATE_STAND_IN);
    }
    for (k, v) in &args.vars {
        vars.set(k.clone(), v.clone());
    }
    if let Some(id) = &args.id {
        let entry = find(cli, &catalog, id)?;
        let unknown: Vec<&str> = args
            .vars
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !["user_name", "date"].contains(k) && !entry.persona.vars.contains_key(*k))
            .collect();
        if !unknown.is_empty() {
            let declared: Vec<&str> = entry.persona.vars.keys().map(String::as_str).collect();
            return Err(Failure::new(format!(
                "persona `{}` declares no variable {}",
                entry.id,
                unknown
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .hint(format!(
                "declared: {}; built-in: user_name, date",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            )));
        }
        let prompt = rendered(entry, &vars)?.system_prompt;
        print(|out| {
            out.write_all(prompt.as_bytes())?;
            if !prompt.ends_with('\n') {
                writeln!(out)?;
            }
            Ok(())
        })?;
        // On stderr, so that standard output is exactly the prompt.
        let tokenizer = personas::tokenizer_of(&entry.persona);
        eprintln!("tokens: {} ({tokenizer})", tokenizer.count(&prompt));
        return Ok(Outcome::Success);
    }

    report_errors(&catalog)?;
    let mut snapshot: BTreeMap<String, String> = BTreeMap::new();
    for entry in catalog.entries.values() {
        snapshot.insert(
            format!("{}.md", entry.id),
            markdown(&catalog, entry, &vars)?,
        );
    }
    if let Some(dir) = &args.out {
        write_snapshot(dir, &snapshot)?;
        print(|out| writeln!(out, "wrote {} files to {}", snapshot.len(), dir.display()))?;
        return Ok(Outcome::Success);
    }
    let Some(dir) = &args.check else {
        return Err(Failure::new(
            "`render --all` needs --out DIR or --check DIR",
        ));
    };
    let stale = compare(dir, &snapshot)?;
    if stale.is_empty() {
        print(|out| {
            writeln!(
                out,
                "{} is up to date ({} personas)",
                dir.display(),
                snapshot.len()
            )
        })?;
        return Ok(Outcome::Success);
    }
    print(|out| {
        for line in &stale {
            writeln!(out, "{line}")?;
        }
        writeln!(
            out,
            "the rendered snapshot in {} is stale: run `personactl render --all --out {}` and commit the result",
            dir.display(),
            dir.display()
        )
    })?;
    Ok(Outcome::Invalid)
}

fn find<'c>(cli: &Cli, catalog: &'c Catalog, id: &str) -> Result<&'c Entry, Failure> {
    super::find_persona(cli, catalog, id)
}

/// A snapshot of a directory with errors would silently leave personas out: refuse.
fn report_errors(catalog: &Catalog) -> Result<(), Failure> {
    let errors: Vec<_> = catalog
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    for d in &errors {
        let _ = personas::write_diagnostic(&mut err, d, false);
    }
    Err(Failure::invalid(format!(
        "{} error(s): fix them before rendering (`personactl validate`)",
        errors.len()
    )))
}

fn rendered(entry: &Entry, vars: &Vars) -> Result<personas::Rendered, Failure> {
    let mut vars = vars.clone();
    if vars.get("user_name").is_none() && !entry.persona.vars.contains_key("user_name") {
        vars.set("user_name", USER_NAME_STAND_IN);
    }
    entry
        .persona
        .render(&vars)
        .map_err(|e| Failure::invalid(format!("{}: {e}", entry.path.display())))
}

/// One persona as Markdown: YAML front matter (strings JSON-quoted, which YAML reads), then
/// the final system prompt.
fn markdown(catalog: &Catalog, entry: &Entry, vars: &Vars) -> Result<String, Failure> {
    let out = rendered(entry, vars)?;
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let p = &entry.persona;
    let mut md = String::from("---\n");
    md.push_str(&format!("id: {}\n", entry.id));
    md.push_str(&format!("name: {}\n", q(&p.name)));
    md.push_str(&format!("description: {}\n", q(&p.description)));
    md.push_str(&format!("icon: {}\n", q(&p.icon)));
    let chain = family(catalog, entry);
    if !chain.is_empty() {
        md.push_str(&format!("extends: [{}]\n", chain.join(", ")));
    }
    if p.hidden {
        md.push_str("hidden: true\n");
    }
    if let Some(order) = p.order {
        md.push_str(&format!("order: {order}\n"));
    }
    if !p.tags.is_empty() {
        let tags: Vec<String> = p.tags.iter().map(|t| q(t)).collect();
        md.push_str(&format!("tags: [{}]\n", tags.join(", ")));
    }
    if let Some(model) = &p.model {
        let json = serde_json::to_string(model).unwrap_or_default();
        md.push_str(&format!("model: {json}\n"));
    }
    if let Some(g) = &out.greeting {
        md.push_str(&format!("greeting: {}\n", q(g)));
    }
    md.push_str(&format!("revision: {}\n", entry.revision()));
    md.push_str("---\n\n");
    md.push_str(out.system_prompt.trim_end());
    md.push('\n');
    Ok(md)
}

/// The ancestors of `entry`, nearest first, from the `extends` of each file.
fn family(catalog: &Catalog, entry: &Entry) -> Vec<String> {
    personas::explain(catalog, &entry.id)
        .map(|e| e.chain.into_iter().skip(1).map(|a| a.id).collect())
        .unwrap_or_default()
}

/// The file in an `--out` folder that lists the files `render --all` wrote there: only those
/// are ever replaced or removed (a README or notes beside them stay untouched).
const MANIFEST: &str = ".personactl-rendered";

fn write_snapshot(dir: &Path, snapshot: &BTreeMap<String, String>) -> Result<(), Failure> {
    let io = |p: &Path, e: std::io::Error| Failure::new(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for name in existing(dir)? {
        if !snapshot.contains_key(&name) {
            let path = dir.join(&name);
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
    }
    for (name, text) in snapshot {
        let path = dir.join(name);
        let same = super::read::file_text(&path, super::read::MAX_TEXT_BYTES * 2)
            .ok()
            .is_some_and(|t| t == *text);
        if !same {
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
    }
    let mut manifest = String::from(
        "# Files written by `personactl render --all --out`; only these are replaced or removed.\n",
    );
    for name in snapshot.keys() {
        manifest.push_str(name);
        manifest.push('\n');
    }
    let path = dir.join(MANIFEST);
    std::fs::write(&path, manifest).map_err(|e| io(&path, e))?;
    Ok(())
}

/// The snapshot files in `dir` that `render --all` wrote: those its manifest lists (and,
/// from a snapshot written before the manifest existed, `*.md` files that begin with its
/// front matter). None when `dir` does not exist.
fn existing(dir: &Path) -> Result<Vec<String>, Failure> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Failure::new(format!("{}: {e}", dir.display()))),
    };
    let listed: Option<Vec<String>> =
        super::read::file_text(&dir.join(MANIFEST), super::read::MAX_TEXT_BYTES)
            .ok()
            .map(|m| {
                m.lines()
                    .filter(|l| !l.starts_with('#') && !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            });
    let mut names = Vec::new();
    for item in read {
        let item = item.map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".md") || !item.path().is_file() {
            continue;
        }
        let ours = match &listed {
            Some(listed) => listed.contains(&name),
            None => is_snapshot_file(&item.path()),
        };
        if ours {
            names.push(name);
        }
    }
    Ok(names)
}

/// Whether the file begins like a snapshot file: front matter with the persona's `id`.
fn is_snapshot_file(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| &head == b"---\nid: ")
}

/// One line per stale file: changed, missing or left over.
fn compare(dir: &Path, snapshot: &BTreeMap<String, String>) -> Result<Vec<String>, Failure> {
    let mut stale = Vec::new();
    for (name, text) in snapshot {
        let path = dir.join(name);
        match super::read::file_text(&path, super::read::MAX_TEXT_BYTES * 2) {
            Ok(on_disk) if on_disk == *text => {}
            Ok(_) => stale.push(format!("changed: {}", path.display())),
            Err(_) => stale.push(format!("missing: {}", path.display())),
        }
    }
    for name in existing(dir)? {
        if !snapshot.contains_key(&name) {
            stale.push(format!("no longer a persona: {}", dir.join(name).display()));
        }
    }
    Ok(stale)
}
