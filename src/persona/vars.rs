//! Prompt variables: the `{{name}}` scanner, and [`Persona::render`].
//!
//! The syntax is deliberately small: `{{name}}` (spaces inside the braces allowed), where a
//! name is letters, digits and `_`; `{{{{` writes a literal `{{`. Anything else that starts
//! with `{{` is an error with a position. Values are inserted as they are (a value holding
//! `{{x}}` is not rendered again).

use std::collections::BTreeMap;
use std::ops::Range;

use crate::persona::Persona;

/// The built-in variables: always declared.
pub(crate) const BUILT_INS: [&str; 3] = ["persona_name", "date", "user_name"];

/// One `{{…}}` found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// `{{name}}`.
    Var {
        /// The variable name.
        name: String,
        /// Byte range of the whole placeholder.
        span: Range<usize>,
    },
    /// `{{{{`: a literal `{{`.
    Escape {
        /// Byte offset of the first brace.
        start: usize,
    },
    /// `{{` not followed by a valid name and `}}`.
    Malformed {
        /// What is wrong.
        problem: Malformed,
        /// Byte range of what was read.
        span: Range<usize>,
    },
}

/// How a placeholder is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// `{{}}`: no name between the braces.
    Empty,
    /// `{{ x` without `}}` right after the name (or a name with characters other than
    /// letters, digits and `_`).
    Unclosed,
    /// A name that starts with a digit.
    BadName,
}

impl Malformed {
    /// The problem in words.
    #[must_use]
    pub fn describe(self, text: &str) -> String {
        match self {
            Malformed::Empty => "empty placeholder `{{}}`: name a variable".to_owned(),
            Malformed::Unclosed => format!(
                "unclosed placeholder `{}`: expected `}}}}` after a variable name",
                text.trim_end()
            ),
            Malformed::BadName => {
                format!("placeholder `{text}`: a variable name starts with a letter or `_`")
            }
        }
    }
}

impl Token {
    /// The variable name, for a `{{name}}` token.
    pub fn name(&self) -> Option<&str> {
        match self {
            Token::Var { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Where the token starts.
    pub fn start(&self) -> usize {
        match self {
            Token::Var { span, .. } | Token::Malformed { span, .. } => span.start,
            Token::Escape { start } => *start,
        }
    }

    /// The bytes the token covers.
    pub fn span(&self) -> Range<usize> {
        match self {
            Token::Var { span, .. } | Token::Malformed { span, .. } => span.clone(),
            Token::Escape { start } => *start..start + 4,
        }
    }

    /// Whether two tokens are the same apart from where they are.
    pub fn same_kind(&self, other: &Token) -> bool {
        match (self, other) {
            (Token::Var { name: a, .. }, Token::Var { name: b, .. }) => a == b,
            (Token::Escape { .. }, Token::Escape { .. }) => true,
            (Token::Malformed { problem: a, .. }, Token::Malformed { problem: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// Every placeholder, escape and malformed placeholder in `text`, in order.
pub(crate) fn scan(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("{{") {
        let k = from + found;
        if bytes[k + 2..].starts_with(b"{{") {
            tokens.push(Token::Escape { start: k });
            from = k + 4;
            continue;
        }
        let skip_blank = |mut j: usize| {
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            j
        };
        let name_start = skip_blank(k + 2);
        let mut j = name_start;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        let name_end = j;
        let j = skip_blank(j);
        if bytes[j..].starts_with(b"}}") {
            let span = k..j + 2;
            let name = &text[name_start..name_end];
            tokens.push(if name.is_empty() {
                Token::Malformed {
                    problem: Malformed::Empty,
                    span,
                }
            } else if name.as_bytes()[0].is_ascii_digit() {
                Token::Malformed {
                    problem: Malformed::BadName,
                    span,
                }
            } else {
                Token::Var {
                    name: name.to_owned(),
                    span,
                }
            });
            from = j + 2;
        } else {
            tokens.push(Token::Malformed {
                problem: Malformed::Unclosed,
                span: k..name_end.max(k + 2),
            });
            from = k + 2;
        }
    }
    tokens
}

/// A calendar date (for the `date` built-in), printed `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// A date, when it exists (`2024-02-30` does not).
    #[must_use]
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days)
            .contains(&day)
            .then_some(Date { year, month, day })
    }

    /// Today in UTC, from the system clock.
    #[must_use]
    pub fn today_utc() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::from_days_since_epoch(i64::try_from(secs / 86_400).unwrap_or(0))
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            // Both are in range by construction: month 1–12, day 1–31.
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Date {
    type Err = String;

    /// Parses `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a date: expected YYYY-MM-DD");
        let mut parts = s.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        let day = d.parse().map_err(|_| bad())?;
        Date::new(year, month, day).ok_or_else(bad)
    }
}

/// What the caller supplies to [`Persona::render`]: the date (a clock the caller can fix),
/// the user's name, and values for declared variables (overriding their defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    date: Date,
    values: BTreeMap<String, String>,
}

impl Vars {
    /// Values for rendering on `date`.
    #[must_use]
    pub fn new(date: Date) -> Self {
        Vars {
            date,
            values: BTreeMap::new(),
        }
    }

    /// Values for rendering today (UTC, from the system clock).
    #[must_use]
    pub fn today() -> Self {
        Self::new(Date::today_utc())
    }

    /// Sets a variable: `user_name`, one the persona declares in `[vars]`, or `date` (text
    /// that replaces the date, e.g. a stand-in for stable snapshots). Other names are ignored
    /// by rendering.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets a variable in place.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// The date used for `{{date}}`.
    #[must_use]
    pub fn date(&self) -> Date {
        self.date
    }

    /// The value given for `name`, if any.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// A persona's prompts with every variable replaced: what is sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The final system prompt.
    pub system_prompt: String,
    /// The final greeting, if the persona has one.
    pub greeting: Option<String>,
}

/// Why a persona could not be rendered. Positions are 1-based lines and columns within the
/// field's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A `{{…}}` that is not a placeholder.
    #[error("{field}:{line}:{column}: {message}")]
    Malformed {
        /// `system_prompt` or `greeting`.
        field: &'static str,
        /// 1-based line within the field.
        line: usize,
        /// 1-based column within the field.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A variable that is neither declared in `[vars]` nor built in.
    #[error("{field}:{line}:{column}: undeclared variable `{name}`")]
    Undeclared {
        /// `system_prompt` or `greeting`.
        field: &'static str,
        /// 1-based line within the field.
        line: usize,
        /// 1-based column within the field.
        column: usize,
        /// The variable.
        name: String,
    },
    /// `{{user_name}}` is used, but the caller gave no `user_name` and the persona declares
    /// no default for it.
    #[error("{field}:{line}:{column}: no value for `{name}`: the caller must supply it")]
    Unset {
        /// `system_prompt` or `greeting`.
        field: &'static str,
        /// 1-based line within the field.
        line: usize,
        /// 1-based column within the field.
        column: usize,
        /// The variable.
        name: String,
    },
}

impl Persona {
    /// The persona's system prompt and greeting with every `{{variable}}` replaced: the
    /// caller's value, else the persona's `[vars]` default; built-ins `persona_name` (the
    /// persona's name), `date` (from `vars`) and `user_name` (from `vars`, else a `[vars]`
    /// default). `{{{{` becomes `{{`.
    ///
    /// ```
    /// use personas::{Date, Persona, Vars};
    /// let mut p = Persona::new("Coach", "d", "🧭", "You are {{persona_name}}. Today is {{date}}. Say {{{{ literally.");
    /// p.greeting = Some("Hi {{ user_name }}, in {{place}}!".into());
    /// p.vars.insert("place".into(), "Lisbon".into());
    /// let date = Date::new(2025, 1, 31).ok_or("date")?;
    /// let out = p.render(&Vars::new(date).with("user_name", "Ana"))?;
    /// assert_eq!(out.system_prompt, "You are Coach. Today is 2025-01-31. Say {{ literally.");
    /// assert_eq!(out.greeting.as_deref(), Some("Hi Ana, in Lisbon!"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`RenderError`] for a malformed placeholder, an undeclared variable, or a
    /// `user_name` with no value; each with its line and column in the field.
    pub fn render(&self, vars: &Vars) -> Result<Rendered, RenderError> {
        Ok(Rendered {
            system_prompt: self.render_field("system_prompt", &self.system_prompt, vars)?,
            greeting: match &self.greeting {
                Some(g) => Some(self.render_field("greeting", g, vars)?),
                None => None,
            },
        })
    }

    fn render_field(
        &self,
        field: &'static str,
        text: &str,
        vars: &Vars,
    ) -> Result<String, RenderError> {
        let tokens = scan(text);
        if tokens.is_empty() {
            return Ok(text.to_owned());
        }
        let at = |offset: usize| {
            let p = crate::source::position(text, offset);
            (p.line, p.column)
        };
        let date = vars.date().to_string();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for t in &tokens {
            out.push_str(&text[copied..t.start()]);
            match t {
                Token::Escape { start } => {
                    out.push_str("{{");
                    copied = start + 4;
                }
                Token::Malformed { problem, span } => {
                    let (line, column) = at(span.start);
                    return Err(RenderError::Malformed {
                        field,
                        line,
                        column,
                        message: problem.describe(&text[span.clone()]),
                    });
                }
                Token::Var { name, span } => {
                    let value = match name.as_str() {
                        "persona_name" => Some(self.name.as_str()),
                        "date" => Some(vars.get("date").unwrap_or(date.as_str())),
                        other => vars
                            .get(other)
                            .filter(|_| other == "user_name" || self.vars.contains_key(other))
                            .or_else(|| self.vars.get(other).map(String::as_str)),
                    };
                    let Some(value) = value else {
                        let (line, column) = at(span.start);
                        return Err(if name == "user_name" {
                            RenderError::Unset {
                                field,
                                line,
                                column,
                                name: name.clone(),
                            }
                        } else {
                            RenderError::Undeclared {
                                field,
                                line,
                                column,
                                name: name.clone(),
                            }
                        });
                    };
                    out.push_str(value);
                    copied = span.end;
                }
            }
        }
        out.push_str(&text[copied..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        scan(text)
            .iter()
            .map(|t| match t {
                Token::Var { name, .. } => name.clone(),
                Token::Escape { .. } => "ESC".into(),
                Token::Malformed { problem, .. } => format!("{problem:?}"),
            })
            .collect()
    }

    #[test]
    fn scanner_finds_each_form() {
        assert_eq!(names("a {{x}} b {{ y_2 }}"), ["x", "y_2"]);
        assert_eq!(names("{{{{x}}"), ["ESC"]);
        assert_eq!(names("{{}} {{ }}"), ["Empty", "Empty"]);
        assert_eq!(names("{{ x"), ["Unclosed"]);
        assert_eq!(names("{{x-y}} {{ok}}"), ["Unclosed", "ok"]);
        assert_eq!(names("{{2x}}"), ["BadName"]);
        assert_eq!(names("{ {x} } }}"), Vec::<String>::new());
        assert_eq!(names("ends with {{"), ["Unclosed"]);
        assert_eq!(names("é{{ü}}"), ["Unclosed"]);
    }

    #[test]
    fn dates_print_and_parse() {
        assert_eq!(Date::from_days_since_epoch(0).to_string(), "1970-01-01");
        assert_eq!(
            Date::from_days_since_epoch(19_782).to_string(),
            "2024-02-29"
        );
        assert_eq!(
            "2024-02-29".parse::<Date>().map(|d| d.to_string()),
            Ok("2024-02-29".into())
        );
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-2-1".parse::<Date>().is_err());
    }

    #[test]
    fn render_errors_carry_positions() {
        let p = Persona::new("N", "d", "i", "line one\n  {{nope}}");
        let err = p.render(&Vars::new(Date::new(2020, 1, 1).expect("date")));
        assert_eq!(
            err,
            Err(RenderError::Undeclared {
                field: "system_prompt",
                line: 2,
                column: 3,
                name: "nope".into()
            })
        );
        let p = Persona::new("N", "d", "i", "x {{ y");
        assert!(matches!(
            p.render(&Vars::today()),
            Err(RenderError::Malformed {
                line: 1,
                column: 3,
                ..
            })
        ));
        let p = Persona::new("N", "d", "i", "hi {{user_name}}");
        assert!(matches!(
            p.render(&Vars::today()),
            Err(RenderError::Unset { .. })
        ));
    }

    #[test]
    fn caller_values_override_defaults_but_not_builtins() {
        let mut p = Persona::new("N", "d", "i", "{{tone}} {{persona_name}}");
        p.vars.insert("tone".into(), "warm".into());
        let vars = Vars::today().with("tone", "dry").with("persona_name", "X");
        assert_eq!(p.render(&vars).map(|r| r.system_prompt), Ok("dry N".into()));
    }
}
