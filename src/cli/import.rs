//! `personactl import` and `personactl export`.
//!
//! Import runs in three stages: every file is read and converted (pure functions, in
//! parallel); the plan is made against the directory read once (a file imported before —
//! same source content — is `unchanged`; a changed source imported before from a file of the
//! same name is updated in place; the rest get fresh ids); then the whole proposed directory
//! is checked once and written as one batch ([`apply`]). Importing N files into a directory of
//! M personas costs O(N + M).

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use personas::{
    CARD_IMAGE, CheckedFile, IMPORT_EXT, Imported, Persona, Store, Target, WriteOp, check_file,
};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{Cli, CmdResult, Failure, Outcome, print, store_failure};

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files to import: character cards (V1/V2/V3 JSON, PNG, CHARX), Open WebUI model
    /// exports (JSON), Markdown agent files (detected from the content).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The persona id.
    id: String,
    /// The target format.
    #[arg(long, value_enum)]
    to: ExportTarget,
    /// Write to this file instead of standard output (its extension must fit the format).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportTarget {
    /// Character Card V2 JSON.
    CardV2,
    /// Character Card V3 JSON.
    CardV3,
    /// PNG with a V2 card (`chara` chunk).
    CardV2Png,
    /// PNG with a V3 card (`ccv3` chunk, plus `chara` for older readers).
    CardV3Png,
    /// Markdown with YAML front matter (Claude Code subagents, VS Code custom agents).
    AgentMd,
    /// Open WebUI model preset (JSON).
    OpenWebui,
    /// LibreChat `modelSpecs` (YAML).
    Librechat,
}

impl ExportTarget {
    fn target(self) -> Target {
        match self {
            ExportTarget::CardV2 => Target::CardV2,
            ExportTarget::CardV3 => Target::CardV3,
            ExportTarget::CardV2Png => Target::CardV2Png,
            ExportTarget::CardV3Png => Target::CardV3Png,
            ExportTarget::AgentMd => Target::AgentMd,
            ExportTarget::OpenWebui => Target::OpenWebUi,
            ExportTarget::Librechat => Target::LibreChat,
        }
    }
}

/// One converted source persona.
struct Converted {
    file: PathBuf,
    /// Its position in its file (Open WebUI exports hold several).
    item: usize,
    imported: Imported,
}

/// What happens to one converted persona.
enum Action {
    Unchanged(PathBuf),
    Create,
    Update(PathBuf),
}

/// One file of the batch: a persona (and its assets) at `path`.
struct Planned {
    source: PathBuf,
    path: PathBuf,
    text: String,
    assets: Vec<(PathBuf, Vec<u8>)>,
    update: bool,
    warnings: Vec<String>,
}

pub fn import(cli: &Cli, args: &ImportArgs) -> CmdResult {
    let store = super::store(cli);
    let mut failed = 0usize;
    let mut io_failed = 0usize;
    // Each line formatted first, then written whole: standard error is unbuffered, and a
    // bulk import can have a line for every file.
    let fail = |file: &Path, msg: &str| stderr_line(&format!("error: {}: {msg}", file.display()));

    // 1. Read and convert every file (no writes).
    let results: Vec<(PathBuf, Result<Vec<Imported>, ReadFailure>)> = args
        .files
        .par_iter()
        .map(|file| (file.clone(), read_and_convert(file)))
        .collect();
    let mut converted = Vec::new();
    for (file, result) in results {
        match result {
            Ok(items) => {
                converted.extend(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(item, imported)| Converted {
                            file: file.clone(),
                            item,
                            imported,
                        }),
                )
            }
            Err(f) => {
                failed += 1;
                io_failed += usize::from(f.io);
                fail(&file, &f.message);
            }
        }
    }
    if io_failed > 0 {
        // A file that could not be read is an I/O error (exit 2): nothing is imported.
        return Err(Failure::new(format!(
            "{io_failed} of {} files could not be read; nothing was imported",
            args.files.len()
        )));
    }

    // 2. Plan against the directory and 3. check and write the files that pass, as one
    // batch: the directory read once, under the store's lock.
    let Done {
        written: accepted,
        refused: not,
        unchanged,
        oversize: mut refused,
    } = apply(&store, converted)?;
    for (file, path) in unchanged {
        print(|out| writeln!(out, "unchanged {} ({})", file.display(), path.display()))?;
    }
    refused.extend(not);
    let outcome = refused.len();
    for (planned, message) in refused {
        fail(&planned.source, &message);
    }
    for p in &accepted {
        for w in &p.warnings {
            stderr_line(&format!("warning: {}: {w}", p.source.display()));
        }
        let verb = if p.update { "updated" } else { "imported" };
        print(|out| writeln!(out, "{verb} {} -> {}", p.source.display(), p.path.display()))?;
    }
    failed += outcome;
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Invalid
    })
}

/// Writes `line` and a newline to standard error in one write (`eprintln!` writes each
/// formatted piece on its own, standard error being unbuffered). A failed write of a message
/// is not an error of the import.
fn stderr_line(line: &str) {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = std::io::stderr().write_all(&bytes);
}

/// Why a file could not be converted: it could not be read (`io`: exit 2), or it is not an
/// importable file.
struct ReadFailure {
    io: bool,
    message: String,
}

fn read_and_convert(file: &Path) -> Result<Vec<Imported>, ReadFailure> {
    use std::io::Read;
    let io = |e: std::io::Error| ReadFailure {
        io: true,
        message: e.to_string(),
    };
    let limit = personas::MAX_IMPORT_BYTES as u64;
    let meta = std::fs::metadata(file).map_err(io)?;
    if !meta.is_file() {
        // A device or a pipe (`/dev/zero`) has no size to check against the limit.
        return Err(ReadFailure {
            io: false,
            message: format!(
                "not a regular file: imports read regular files, up to the limit of {limit} bytes"
            ),
        });
    }
    if meta.len() > limit {
        return Err(ReadFailure {
            io: false,
            message: format!(
                "the file is {} bytes, over the import limit of {limit} bytes",
                meta.len()
            ),
        });
    }
    // Sized from the metadata (one read, and one more to see the end), and read through the
    // cap: a file that grows meanwhile is never read whole.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    std::fs::File::open(file)
        .map_err(io)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadFailure {
            io: false,
            message: format!("the file is over {limit} bytes, the import limit"),
        });
    }
    personas::import_all(&bytes).map_err(|e| ReadFailure {
        io: false,
        message: e.to_string(),
    })
}

/// The import record of a persona file: (source file name, item, source hash).
fn record(c: &CheckedFile) -> Option<(String, u64, String)> {
    let r = c.file.as_ref()?.extensions.get(IMPORT_EXT)?;
    Some((
        r.get("source")?.as_str()?.to_owned(),
        r.get("item").and_then(Value::as_u64).unwrap_or(0),
        r.get("sha256")?.as_str()?.to_owned(),
    ))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Decides, for each converted persona, whether it is unchanged, an update or new, and
/// gives each new one a free id. Returns the planned writes and the unchanged sources.
fn make_plan(
    dir: &Path,
    existing: &[CheckedFile],
    converted: Vec<Converted>,
) -> (Vec<Planned>, Vec<(PathBuf, PathBuf)>) {
    let mut by_hash: HashMap<(String, u64), PathBuf> = HashMap::new();
    let mut by_source: HashMap<(String, u64), (String, PathBuf)> = HashMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for c in existing {
        if let Some(id) = &c.id {
            taken.insert(id.clone());
        }
        if let Some(file) = &c.file {
            taken.extend(file.aliases.iter().cloned());
        }
        if let (Some((source, item, hash)), Some(id)) = (record(c), &c.id) {
            by_hash.insert((hash, item), c.path.clone());
            by_source.insert((source, item), (id.clone(), c.path.clone()));
        }
    }
    let mut plan = Vec::new();
    let mut unchanged = Vec::new();
    for mut conv in converted {
        let item = conv.item as u64;
        let key = (conv.imported.source_sha256.clone(), item);
        let action = if let Some(path) = by_hash.get(&key) {
            Action::Unchanged(path.clone())
        } else if let Some((id, path)) = by_source.get(&(file_name(&conv.file), item)) {
            conv.imported.id.clone_from(id);
            Action::Update(path.clone())
        } else {
            Action::Create
        };
        let (id, path, update) = match action {
            Action::Unchanged(path) => {
                unchanged.push((conv.file, path));
                continue;
            }
            Action::Update(path) => (conv.imported.id.clone(), path, true),
            Action::Create => {
                let id = free_id(&conv.imported.id, &taken);
                taken.insert(id.clone());
                let path = dir.join(format!("{id}.toml"));
                (id, path, false)
            }
        };
        // The same source twice in one command: the second is unchanged.
        by_hash.insert(key, path.clone());
        by_source.insert((file_name(&conv.file), item), (id.clone(), path.clone()));
        plan.push(planned(dir, conv, id, path, update));
    }
    (plan, unchanged)
}

/// `base`, or `base-2`, `base-3`, … whichever is free.
fn free_id(base: &str, taken: &BTreeSet<String>) -> String {
    let mut id = base.to_owned();
    let mut n = 2;
    while taken.contains(&id) {
        let suffix = format!("-{n}");
        let mut stem = base.to_owned();
        stem.truncate(personas::ID_MAX_LEN - suffix.len());
        id = format!("{}{suffix}", stem.trim_end_matches('-'));
        n += 1;
    }
    id
}

fn planned(dir: &Path, conv: Converted, id: String, path: PathBuf, update: bool) -> Planned {
    let Converted {
        file,
        item,
        imported,
    } = conv;
    let mut persona: Persona = imported.persona;
    let assets_dir = format!(".assets/{id}");
    let mut record = json!({
        "format": imported.format.name(),
        "source": file_name(&file),
        "sha256": imported.source_sha256,
    });
    if item > 0 {
        record["item"] = json!(item);
    }
    if !imported.assets.is_empty() {
        record["assets"] = json!(assets_dir);
    }
    persona.extensions.insert(IMPORT_EXT.into(), record);
    let assets = imported
        .assets
        .into_iter()
        .map(|a| {
            let mut p = dir.join(&assets_dir);
            p.extend(a.path.split('/'));
            (p, a.bytes)
        })
        .collect();
    Planned {
        source: file,
        text: personas::render_new(&persona, 0),
        path,
        assets,
        update,
        warnings: imported.warnings,
    }
}

/// Planned files that were not written, each with why.
type Refused = Vec<(Planned, String)>;

/// Sets aside the planned files that could never be persona files (over the size limit),
/// with why; the store checks the rest.
fn oversized(plan: Vec<Planned>) -> (Vec<Planned>, Refused) {
    let max = personas::MAX_FILE_BYTES as usize;
    let (ok, big): (Vec<Planned>, Vec<Planned>) =
        plan.into_iter().partition(|p| p.text.len() <= max);
    let refused = big
        .into_iter()
        .map(|p| {
            let msg = format!(
                "as a persona file it would be {} bytes; persona files are limited to {max} bytes (1 MiB): nothing was written (shorten the source's largest fields, e.g. its lorebook, and import again)",
                p.text.len()
            );
            (p, msg)
        })
        .collect();
    (ok, refused)
}

fn diagnostics_text(diags: &[personas::Diagnostic]) -> String {
    let mut text = String::from("the result would not be a valid persona; nothing was written");
    for d in diags.iter().filter(|d| d.is_error()) {
        text.push_str(&format!("\n  {}:{}: {}", d.line, d.column, d.message));
    }
    text
}

/// Plans the import against the directory and writes the batch, through the store's planned
/// batch write ([`Store::apply_each_planned`]: the whole directory read and checked once,
/// under its lock, as `validate` checks it, for the plan and the verdict; a file that would
/// not be a valid persona, on its own or beside the others, is refused and the rest
/// written), then the assets of the personas written. THE ONE CHECK AND WRITE of an import.
/// Returns the planned files written, the refused ones with why, the sources found
/// unchanged (with their persona file), and those too large to be persona files.
fn apply(store: &Store, converted: Vec<Converted>) -> Result<Done, Failure> {
    let (applied, (batch, unchanged, oversize)) = store
        .apply_each_planned(|existing| {
            let (plan, unchanged) = make_plan(store.dir(), existing, converted);
            let (batch, oversize) = oversized(plan);
            let ops: Vec<WriteOp> = batch
                .iter()
                .map(|p| {
                    let id = personas::stem_id(&p.path).unwrap_or_default();
                    let text = p.text.clone();
                    if p.update {
                        WriteOp::Replace { id, text }
                    } else {
                        WriteOp::Create { id, text }
                    }
                })
                .collect();
            (ops, (batch, unchanged, oversize))
        })
        .map_err(|e| store_failure(e, false))?;
    let mut why: HashMap<usize, String> = applied
        .refused
        .into_iter()
        .map(|(i, diagnostics)| (i, diagnostics_text(&diagnostics)))
        .collect();
    let mut written = Vec::new();
    let mut refused = Vec::new();
    for (i, p) in batch.into_iter().enumerate() {
        match why.remove(&i) {
            Some(message) => refused.push((p, message)),
            None => {
                for (path, bytes) in &p.assets {
                    write_asset(path, bytes)?;
                }
                written.push(p);
            }
        }
    }
    Ok(Done {
        written,
        refused,
        unchanged,
        oversize,
    })
}

/// What [`apply`] did with each converted file.
struct Done {
    written: Vec<Planned>,
    /// Refused by the store's check, with why.
    refused: Refused,
    /// (source, its persona file) of the sources imported before and unchanged since.
    unchanged: Vec<(PathBuf, PathBuf)>,
    /// Too large to be persona files, with why.
    oversize: Refused,
}

/// Writes an asset atomically (a temp file in the same folder, then rename). Its path was
/// made from the persona id and a checked relative path: it is inside the directory.
fn write_asset(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let err = |e: std::io::Error| Failure::new(format!("{}: {e}", path.display()));
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".personactl-")
        .tempfile_in(folder)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

pub fn export(cli: &Cli, args: &ExportArgs) -> CmdResult {
    let target = args.to.target();
    if let Some(file) = &args.output {
        let ext = file
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !target.extensions().contains(&ext.as_str()) {
            return Err(Failure::new(format!(
                "{}: --to {} writes a .{} file; give -o a name ending in .{}",
                file.display(),
                args.to
                    .to_possible_value()
                    .map(|v| v.get_name().to_owned())
                    .unwrap_or_default(),
                target.extensions()[0],
                target.extensions().join(" or .")
            )));
        }
        if file.exists() && !args.force {
            return Err(Failure::new(format!(
                "{} exists; pass --force to replace it",
                file.display()
            )));
        }
    } else if matches!(target, Target::CardV2Png | Target::CardV3Png)
        && std::io::stdout().is_terminal()
    {
        return Err(Failure::new(
            "a PNG is binary: give -o FILE.png, or redirect standard output",
        ));
    }
    let store = super::store(cli);
    let path = store
        .path_of(&args.id)
        .map_err(|e| store_failure(e, false))?
        .ok_or_else(|| Failure::invalid(format!("no persona `{}`", args.id)))?;
    // A file with `extends` is exported resolved (its family applied).
    let resolved = || {
        personas::Catalog::load(&cli.dir)
            .ok()
            .and_then(|c| c.find(&args.id).map(|e| (*e.persona).clone()))
    };
    let persona = check_file(&path)
        .persona
        .map(|p| *p)
        .or_else(resolved)
        .ok_or_else(|| {
            Failure::invalid(format!(
                "persona `{}` is invalid; run `personactl validate`",
                args.id
            ))
        })?;
    let image = persona
        .extensions
        .get(IMPORT_EXT)
        .and_then(|r| r.get("assets"))
        .and_then(Value::as_str)
        .and_then(|dir| std::fs::read(store.dir().join(dir).join(CARD_IMAGE)).ok());
    let bytes = personas::export(&args.id, &persona, target, image.as_deref())
        .map_err(|e| Failure::invalid(e.to_string()))?;
    match &args.output {
        Some(file) => write_output(file, &bytes, args.force)?,
        None => print(|out| out.write_all(&bytes))?,
    }
    Ok(Outcome::Success)
}

/// Writes an export: a new file (refused if one appeared meanwhile), or with `force` any.
fn write_output(file: &Path, bytes: &[u8], force: bool) -> Result<(), Failure> {
    use std::io::Write;
    let err = |e: std::io::Error| Failure::new(format!("{}: {e}", file.display()));
    let mut f = if force {
        std::fs::File::create(file).map_err(err)?
    } else {
        std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(file)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Failure::new(format!(
                        "{} exists; pass --force to replace it",
                        file.display()
                    ))
                } else {
                    err(e)
                }
            })?
    };
    f.write_all(bytes).map_err(err)
}
