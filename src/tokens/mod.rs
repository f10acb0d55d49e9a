//! Token counts and prompt budgets: what a persona's prompt costs, counted exactly as OpenAI's
//! tiktoken counts it.
//!
//! [`count_tokens`] is the one entry point: it renders the persona (variables at their
//! defaults, `{{user_name}}` empty unless the persona gives it a default, `{{date}}` fixed at
//! [`COUNT_DATE`] so that counts do not change from day to day) and counts the system prompt
//! and the greeting with the persona's [`Tokenizer`]. The encodings ship inside the binary
//! (the `bpe-openai` crate): counting never touches the network, and each encoder is built
//! once per process, on first use, so loads and lookups that never ask for a count pay nothing.
//!
//! `[model] max_prompt_tokens` is a budget on the rendered system prompt; the rule lives in
//! [`budget_diagnostic`] and [`resolve_with_budgets`], which `validate`, the catalog, the
//! registry and every store write call.

mod split;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Code, Diagnostic, Related, Snippet};
use crate::persona::Persona;
use crate::{ModelSettings, PersonaFile};

use crate::placeholders::{Date, Vars};
use crate::resolve::{Families, Links};
use crate::validate::CheckedFile;

/// A tokenizer: one of OpenAI's byte-pair encodings, with tiktoken's exact counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tokenizer {
    /// `o200k_base`: GPT-4o, GPT-4.1, GPT-5 and the o1/o3/o4 reasoning models.
    O200kBase,
    /// `cl100k_base`: GPT-4 and GPT-3.5.
    Cl100kBase,
}

impl Tokenizer {
    /// Every tokenizer, in a stable order.
    pub const ALL: [Tokenizer; 2] = [Tokenizer::O200kBase, Tokenizer::Cl100kBase];

    /// The name tiktoken gives the encoding, e.g. `"o200k_base"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tokenizer::O200kBase => "o200k_base",
            Tokenizer::Cl100kBase => "cl100k_base",
        }
    }

    /// The tokenizer a model id implies, when it names a known OpenAI model family:
    /// `gpt-4o`, `gpt-4.1`, `gpt-4.5`, `gpt-5` and the `o1`/`o3`/`o4` series use `o200k_base`;
    /// `gpt-4` and `gpt-3.5` use `cl100k_base`. Case does not matter, and a `provider/` or
    /// `ft:` prefix is skipped (`openai/gpt-4o-mini`, `ft:gpt-4o:org::id`).
    ///
    /// ```
    /// use personas::Tokenizer;
    /// assert_eq!(Tokenizer::for_model("gpt-4o-mini"), Some(Tokenizer::O200kBase));
    /// assert_eq!(Tokenizer::for_model("gpt-4-turbo"), Some(Tokenizer::Cl100kBase));
    /// assert_eq!(Tokenizer::for_model("claude-sonnet-4"), None);
    /// ```
    #[must_use]
    pub fn for_model(model: &str) -> Option<Tokenizer> {
        const O200K: [&str; 9] = [
            "gpt-4o",
            "chatgpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "o1",
            "o3",
            "o4",
            "gpt-oss",
        ];
        const CL100K: [&str; 5] = [
            "gpt-4",
            "gpt-3.5",
            "gpt-35",
            "text-embedding-3",
            "text-embedding-ada-002",
        ];
        let lower = model.trim().to_ascii_lowercase();
        let id = lower.rsplit('/').next().unwrap_or(&lower);
        let id = id.strip_prefix("ft:").unwrap_or(id);
        // A family name matches whole: `o1` and `o1-mini`, `gpt-5` and `gpt-5.1`, never `o10`.
        let is = |family: &str| {
            id.strip_prefix(family)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', ':']))
        };
        if O200K.iter().any(|f| is(f)) {
            Some(Tokenizer::O200kBase)
        } else if CL100K.iter().any(|f| is(f)) {
            Some(Tokenizer::Cl100kBase)
        } else {
            None
        }
    }

    /// How many tokens `text` is, exactly as tiktoken's `encode_ordinary` counts it (text
    /// that looks like a special token, such as `<|endoftext|>`, is ordinary text).
    ///
    /// ```
    /// use personas::Tokenizer;
    /// assert_eq!(Tokenizer::O200kBase.count("Hello, world!"), 4);
    /// ```
    #[must_use]
    pub fn count(self, text: &str) -> usize {
        let counter = match self {
            Tokenizer::O200kBase => &*O200K,
            Tokenizer::Cl100kBase => &*CL100K,
        };
        counter.count(text)
    }
}

/// An encoding, and the set of its tokens' bytes: a piece of the split text that is a token
/// itself counts 1 without running the encoder (tiktoken's own shortcut; most words of a
/// prompt are one token).
struct Counter {
    tokenizer: &'static bpe_openai::Tokenizer,
    whole: rustc_hash::FxHashSet<&'static [u8]>,
    /// Whether ASCII text may be split by [`split::pieces`] (the `o200k_base` expression).
    ascii_split: bool,
}

impl Counter {
    fn new(tokenizer: &'static bpe_openai::Tokenizer, ascii_split: bool) -> Self {
        let bpe = &tokenizer.bpe;
        let whole = (0..bpe.num_tokens())
            .filter_map(|id| u32::try_from(id).ok())
            .map(|id| bpe.token_bytes(id))
            .collect();
        Counter {
            tokenizer,
            whole,
            ascii_split,
        }
    }

    fn count(&self, text: &str) -> usize {
        let one = |bytes: &[u8]| {
            if self.whole.contains(bytes) {
                1
            } else {
                self.tokenizer.bpe.count(bytes)
            }
        };
        // o200k_base and cl100k_base do not normalise: the pieces are the text's own. ASCII
        // text in o200k_base is split by hand (the same pieces, found faster).
        if self.ascii_split && text.is_ascii() {
            split::pieces(text.as_bytes()).map(one).sum()
        } else {
            self.tokenizer.split(text).map(|p| one(p.as_bytes())).sum()
        }
    }
}

// Built once per process, on first use (as the crate builds its encoders), so that loads and
// lookups that never count pay nothing.
static O200K: LazyLock<Counter> = LazyLock::new(|| Counter::new(bpe_openai::o200k_base(), true));
static CL100K: LazyLock<Counter> = LazyLock::new(|| Counter::new(bpe_openai::cl100k_base(), false));

/// The schema of `[model] tokenizer`: a plain string enum, which editors complete.
pub(crate) fn tokenizer_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = Tokenizer::ALL.iter().map(|t| t.as_str()).collect();
    schemars::json_schema!({"type": "string", "enum": names})
}

impl std::fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The date `{{date}}` renders as when tokens are counted: a fixed one, so that a count (and
/// a budget's verdict) is the same on every day.
pub const COUNT_DATE: (i32, u8, u8) = (2000, 1, 1);

/// What a persona's rendered prompts cost, in tokens. Its JSON form is
/// `{"system_prompt": 812, "greeting": 14, "tokenizer": "o200k_base"}` (`greeting` is `null`
/// when the persona has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TokenCounts {
    /// Tokens in the rendered system prompt.
    pub system_prompt: usize,
    /// Tokens in the rendered greeting, when the persona has one.
    pub greeting: Option<usize>,
    /// The tokenizer that counted them.
    pub tokenizer: Tokenizer,
}

/// The tokenizer a persona's counts use: `[model] tokenizer`, else the one `[model] name`
/// implies, else `o200k_base`.
#[must_use]
pub fn tokenizer_of(persona: &Persona) -> Tokenizer {
    persona
        .model
        .as_ref()
        .map_or(Tokenizer::O200kBase, tokenizer_of_settings)
}

/// [`tokenizer_of`] for `[model]` settings as they are.
pub(crate) fn tokenizer_of_settings(model: &ModelSettings) -> Tokenizer {
    model
        .tokenizer
        .or_else(|| model.name.as_deref().and_then(Tokenizer::for_model))
        .unwrap_or(Tokenizer::O200kBase)
}

/// Starts building `tokenizer`'s encoder on a thread of its own, once per process: a check
/// that found a budget calls it, so that the encoder (about 0.1 s of one
/// core) is ready when the budget is counted, instead of every counting thread waiting for
/// the first to build it.
pub(crate) fn prefetch(tokenizer: Tokenizer) {
    static STARTED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    let (started, counter) = match tokenizer {
        Tokenizer::O200kBase => (&STARTED[0], &O200K),
        Tokenizer::Cl100kBase => (&STARTED[1], &CL100K),
    };
    if !started.swap(true, Ordering::Relaxed) {
        // Failing to start the thread only means the first count builds the encoder.
        let _ = std::thread::Builder::new()
            .name("tokenizer".into())
            .spawn(move || LazyLock::force(counter));
    }
}

/// A persona's token counts: its system prompt and greeting rendered with every variable at
/// its default (`{{user_name}}` empty unless `[vars]` gives it a default, `{{date}}` at
/// [`COUNT_DATE`]), counted with [`tokenizer_of`] the persona.
///
/// ```
/// use personas::{Persona, count_tokens};
/// let mut p = Persona::new("Coach", "d", "🧭", "You are {{persona_name}}. Be {{tone}}.");
/// p.vars.insert("tone".into(), "kind".into());
/// let counts = count_tokens(&p);
/// assert_eq!(counts.system_prompt, personas::Tokenizer::O200kBase.count("You are Coach. Be kind."));
/// assert_eq!(counts.greeting, None);
/// ```
#[must_use]
pub fn count_tokens(persona: &Persona) -> TokenCounts {
    let tokenizer = tokenizer_of(persona);
    let (prompt, greeting) = rendered(persona);
    TokenCounts {
        system_prompt: tokenizer.count(&prompt),
        greeting: greeting.map(|g| tokenizer.count(&g)),
        tokenizer,
    }
}

/// The prompts as counted. A persona that does not render (a placeholder no ancestor
/// declares: never the case for a valid one) is counted as written.
fn rendered(persona: &Persona) -> (String, Option<String>) {
    let (y, m, d) = COUNT_DATE;
    // 2000-01-01 exists; the fallback only satisfies the type.
    let date = Date::new(y, m, d).unwrap_or_else(Date::today_utc);
    let mut vars = Vars::new(date);
    if !persona.vars.contains_key("user_name") {
        vars.set("user_name", "");
    }
    match persona.render(&vars) {
        Ok(r) => (r.system_prompt, r.greeting),
        Err(_) => (persona.system_prompt.clone(), persona.greeting.clone()),
    }
}

/// Where a file writes its `system_prompt` value (kept by its check, for the budget rule).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Place {
    pub line: usize,
    pub column: usize,
    pub snippet: Option<Snippet>,
}

impl Place {
    /// The place of byte range `span` of `text`.
    pub(crate) fn of(text: &str, span: &std::ops::Range<usize>) -> Self {
        let p = crate::source::position(text, span.start);
        Place {
            line: p.line,
            column: p.column,
            snippet: Some(crate::source::snippet(text, span)),
        }
    }
}

/// The budget rule for one resolved persona: `None` when it has no `max_prompt_tokens` or its
/// rendered prompt fits. Otherwise a `budget.prompt-tokens` error at the file's own
/// `system_prompt` value, or, when the file inherits its prompt, at its `extends` value,
/// naming the ancestor the prompt comes from (`prompt_from`, asked only then).
pub(crate) fn budget_diagnostic(
    path: &Path,
    links: &Links,
    resolved: &Persona,
    prompt_from: impl FnOnce() -> Option<String>,
) -> Option<Diagnostic> {
    let budget = usize::try_from(resolved.model.as_ref()?.max_prompt_tokens?).ok()?;
    // A token is at least one byte: a prompt of at most `budget` bytes fits without counting.
    if resolved.system_prompt.len() <= budget && !resolved.system_prompt.contains("{{") {
        return None;
    }
    let tokenizer = tokenizer_of(resolved);
    let (prompt, _) = rendered(resolved);
    if prompt.len() <= budget {
        return None;
    }
    let count = tokenizer.count(&prompt);
    if count <= budget {
        return None;
    }
    let hint =
        "shorten the prompt (or its variables' defaults), or raise `[model] max_prompt_tokens`";
    let mut d = match (&links.prompt, &links.extends) {
        (None, Some(ext)) => {
            let from = prompt_from().unwrap_or_else(|| ext.id.clone());
            let mut d = Diagnostic::file_error(
                path,
                Code::BudgetPromptTokens,
                format!(
                    "the system prompt inherited from `{from}` renders to {count} tokens ({tokenizer}), over this persona's budget of {budget} (`model.max_prompt_tokens`)"
                ),
            );
            d.line = ext.line;
            d.column = ext.column;
            d.snippet.clone_from(&ext.snippet);
            d
        }
        (place, _) => {
            let mut d = Diagnostic::file_error(
                path,
                Code::BudgetPromptTokens,
                format!(
                    "the rendered system prompt is {count} tokens ({tokenizer}), over the budget of {budget} (`model.max_prompt_tokens`)"
                ),
            );
            if let Some(place) = place {
                d.line = place.line;
                d.column = place.column;
                d.snippet.clone_from(&place.snippet);
            }
            d
        }
    };
    d.hint = Some(hint.into());
    Some(d)
}

/// The diagnostic of a file whose parent resolved but is over its budget: the file is left
/// out with it, like the child of any invalid parent.
pub(crate) fn parent_over_budget(path: &Path, links: &Links, parent_path: &Path) -> Diagnostic {
    let mut d = Diagnostic::file_error(
        path,
        Code::ExtendsInvalidParent,
        "`extends`: the parent persona is over its prompt budget",
    );
    if let Some(ext) = &links.extends {
        d.message = format!(
            "`extends`: the parent persona `{}` is over its prompt budget",
            ext.id
        );
        d.line = ext.line;
        d.column = ext.column;
        d.snippet.clone_from(&ext.snippet);
    }
    d.hint = Some(
        "fix the parent first (`personactl validate` lists its problems); until then this persona is left out".into(),
    );
    d.related.push(Related {
        path: parent_path.to_path_buf(),
        line: 1,
        column: 1,
        message: "the parent is defined here".into(),
    });
    d
}

/// For each checked file: whether it belongs to a resolved family (a root and everything
/// that extends it) in which some file declares `[model] max_prompt_tokens`. Only those
/// families can have a budget diagnostic, since a budget is inherited down a family.
pub(crate) fn budgeted_families(checked: &[CheckedFile], resolution: &Families) -> Vec<bool> {
    let declares = |v: usize| {
        checked[v]
            .file
            .as_ref()
            .and_then(|f| f.model.as_ref())
            .is_some_and(|m| m.max_prompt_tokens.is_some())
    };
    let mut root: Vec<usize> = (0..checked.len()).collect();
    let mut has = vec![false; checked.len()];
    for &v in &resolution.order {
        if let Some(p) = resolution.parent[v] {
            root[v] = root[p];
        }
        if declares(v) {
            has[root[v]] = true;
        }
    }
    let mut budgeted = vec![false; checked.len()];
    for &v in &resolution.order {
        budgeted[v] = has[root[v]];
    }
    budgeted
}

/// Every resolved persona of checked files (in path order) whose family `resolution`
/// resolved, parents before children, with the budget rule applied: a persona over its
/// budget is left out (and so are its descendants), with a diagnostic. A file without its
/// content (`file` dropped) is skipped, and so are its descendants, silently. With `only`,
/// just the files it marks are merged (whole families, as [`budgeted_families`] marks them);
/// the others stay `None`. Returns the personas by file, and the diagnostics (parents before
/// children).
///
/// One level of the families at a time ([`Families::by_levels`]): each file merged onto its
/// parent's outcome and its budget checked, on all cores (counting is the expensive step).
pub(crate) fn resolve_with_budgets(
    checked: &[CheckedFile],
    resolution: &Families,
    only: Option<&[bool]>,
) -> (Vec<Option<Arc<Persona>>>, Vec<Diagnostic>) {
    let outcomes = resolution.by_levels(|v, parent: Option<&Budgeted>| {
        if only.is_some_and(|only| !only[v]) {
            return None;
        }
        let c = &checked[v];
        let file = c.file.as_ref()?;
        let parent = match (resolution.parent[v], parent) {
            (None, _) => None,
            // The parent was skipped: so is its child.
            (Some(_), None) => return None,
            (Some(p), Some(Budgeted { persona: None, .. })) => {
                let d = parent_over_budget(&c.path, &c.links, &checked[p].path);
                return Some(Budgeted::over(d));
            }
            (Some(_), Some(Budgeted { persona, .. })) => persona.as_deref(),
        };
        let persona = crate::check::resolve_one(file, parent)?;
        let prompt_from = || {
            inherited_prompt_from(resolution, v, |p| {
                (checked[p].file.as_deref(), checked[p].id.as_deref())
            })
        };
        Some(
            match budget_diagnostic(&c.path, &c.links, &persona, prompt_from) {
                Some(d) => Budgeted::over(d),
                None => Budgeted {
                    persona: Some(Arc::new(persona)),
                    diagnostic: None,
                },
            },
        )
    });
    let mut diagnostics = Vec::new();
    let mut resolved: Vec<Option<Arc<Persona>>> = vec![None; checked.len()];
    let mut outcomes = outcomes;
    for &v in &resolution.order {
        if let Some(outcome) = outcomes[v].take() {
            diagnostics.extend(outcome.diagnostic);
            resolved[v] = outcome.persona;
        }
    }
    (resolved, diagnostics)
}

/// One file's outcome under the budget rule: its resolved persona, or (`None`) left out for
/// a budget, its own or an ancestor's, with the diagnostic that says so.
pub(crate) struct Budgeted {
    /// The resolved persona; `None` when it or an ancestor is over budget.
    pub persona: Option<Arc<Persona>>,
    /// Why it was left out.
    pub diagnostic: Option<Diagnostic>,
}

impl Budgeted {
    fn over(d: Diagnostic) -> Self {
        Budgeted {
            persona: None,
            diagnostic: Some(d),
        }
    }
}

/// The id of the nearest ancestor of node `v` that writes its own `system_prompt` (the one a
/// budget diagnostic of an inherited prompt names); `node(p)` gives a node's file and id.
pub(crate) fn inherited_prompt_from<'a>(
    resolution: &Families,
    v: usize,
    node: impl Fn(usize) -> (Option<&'a PersonaFile>, Option<&'a str>),
) -> Option<String> {
    let mut up = resolution.parent[v];
    while let Some(p) = up {
        let (file, id) = node(p);
        if file.is_some_and(|f| f.system_prompt.is_some()) {
            return id.map(str::to_owned);
        }
        up = resolution.parent[p];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_imply_their_tokenizer() {
        let o200k = [
            "gpt-4o",
            "gpt-4o-mini",
            "GPT-4o-2024-08-06",
            "chatgpt-4o-latest",
            "gpt-4.1",
            "gpt-4.1-nano",
            "gpt-5",
            "gpt-5.1",
            "gpt-5-mini",
            "o1",
            "o1-preview",
            "o3-mini",
            "o4-mini",
            "openai/gpt-4o",
            "ft:gpt-4o:acme::abc",
        ];
        for m in o200k {
            assert_eq!(Tokenizer::for_model(m), Some(Tokenizer::O200kBase), "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4-0613",
            "gpt-3.5-turbo",
            "gpt-35-turbo",
        ] {
            assert_eq!(Tokenizer::for_model(m), Some(Tokenizer::Cl100kBase), "{m}");
        }
        for m in ["o10", "gpt-40", "claude-sonnet-4", "llama3", "", "gpt"] {
            assert_eq!(Tokenizer::for_model(m), None, "{m}");
        }
    }

    #[test]
    fn the_tokenizer_key_wins_over_the_model_name() {
        let mut p = Persona::new("n", "d", "i", "p");
        assert_eq!(tokenizer_of(&p), Tokenizer::O200kBase);
        let model = p.model.get_or_insert_with(Default::default);
        model.name = Some("gpt-4".into());
        assert_eq!(tokenizer_of(&p), Tokenizer::Cl100kBase);
        p.model.as_mut().expect("set above").tokenizer = Some(Tokenizer::O200kBase);
        assert_eq!(tokenizer_of(&p), Tokenizer::O200kBase);
    }

    #[test]
    fn counts_use_the_rendered_prompt_at_a_fixed_date() {
        let mut p = Persona::new("Coach", "d", "i", "{{date}} {{user_name}} {{long}}");
        p.vars.insert("long".into(), "word ".repeat(100));
        let c = count_tokens(&p);
        let expected = Tokenizer::O200kBase.count(&format!("2000-01-01  {}", "word ".repeat(100)));
        assert_eq!(c.system_prompt, expected);
        p.vars.insert("user_name".into(), "Ana María López".into());
        let with_name = format!("2000-01-01 Ana María López {}", "word ".repeat(100));
        assert_eq!(
            count_tokens(&p).system_prompt,
            Tokenizer::O200kBase.count(&with_name),
            "a declared default for user_name is used"
        );
        assert_ne!(count_tokens(&p).system_prompt, expected);
    }
}
