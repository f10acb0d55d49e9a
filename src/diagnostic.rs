//! [`Diagnostic`]: one problem at one place in one file, with a stable code.

use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is invalid: `personactl validate` exits 1.
    Error,
    /// Worth a look, but the input is still valid.
    Warning,
}

impl Severity {
    /// The lowercase name used in every output format.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The stable, dotted identifier of a kind of problem (`schema.required`, `id.duplicate`, …).
///
/// Codes are part of the public contract: scripts and CI filters match on them, so a code,
/// once released, keeps its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The file could not be read.
    IoRead,
    /// The file is larger than the 1 MiB limit.
    FileTooLarge,
    /// The file is not valid UTF-8.
    FileEncoding,
    /// The file holds no keys at all.
    FileEmpty,
    /// The file is not valid TOML.
    TomlSyntax,
    /// A required key is missing.
    SchemaRequired,
    /// A key that the format does not know.
    SchemaUnknownKey,
    /// A value of the wrong type.
    SchemaType,
    /// A number outside its allowed range.
    SchemaRange,
    /// A string that is too short or too long.
    SchemaLength,
    /// A string that must not be blank is blank.
    SchemaBlank,
    /// A string that does not match its pattern.
    SchemaPattern,
    /// A list with too many or too few items.
    SchemaItems,
    /// A list that holds the same item twice.
    SchemaUnique,
    /// A `schema_version` this build does not support.
    SchemaVersion,
    /// Any other schema violation.
    SchemaInvalid,
    /// The file name is not a valid persona id.
    IdInvalid,
    /// The `id` key differs from the file name.
    IdMismatch,
    /// Two files define the same id (or an alias collides with an id).
    IdDuplicate,
    /// The default persona does not exist.
    DefaultMissing,
    /// A session in the sessions index is linked to a persona that does not exist.
    SessionsDangling,
    /// A record of the sessions index is torn or unreadable.
    SessionsTorn,
    /// `extends` names a persona that does not exist.
    ExtendsMissing,
    /// `extends` leads back to the persona itself.
    ExtendsCycle,
    /// `extends` names a persona that is invalid (or whose own family is broken).
    ExtendsInvalidParent,
    /// A `{{placeholder}}` names a variable that is neither declared nor built in.
    VarsUndeclared,
    /// A `{{` that does not start a valid placeholder.
    VarsMalformed,
    /// `[vars]` declares the name of a built-in variable that cannot be overridden.
    VarsReserved,
    /// The rendered system prompt has more tokens than `[model] max_prompt_tokens` allows.
    BudgetPromptTokens,
}

impl Code {
    /// The dotted identifier, e.g. `"schema.required"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Code::IoRead => "io.read",
            Code::FileTooLarge => "file.too-large",
            Code::FileEncoding => "file.encoding",
            Code::FileEmpty => "file.empty",
            Code::TomlSyntax => "toml.syntax",
            Code::SchemaRequired => "schema.required",
            Code::SchemaUnknownKey => "schema.unknown-key",
            Code::SchemaType => "schema.type",
            Code::SchemaRange => "schema.range",
            Code::SchemaLength => "schema.length",
            Code::SchemaBlank => "schema.blank",
            Code::SchemaPattern => "schema.pattern",
            Code::SchemaItems => "schema.items",
            Code::SchemaUnique => "schema.unique",
            Code::SchemaVersion => "schema.version",
            Code::SchemaInvalid => "schema.invalid",
            Code::IdInvalid => "id.invalid",
            Code::IdMismatch => "id.mismatch",
            Code::IdDuplicate => "id.duplicate",
            Code::DefaultMissing => "default.missing",
            Code::SessionsDangling => "sessions.dangling",
            Code::SessionsTorn => "sessions.torn",
            Code::ExtendsMissing => "extends.missing",
            Code::ExtendsCycle => "extends.cycle",
            Code::ExtendsInvalidParent => "extends.invalid-parent",
            Code::VarsUndeclared => "vars.undeclared",
            Code::VarsMalformed => "vars.malformed",
            Code::VarsReserved => "vars.reserved",
            Code::BudgetPromptTokens => "budget.prompt-tokens",
        }
    }

    /// A one-line description of the code, for SARIF rule metadata and documentation.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Code::IoRead => "The file could not be read.",
            Code::FileTooLarge => "The file is larger than the 1 MiB limit.",
            Code::FileEncoding => "The file is not valid UTF-8.",
            Code::FileEmpty => "The file holds no keys.",
            Code::TomlSyntax => "The file is not valid TOML.",
            Code::SchemaRequired => "A required key is missing.",
            Code::SchemaUnknownKey => "A key that the persona format does not know.",
            Code::SchemaType => "A value has the wrong type.",
            Code::SchemaRange => "A number is outside its allowed range.",
            Code::SchemaLength => "A string is too short or too long.",
            Code::SchemaBlank => "A string must not be blank.",
            Code::SchemaPattern => "A string does not match its required pattern.",
            Code::SchemaItems => "A list has too many or too few items.",
            Code::SchemaUnique => "A list holds the same item twice.",
            Code::SchemaVersion => "The schema_version is not supported.",
            Code::SchemaInvalid => "A value violates the persona schema.",
            Code::IdInvalid => "The file name is not a valid persona id.",
            Code::IdMismatch => "The id key differs from the file name.",
            Code::IdDuplicate => "Two personas share an id.",
            Code::DefaultMissing => "The default persona does not exist.",
            Code::SessionsDangling => "A session is linked to a persona that does not exist.",
            Code::SessionsTorn => "A record of the sessions index is torn or unreadable.",
            Code::ExtendsMissing => "The parent named by extends does not exist.",
            Code::ExtendsCycle => "extends leads back to the persona itself.",
            Code::ExtendsInvalidParent => "The parent named by extends is invalid.",
            Code::VarsUndeclared => "A placeholder names an undeclared variable.",
            Code::VarsMalformed => "A {{ does not start a valid placeholder.",
            Code::VarsReserved => "[vars] declares a built-in variable.",
            Code::BudgetPromptTokens => {
                "The rendered system prompt is over its token budget (max_prompt_tokens)."
            }
        }
    }

    /// Every code, in a stable order (for SARIF rule tables and docs).
    pub const ALL: &'static [Code] = &[
        Code::IoRead,
        Code::FileTooLarge,
        Code::FileEncoding,
        Code::FileEmpty,
        Code::TomlSyntax,
        Code::SchemaRequired,
        Code::SchemaUnknownKey,
        Code::SchemaType,
        Code::SchemaRange,
        Code::SchemaLength,
        Code::SchemaBlank,
        Code::SchemaPattern,
        Code::SchemaItems,
        Code::SchemaUnique,
        Code::SchemaVersion,
        Code::SchemaInvalid,
        Code::IdInvalid,
        Code::IdMismatch,
        Code::IdDuplicate,
        Code::DefaultMissing,
        Code::SessionsDangling,
        Code::SessionsTorn,
        Code::ExtendsMissing,
        Code::ExtendsCycle,
        Code::ExtendsInvalidParent,
        Code::VarsUndeclared,
        Code::VarsMalformed,
        Code::VarsReserved,
        Code::BudgetPromptTokens,
    ];
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The source text around a diagnostic, kept so that it can be shown without re-reading the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snippet {
    /// The source line the diagnostic points into, without its line ending; a long line is
    /// cut to a window of at most 120 characters around the place (then it ends with `…` when
    /// more of the line follows).
    pub line_text: String,
    /// How many characters the caret underline spans (at least 1).
    pub width: usize,
    /// How many characters of the line were left out before `line_text` (0: it starts the line).
    pub omitted_before: usize,
}

/// A secondary place related to a diagnostic ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// The file of the related place.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What the place is.
    pub message: String,
}

/// One problem at one place: the unit of every `personactl validate` output format.
///
/// Its JSON form is exactly the §4 shape:
/// `{"path", "line", "column", "severity", "code", "message", "hint"}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Diagnostic {
    /// The file the problem is in, as it was named on the command line or found under a folder.
    #[serde(serialize_with = "serialize_path")]
    #[schemars(with = "String")]
    pub path: PathBuf,
    /// 1-based line of the offending key or value (for a missing key: the table that lacks it).
    #[schemars(range(min = 1))]
    pub line: usize,
    /// 1-based column, counted in characters.
    #[schemars(range(min = 1))]
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// The stable dotted code, e.g. `schema.range`.
    #[schemars(with = "String")]
    pub code: Code,
    /// What is wrong, in the user's terms.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
    /// The source line, for the human rendering.
    #[serde(skip)]
    pub snippet: Option<Snippet>,
    /// Related places, for the human rendering.
    #[serde(skip)]
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// An error at line 1, column 1 of `path` (for problems of a file as a whole).
    #[must_use]
    pub fn file_error(path: &Path, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint: None,
            snippet: None,
            related: Vec::new(),
        }
    }

    /// An error at byte range `span` of `text`, the content of `path`, quoting its line.
    #[must_use]
    pub fn at(
        path: &Path,
        text: &str,
        span: &std::ops::Range<usize>,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        let p = crate::source::position(text, span.start);
        Diagnostic {
            path: path.to_path_buf(),
            line: p.line,
            column: p.column,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint: None,
            snippet: Some(crate::source::snippet(text, span)),
            related: Vec::new(),
        }
    }

    /// The same diagnostic with a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an error (rather than a warning).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

fn serialize_path<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}
