//! `Persona` (one live persona, read-only) and `Rendered` (its prompt with variables filled in).

use std::collections::BTreeMap;
use std::sync::Arc;

use personas::{Date, Entry, Vars};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::{Map, Value};

use crate::errors::RenderError;

/// One persona of a snapshot: inheritance applied, `{{variables}}` not yet filled in (call
/// `render`). Read-only; safe to share between threads; the same object for the same id in one
/// snapshot.
#[pyclass(frozen, module = "personas")]
pub struct Persona {
    pub(crate) entry: Arc<Entry>,
}

impl Persona {
    fn persona(&self) -> &personas::Persona {
        &self.entry.persona
    }
}

#[pymethods]
impl Persona {
    /// The id (the file name without `.toml`).
    #[getter]
    fn id(&self) -> &str {
        &self.entry.id
    }

    /// The file it was loaded from.
    #[getter]
    fn path(&self) -> String {
        self.entry.path.to_string_lossy().into_owned()
    }

    /// The revision: the first 16 hex digits of the SHA-256 of the persona's canonical JSON
    /// form (comments and layout do not change it, any value does).
    #[getter]
    fn revision(&self) -> &str {
        self.entry.revision()
    }

    /// The `schema_version` the file declares, or None.
    #[getter]
    fn schema_version(&self) -> Option<u32> {
        self.persona().schema_version
    }

    /// Display name, e.g. "Coach".
    #[getter]
    fn name(&self) -> &str {
        &self.persona().name
    }

    /// One or two sentences saying what the persona is for.
    #[getter]
    fn description(&self) -> &str {
        &self.persona().description
    }

    /// An emoji, or a short reference to an image.
    #[getter]
    fn icon(&self) -> &str {
        &self.persona().icon
    }

    /// The system prompt as resolved, placeholders not yet rendered (see `render`).
    #[getter]
    fn system_prompt(&self) -> &str {
        &self.persona().system_prompt
    }

    /// Free-form labels.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.persona().tags.clone()
    }

    /// The first message shown when a chat starts (placeholders not yet rendered), or None.
    #[getter]
    fn greeting(&self) -> Option<&str> {
        self.persona().greeting.as_deref()
    }

    /// Suggested first messages.
    #[getter]
    fn starters(&self) -> Vec<String> {
        self.persona().starters.clone()
    }

    /// Whether the persona is hidden from listings (it can still be used by id).
    #[getter]
    fn hidden(&self) -> bool {
        self.persona().hidden
    }

    /// Position in persona pickers (lower first), or None.
    #[getter]
    fn order(&self) -> Option<i32> {
        self.persona().order
    }

    /// Former ids of this persona.
    #[getter]
    fn aliases(&self) -> Vec<String> {
        self.persona().aliases.clone()
    }

    /// Model parameters as a plain dict (`temperature`, `top_p`, `max_tokens`, `name`,
    /// `tokenizer`, `max_prompt_tokens`; only those set).
    #[getter]
    fn model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let model = self.persona().model.clone().unwrap_or_default();
        Ok(pythonize::pythonize(py, &model)?)
    }

    /// What the rendered prompts cost, as a dict: `{"system_prompt": 812, "greeting": 14,
    /// "tokenizer": "o200k_base"}` (`greeting` is `None` without one), counted as tiktoken
    /// counts, variables at their defaults. Counted on each access.
    #[getter]
    fn tokens<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(
            py,
            &personas::count_tokens(self.persona()),
        )?)
    }

    /// Prompt variables and their default values, as a plain dict.
    #[getter]
    fn vars<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.persona().vars)?)
    }

    /// The free-form `[extensions]` table, as a plain dict.
    #[getter]
    fn extensions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.persona().extensions)?)
    }

    /// The system prompt and greeting with every `{{variable}}` filled in: `vars` (a dict of
    /// str to str: `user_name`, or variables the persona declares) override the persona's
    /// `[vars]` defaults; `date` (a `datetime.date`, or "YYYY-MM-DD"; default today in UTC)
    /// is `{{date}}`. Raises `RenderError` with the field, line and column of a problem.
    #[pyo3(signature = (vars=None, date=None))]
    fn render(
        &self,
        vars: Option<BTreeMap<String, String>>,
        date: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Rendered> {
        let mut values = match date {
            None => Vars::today(),
            Some(d) => Vars::new(to_date(d)?),
        };
        for (k, v) in vars.unwrap_or_default() {
            values.set(k, v);
        }
        let rendered = self
            .persona()
            .render(&values)
            .map_err(|e| RenderError::new_err(e.to_string()))?;
        Ok(Rendered {
            system_prompt: rendered.system_prompt,
            greeting: rendered.greeting,
        })
    }

    /// The persona as a dict: `id`, `revision`, then every field that is set, and `tokens`,
    /// as `GET /api/personas/{id}` and `personactl show --format json` give it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut map = Map::new();
        map.insert("id".into(), Value::String(self.entry.id.clone()));
        map.insert(
            "revision".into(),
            Value::String(self.entry.revision().to_owned()),
        );
        if let Ok(Value::Object(fields)) = serde_json::to_value(self.persona()) {
            for (k, v) in fields {
                map.entry(k).or_insert(v);
            }
        }
        if let Ok(tokens) = serde_json::to_value(personas::count_tokens(self.persona())) {
            map.insert("tokens".into(), tokens);
        }
        Ok(pythonize::pythonize(py, &Value::Object(map))?)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Persona {} {:?} revision {}>",
            self.entry.id,
            self.persona().name,
            self.entry.revision()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Persona>()
            .is_ok_and(|o| *o.get().entry == *self.entry)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.entry.id, &self.entry.revision()).hash(&mut h);
        h.finish()
    }
}

/// A date from a `datetime.date` (or `datetime.datetime`: its date) or a "YYYY-MM-DD" string.
fn to_date(value: &Bound<'_, PyAny>) -> PyResult<Date> {
    if let Ok(s) = value.cast::<PyString>() {
        return s.to_cow()?.parse::<Date>().map_err(PyValueError::new_err);
    }
    let part = |name: &str| value.getattr(name).and_then(|v| v.extract::<i64>());
    let (Ok(y), Ok(m), Ok(d)) = (part("year"), part("month"), part("day")) else {
        return Err(PyValueError::new_err(
            "date must be a datetime.date or a \"YYYY-MM-DD\" string",
        ));
    };
    let date = match (i32::try_from(y), u8::try_from(m), u8::try_from(d)) {
        (Ok(y), Ok(m), Ok(d)) => Date::new(y, m, d),
        _ => None,
    };
    date.ok_or_else(|| PyValueError::new_err(format!("{y:04}-{m:02}-{d:02} is not a date")))
}

/// What the model is sent: the rendered system prompt, and the rendered greeting (or None).
#[pyclass(frozen, module = "personas", get_all)]
pub struct Rendered {
    /// The system prompt, every placeholder filled in.
    system_prompt: String,
    /// The greeting, every placeholder filled in, or None.
    greeting: Option<String>,
}

#[pymethods]
impl Rendered {
    fn __repr__(&self) -> String {
        let greeting = self
            .greeting
            .as_deref()
            .map_or_else(|| "None".to_owned(), |g| format!("{g:?}"));
        format!(
            "Rendered(system_prompt={:?}, greeting={greeting})",
            self.system_prompt
        )
    }
}
