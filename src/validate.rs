//! Validation: every file on its own (syntax, schema, id), then the rules across files
//! (duplicate ids and aliases, the default persona). Every problem is collected; nothing
//! stops at the first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::diagnostic::{Code, Diagnostic, Related};
use crate::document::{Document, Segment};
use crate::error::Error;
use crate::load::{discover, read_source};
use crate::persona::{Persona, is_valid_id};
use crate::source::position;
use crate::violations::{schema_diagnostics, type_diagnostic};

/// The outcome of checking one persona file on its own.
#[derive(Debug, Clone)]
pub struct CheckedFile {
    /// The file.
    pub path: PathBuf,
    /// The persona id: the file stem, when it is a valid id.
    pub id: Option<String>,
    /// The persona, when the file is valid on its own.
    pub persona: Option<Persona>,
    /// Every problem found in the file.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the id and each alias are written, for diagnostics across files.
    anchors: Anchors,
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
        self.persona.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Whether the rules across files see the same thing in both: same id, and the same
    /// `id` key and aliases at the same places.
    pub(crate) fn same_cross_facts(&self, other: &CheckedFile) -> bool {
        self.path == other.path && self.id == other.id && self.anchors == other.anchors
    }
}

/// Reads and checks one persona file on its own.
#[must_use]
pub fn check_file(path: &Path) -> CheckedFile {
    match read_source(path) {
        Ok(text) => check_text(path, &text),
        Err(d) => CheckedFile {
            path: path.to_path_buf(),
            id: stem_id(path),
            persona: None,
            diagnostics: vec![*d],
            anchors: Anchors::default(),
        },
    }
}

/// Checks persona source `text` as if it were the file at `path` (the path gives the id).
#[must_use]
pub fn check_text(path: &Path, text: &str) -> CheckedFile {
    let mut checked = CheckedFile {
        path: path.to_path_buf(),
        id: stem_id(path),
        persona: None,
        diagnostics: Vec::new(),
        anchors: Anchors::default(),
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
    let schema_diags = schema_diagnostics(path, text, &doc, &instance);
    let schema_ok = schema_diags.is_empty();
    diags.extend(schema_diags);

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
    if schema_ok {
        match serde_path_to_error::deserialize::<_, Persona>(&instance) {
            Ok(persona) => checked.persona = Some(persona),
            Err(e) => checked
                .diagnostics
                .push(type_diagnostic(path, text, &doc, &e)),
        }
    }
    checked.diagnostics.sort_by_key(|d| (d.line, d.column));
    checked
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
    let mut owners: HashMap<&str, (&Path, usize, usize)> = HashMap::new();
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
    let mut alias_owners: HashMap<&str, (&Path, usize, usize)> = HashMap::new();
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
    /// Report `default.missing` when no checked file defines this id.
    pub default_persona: Option<String>,
}

/// Validates persona files and folders (folders recursively), on all cores.
///
/// # Errors
///
/// [`Error`] when a named path does not exist or a folder cannot be listed. Problems in files,
/// including unreadable files, are diagnostics in the report.
pub fn validate_paths(paths: &[PathBuf], options: &ValidateOptions) -> Result<Report, Error> {
    let mut files = Vec::new();
    for p in paths {
        files.extend(discover(p)?);
    }
    files.sort();
    files.dedup();
    let mut checked: Vec<CheckedFile> = files
        .par_iter()
        .map(|p| {
            let mut c = check_file(p);
            c.persona = None; // the report needs only the diagnostics: keep memory flat
            c
        })
        .collect();
    let mut diagnostics: Vec<Diagnostic> = cross_file_diagnostics(&checked);
    if let Some(default) = &options.default_persona
        && !checked.iter().any(|c| c.id.as_deref() == Some(default))
    {
        let root = paths.first().map_or_else(PathBuf::new, Clone::clone);
        diagnostics.push(
            Diagnostic::file_error(
                &root,
                Code::DefaultMissing,
                format!("the default persona `{default}` does not exist"),
            )
            .with_hint(format!(
                "add `{default}.toml`, or choose another default with --default-persona"
            )),
        );
    }
    for c in &mut checked {
        diagnostics.append(&mut c.diagnostics);
    }
    diagnostics.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Ok(Report {
        files: files.len(),
        diagnostics,
    })
}
