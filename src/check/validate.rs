//! Validation: every file on its own (syntax, schema, id), then the rules across files
//! (duplicate ids and aliases, the default persona). Every problem is collected; nothing
//! stops at the first.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bounded::Bounded;
use crate::check::{Options as CheckOptions, Tree, check};
use crate::diagnostic::{Code, Diagnostic, Related};
use crate::document::{Document, Segment};
use crate::error::Error;
use crate::load::read_source;
use serde_json::Value;

use crate::persona::{Persona, is_valid_id};
use crate::persona_file::{PersonaFile, RESERVED_VARS};
use crate::placeholders::{BUILT_INS, Token, scan};
use crate::resolve::{ExtendsRef, Families, Links, Node, Pending, resolve};
use crate::source::{position, snippet};
use crate::violations::{schema_diagnostics, type_diagnostic};

/// The outcome of checking one persona file on its own.
#[derive(Debug, Clone)]
pub struct CheckedFile {
    /// The file.
    pub path: PathBuf,
    /// The persona id: the file stem, when it is a valid id.
    pub id: Option<String>,
    /// The persona, when the file is valid on its own and complete: it has no `extends`
    /// (a file with `extends` becomes a persona once its family is resolved, as
    /// [`Catalog`](crate::Catalog) and the registry do).
    pub persona: Option<Box<Persona>>,
    /// The file's content as typed, when the file is valid on its own.
    pub file: Option<Arc<PersonaFile>>,
    /// Every problem found in the file.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the id and each alias are written, for diagnostics across files.
    anchors: Anchors,
    /// What resolving the file's family needs: `extends`, declared variables, placeholders
    /// left for an ancestor to declare.
    pub(crate) links: Links,
    /// Whether the file was valid on its own (kept when `file` is dropped to save memory).
    pub(crate) valid_alone: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Anchors {
    id: Option<(usize, usize)>,
    aliases: Vec<(String, usize, usize)>,
}

impl CheckedFile {
    /// Whether the file has no errors (warnings allowed).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.file.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The parent this file names with `extends`, if any.
    #[must_use]
    pub fn extends(&self) -> Option<&str> {
        self.links.extends.as_ref().map(|e| e.id.as_str())
    }

    /// Whether the rules across files see the same thing in both: same id, and the same
    /// `id` key and aliases at the same places.
    pub(crate) fn same_cross_facts(&self, other: &CheckedFile) -> bool {
        self.path == other.path && self.id == other.id && self.anchors == other.anchors
    }
}

impl CheckedFile {
    /// Whether `other` claims the same names as this file, for the rules across files: the
    /// same id and the same aliases in the same order (their positions may differ).
    pub(crate) fn same_names(&self, other: &CheckedFile) -> bool {
        self.id == other.id
            && self.anchors.aliases.len() == other.anchors.aliases.len()
            && self
                .anchors
                .aliases
                .iter()
                .zip(&other.anchors.aliases)
                .all(|(a, b)| a.0 == b.0)
    }

    /// A file that could not be read: its only diagnostic says why.
    pub(crate) fn unreadable(path: &Path, diagnostic: Diagnostic) -> CheckedFile {
        CheckedFile {
            path: path.to_path_buf(),
            id: stem_id(path),
            persona: None,
            file: None,
            diagnostics: vec![diagnostic],
            anchors: Anchors::default(),
            links: Links::default(),
            valid_alone: false,
        }
    }
}

/// Reads and checks one persona file on its own.
#[must_use]
pub fn check_file(path: &Path) -> CheckedFile {
    match read_source(path) {
        Ok(text) => check_text(path, &text),
        Err(d) => CheckedFile::unreadable(path, *d),
    }
}

/// Checks persona source `text` as if it were the file at `path` (the path gives the id).
#[must_use]
pub fn check_text(path: &Path, text: &str) -> CheckedFile {
    check_text_with(path, text, true)
}

/// [`check_text`]; without `persona` (`None`: a copy of the file's content that only the
/// caller of a single file needs, never the checks across files) unless `with_persona`.
pub(crate) fn check_text_with(path: &Path, text: &str, with_persona: bool) -> CheckedFile {
    let mut checked = CheckedFile {
        path: path.to_path_buf(),
        id: stem_id(path),
        persona: None,
        file: None,
        diagnostics: Vec::new(),
        anchors: Anchors::default(),
        links: Links::default(),
        valid_alone: false,
    };
    let diags = &mut checked.diagnostics;
    if checked.id.is_none() {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        diags.push(
            Diagnostic::file_error(path, Code::IdInvalid, format!("file name `{stem}` is not a valid persona id"))
                .with_hint("rename the file: ids are lowercase kebab-case (a-z, 0-9, single hyphens), at most 64 characters"),
        );
    }
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.push(Diagnostic::at(
                path,
                text,
                &e.span,
                Code::TomlSyntax,
                format!("invalid TOML: {}", e.message),
            ));
            return checked;
        }
    };
    if doc.root().is_empty() {
        diags.push(
            Diagnostic::file_error(path, Code::FileEmpty, "the file holds no persona").with_hint(
                "a persona needs at least `name`, `description`, `icon` and `system_prompt`",
            ),
        );
        return checked;
    }
    let instance = match doc.to_json() {
        Ok(json) => json,
        Err(span) => {
            diags.push(Diagnostic::at(
                path,
                text,
                &span,
                Code::TomlSyntax,
                "values are nested too deeply",
            ));
            return checked;
        }
    };
    // Every diagnostic that a file can repeat without bound goes through `sink`.
    let mut sink = Bounded::new(path, text);
    let schema_diags = schema_diagnostics(path, text, &doc, &instance, &mut sink);
    let schema_ok = schema_diags.is_empty() && sink.is_empty();
    for d in schema_diags {
        sink.push_reserved(d);
    }

    checked.anchors = Anchors {
        id: anchor_of(text, &doc, &[Segment::Key("id")]),
        aliases: instance["aliases"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| {
                        let (line, col) =
                            anchor_of(text, &doc, &[Segment::Key("aliases"), Segment::Index(i)])?;
                        Some((a.as_str()?.to_owned(), line, col))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    if let (Some(written), Some(stem)) = (instance.get("id").and_then(|v| v.as_str()), &checked.id)
    {
        // An `id` that is not even a valid id is already a schema diagnostic.
        if written != stem && is_valid_id(written) {
            let span = doc.locate([Segment::Key("id")]).value;
            let mut d = Diagnostic::at(
                path,
                text,
                &span,
                Code::IdMismatch,
                format!("`id` is `{written}` but the file is named `{stem}.toml`"),
            );
            d.hint = Some(format!(
                "the id is the file name: rename the file to `{written}.toml`, or remove the `id` key"
            ));
            checked.diagnostics.push(d);
        }
    }
    checked.links = variable_checks(path, text, &doc, &instance, &mut sink);
    for d in std::mem::take(&mut checked.diagnostics) {
        sink.push(d);
    }
    if schema_ok {
        match serde_path_to_error::deserialize::<_, PersonaFile>(&instance) {
            Ok(file) => {
                if with_persona {
                    checked.persona = file.standalone().map(Box::new);
                }
                if let Some(model) = &file.model
                    && model.max_prompt_tokens.is_some()
                {
                    // A budget will be counted: have the encoder built meanwhile.
                    crate::tokens::prefetch(crate::tokens::tokenizer_of_settings(model));
                }
                checked.file = Some(Arc::new(file));
            }
            Err(e) => sink.push(type_diagnostic(path, text, &doc, &e)),
        }
    }
    checked.diagnostics = sink.finish();
    checked.valid_alone = checked.is_valid();
    checked
}

/// Resolves the families of checked files (in path order).
pub(crate) fn resolve_checked(files: &[CheckedFile]) -> Families {
    let nodes: Vec<Node<'_>> = files
        .iter()
        .map(|c| Node {
            path: &c.path,
            id: c.id.as_deref(),
            links: &c.links,
            valid: c.valid_alone,
        })
        .collect();
    resolve(&nodes)
}

/// The checks of `extends` and prompt variables a file allows on its own: malformed
/// placeholders, undeclared ones (unless a parent may declare them), reserved names in
/// `[vars]`. Returns what resolving the family needs.
fn variable_checks(
    path: &Path,
    text: &str,
    doc: &Document<'_>,
    instance: &Value,
    diags: &mut Bounded<'_>,
) -> Links {
    let mut links = Links::default();
    let has_extends = instance.get("extends").is_some();
    if let Some(id) = instance.get("extends").and_then(Value::as_str)
        && is_valid_id(id)
    {
        let span = doc.locate([Segment::Key("extends")]).value;
        let p = position(text, span.start);
        links.extends = Some(ExtendsRef {
            id: id.to_owned(),
            line: p.line,
            column: p.column,
            snippet: Some(snippet(text, &span)),
        });
    }
    let mut declared = std::collections::HashSet::new();
    if let Some(vars) = instance.get("vars").and_then(Value::as_object) {
        links.vars = vars.keys().cloned().collect();
        declared.extend(vars.keys().map(String::as_str));
        for name in vars.keys().filter(|k| RESERVED_VARS.contains(&k.as_str())) {
            let located = doc.locate([Segment::Key("vars"), Segment::Key(name)]);
            let span = located.key.unwrap_or(located.value);
            diags.push(
                Diagnostic::at(path, text, &span, Code::VarsReserved, format!("`{name}` is a built-in variable and cannot be declared"))
                    .with_hint("built-ins: `persona_name`, `date` and `parent` (and `user_name`, which may be given a default); choose another name"),
            );
        }
    }
    // Placeholders left for an ancestor: one entry per name (index into `links.pending`).
    let mut pending_names: HashMap<String, usize> = HashMap::new();
    // Where the prompt is written, for a budget diagnostic: only a file with a budget of its
    // own or a parent to inherit one from can have one.
    let may_have_budget = has_extends || instance.pointer("/model/max_prompt_tokens").is_some();
    if may_have_budget && instance.get("system_prompt").is_some() {
        let span = doc.locate([Segment::Key("system_prompt")]).value;
        links.prompt = Some(crate::tokens::Place::of(text, &span));
    }
    for field in ["system_prompt", "greeting"] {
        let Some(value) = instance.get(field).and_then(Value::as_str) else {
            continue;
        };
        if !value.contains("{{") {
            continue;
        }
        let tokens = scan(value);
        let spans = token_spans(text, doc, field, &tokens);
        for (token, span) in tokens.iter().zip(spans) {
            match token {
                Token::Escape { .. } => {}
                Token::Malformed { .. } if !diags.reserve(Code::VarsMalformed, span.start) => {}
                Token::Malformed { problem, span: own } => diags.push_reserved(
                    Diagnostic::at(
                        path,
                        text,
                        &span,
                        Code::VarsMalformed,
                        problem.describe(&value[own.clone()]),
                    )
                    .with_hint("a placeholder is `{{name}}`; write `{{{{` for a literal `{{`"),
                ),
                Token::Var { name, .. } => {
                    if BUILT_INS.contains(&name.as_str()) || declared.contains(name.as_str()) {
                        continue;
                    }
                    if name == "parent" {
                        if has_extends && field == "system_prompt" {
                            continue;
                        }
                        if !diags.reserve(Code::VarsUndeclared, span.start) {
                            continue;
                        }
                        diags.push_reserved(
                            Diagnostic::at(path, text, &span, Code::VarsUndeclared, "`{{parent}}` is only available in the `system_prompt` of a persona with `extends`")
                                .with_hint("add `extends = \"PARENT-ID\"`, or write `{{{{parent}}` for the literal text"),
                        );
                        continue;
                    }
                    let undeclared = || {
                        Diagnostic::at(path, text, &span, Code::VarsUndeclared, format!("undeclared variable `{name}`"))
                        .with_hint(format!("declare it with a default under `[vars]` (`{name} = \"…\"`), or use a built-in: persona_name, date, user_name; `{{{{{{{{` writes a literal `{{{{`"))
                    };
                    if !has_extends {
                        if diags.reserve(Code::VarsUndeclared, span.start) {
                            diags.push_reserved(undeclared());
                        }
                    } else if let Some(&i) = pending_names.get(name.as_str()) {
                        links.pending[i].more += 1;
                    } else if pending_names.len() < MAX_PENDING_NAMES {
                        pending_names.insert(name.clone(), links.pending.len());
                        links.pending.push(Pending {
                            name: name.clone(),
                            diagnostic: undeclared(),
                            more: 0,
                        });
                    } else if diags.reserve(Code::VarsUndeclared, span.start) {
                        let mut d = undeclared();
                        d.message = format!(
                            "`{name}`: more than {MAX_PENDING_NAMES} different variables are left for ancestors to declare"
                        );
                        d.hint = Some(format!(
                            "declare the variables this persona uses under `[vars]`; at most {MAX_PENDING_NAMES} may come from its ancestors"
                        ));
                        diags.push_reserved(d);
                    }
                }
            }
        }
    }
    links
}

/// How many different variables one persona may leave for its ancestors to declare (each
/// ancestor declares at most 64).
const MAX_PENDING_NAMES: usize = 256;

/// Where each token of a string value is in the file. The raw source of the value is
/// scanned (so escapes such as `\n` or `\"` before a placeholder do not shift it); when the
/// raw text reads differently from the value (a brace written as `\u007B`), the tokens point
/// at the start of the value instead.
fn token_spans(text: &str, doc: &Document<'_>, field: &str, tokens: &[Token]) -> Vec<Range<usize>> {
    let value = doc.locate([Segment::Key(field)]).value;
    let raw_tokens = text.get(value.clone()).map(scan).unwrap_or_default();
    if raw_tokens.len() == tokens.len()
        && raw_tokens.iter().zip(tokens).all(|(a, b)| a.same_kind(b))
    {
        raw_tokens
            .iter()
            .map(|t| {
                let s = t.span();
                value.start + s.start..value.start + s.end
            })
            .collect()
    } else {
        vec![value.start..value.start + 1; tokens.len()]
    }
}

fn anchor_of(text: &str, doc: &Document<'_>, path: &[Segment<'_>]) -> Option<(usize, usize)> {
    let located = doc.locate(path.iter().copied());
    (located.depth == path.len()).then(|| {
        let p = position(text, located.value.start);
        (p.line, p.column)
    })
}

/// The id a file's name gives, when it is a valid id.
#[must_use]
pub fn stem_id(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    is_valid_id(stem).then(|| stem.to_owned())
}

/// The rules across files: an id defined by two files, an alias that is another persona's id
/// or another persona's alias. The first file (in path order) keeps the id; the diagnostic
/// goes on each later one and names the first.
pub fn cross_file_diagnostics(files: &[CheckedFile]) -> Vec<Diagnostic> {
    cross_file_diagnostics_in(files)
}

/// [`cross_file_diagnostics`] over any sequence of files (the registry keeps its files in a
/// map, in load order, and must not copy them for each reload).
pub(crate) fn cross_file_diagnostics_in<'a>(
    files: impl IntoIterator<Item = &'a CheckedFile> + Clone,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // (foldhash: ids are short strings from the directory's own file names.)
    let mut owners: HashMap<&str, (&Path, usize, usize), foldhash::fast::RandomState> =
        HashMap::default();
    for f in files.clone() {
        let Some(id) = f.id.as_deref() else { continue };
        let (line, column) = f.anchors.id.unwrap_or((1, 1));
        if let Some((first, fl, fc)) = owners.get(id) {
            out.push(duplicate(
                &f.path,
                line,
                column,
                format!("duplicate id `{id}`: also defined by {}", first.display()),
                first,
                *fl,
                *fc,
            ));
        } else {
            owners.insert(id, (&f.path, line, column));
        }
    }
    let mut alias_owners: HashMap<&str, (&Path, usize, usize), foldhash::fast::RandomState> =
        HashMap::default();
    for f in files {
        for (alias, line, column) in &f.anchors.aliases {
            if let Some((first, fl, fc)) = owners.get(alias.as_str()) {
                if *first != f.path {
                    out.push(duplicate(
                        &f.path,
                        *line,
                        *column,
                        format!(
                            "alias `{alias}` is the id of another persona ({})",
                            first.display()
                        ),
                        first,
                        *fl,
                        *fc,
                    ));
                }
            } else if let Some((first, fl, fc)) = alias_owners.get(alias.as_str()) {
                if *first != f.path {
                    out.push(duplicate(
                        &f.path,
                        *line,
                        *column,
                        format!("alias `{alias}` is also an alias of {}", first.display()),
                        first,
                        *fl,
                        *fc,
                    ));
                }
            } else {
                alias_owners.insert(alias, (&f.path, *line, *column));
            }
        }
    }
    out
}

fn duplicate(
    path: &Path,
    line: usize,
    column: usize,
    message: String,
    first: &Path,
    fl: usize,
    fc: usize,
) -> Diagnostic {
    let mut d = Diagnostic::file_error(path, Code::IdDuplicate, message)
        .with_hint("ids and aliases must be unique across the whole personas directory");
    d.line = line;
    d.column = column;
    d.related.push(Related {
        path: first.to_path_buf(),
        line: fl,
        column: fc,
        message: "first defined here".into(),
    });
    d
}

/// What `personactl validate` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// How many persona files were checked.
    pub files: usize,
    /// Every problem, sorted by path, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Whether no errors were found.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The number of errors.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// The number of distinct files with at least one error.
    #[must_use]
    pub fn files_with_errors(&self) -> usize {
        let mut paths: Vec<&Path> = self
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.path.as_path())
            .collect();
        paths.dedup();
        paths.len()
    }

    /// Whether a file could not be read at all (an I/O error rather than invalid input).
    #[must_use]
    pub fn has_io_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.code == Code::IoRead)
    }
}

/// What to check, beyond each file on its own.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Report `default.missing` when the whole personas directory is checked and no file
    /// defines this id.
    pub default_persona: Option<String>,
    /// The personas directory: named files and folders inside it are checked in its context
    /// (their parents, and the ids and aliases of the other files), reporting only their own
    /// diagnostics. Paths outside it are checked as trees of their own.
    pub dir: Option<PathBuf>,
}

/// Validates persona files and folders (folders recursively), on all cores, through the one
/// check pipeline ([`check`](crate::check)).
///
/// # Errors
///
/// [`Error`] when a named path does not exist or a folder cannot be listed. Problems in files,
/// including unreadable files, are diagnostics in the report.
pub fn validate_paths(paths: &[PathBuf], options: &ValidateOptions) -> Result<Report, Error> {
    let canonical_dir = options.dir.as_ref().and_then(|d| d.canonicalize().ok());
    let mut report = Report::default();
    // Named paths inside the personas directory: (canonical path, as named).
    let mut in_dir: Vec<(PathBuf, PathBuf)> = Vec::new();
    for p in paths {
        let canonical = p.canonicalize().map_err(|e| Error::io(p, e))?;
        match &canonical_dir {
            Some(dir) if canonical.starts_with(dir) => in_dir.push((canonical, p.clone())),
            _ => {
                let tree = Tree::from_dir(p)?;
                let whole = options.dir.is_none();
                let opts = CheckOptions {
                    default_persona: options.default_persona.clone().filter(|_| whole),
                    diagnostics_only: true,
                };
                let catalog = check(&tree, &opts);
                report.files += catalog.files;
                report.diagnostics.extend(catalog.diagnostics);
            }
        }
    }
    if let (Some(dir), Some(canonical_dir)) = (&options.dir, &canonical_dir)
        && !in_dir.is_empty()
    {
        let whole = in_dir.iter().any(|(c, _)| c == canonical_dir);
        let mut tree = Tree::from_dir(dir)?;
        let catalog = if whole {
            check(
                &tree,
                &CheckOptions {
                    default_persona: options.default_persona.clone(),
                    diagnostics_only: true,
                },
            )
        } else {
            // Each named path, as the tree spells it: named files join the tree if discovery
            // left them out (any file can be named, whatever its name).
            let mut selected: Vec<(PathBuf, PathBuf)> = Vec::new();
            let by_canonical: HashMap<PathBuf, PathBuf> = tree
                .paths()
                .filter_map(|t| Some((t.canonicalize().ok()?, t.to_path_buf())))
                .collect();
            for (canonical, named) in &in_dir {
                if canonical.is_dir() {
                    let rel = canonical
                        .strip_prefix(canonical_dir)
                        .unwrap_or(Path::new(""));
                    selected.push((dir.join(rel), named.clone()));
                } else {
                    let in_tree = by_canonical.get(canonical).cloned().unwrap_or_else(|| {
                        let rel = canonical
                            .strip_prefix(canonical_dir)
                            .unwrap_or(Path::new(""));
                        dir.join(rel)
                    });
                    if !tree.contains(&in_tree) {
                        tree.insert_disk(in_tree.clone());
                    }
                    selected.push((in_tree, named.clone()));
                }
            }
            let mut catalog = check(
                &tree,
                &CheckOptions {
                    default_persona: None,
                    diagnostics_only: true,
                },
            );
            let files = tree
                .paths()
                .filter(|t| selected.iter().any(|(s, _)| t.starts_with(s)))
                .count();
            catalog.diagnostics.retain_mut(|d| {
                let Some((s, named)) = selected.iter().find(|(s, _)| d.path.starts_with(s)) else {
                    return false;
                };
                // A named file is reported under the name it was given.
                if d.path == *s {
                    d.path.clone_from(named);
                }
                true
            });
            catalog.files = files;
            catalog
        };
        report.files += catalog.files;
        report.diagnostics.extend(catalog.diagnostics);
    }
    report
        .diagnostics
        .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Ok(report)
}
