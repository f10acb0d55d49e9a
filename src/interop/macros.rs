//! `{{…}}` in imported text: a foreign format's macros become our variables, everything else
//! is escaped so it stays literal, and export does the reverse.
//!
//! Our syntax writes a literal `{{` as `{{{{`. Import escapes every `{{` that does not open one
//! of the variables below, so `${{ secrets.X }}`, Jinja and `{{CompanyName}}` render as written.

use crate::placeholders::{Token, scan};

/// How `{{…}}` in a source format maps to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// Character cards (SillyTavern): `{{char}}` → `{{persona_name}}`, `{{user}}` →
    /// `{{user_name}}` (any case, blanks inside allowed); our built-in variables stay variables.
    Card,
    /// Files whose runtime substitutes nothing (Markdown agents): every `{{` is literal.
    Literal,
    /// Open WebUI system prompts: `{{USER_NAME}}` → `{{user_name}}`, `{{CURRENT_DATE}}` →
    /// `{{date}}`; every other `{{` is literal.
    OpenWebUi,
    /// LibreChat prompts (export only): `{{current_user}}`, `{{current_date}}`; the persona's
    /// name is written out.
    LibreChat,
}

/// The variable a source macro stands for, if any.
fn mapped(dialect: Dialect, name: &str) -> Option<&'static str> {
    match dialect {
        Dialect::Literal | Dialect::LibreChat => return None,
        Dialect::OpenWebUi => {
            return match name {
                "USER_NAME" => Some("user_name"),
                "CURRENT_DATE" => Some("date"),
                _ => None,
            };
        }
        Dialect::Card => {}
    }
    match name.to_ascii_lowercase().as_str() {
        "char" => Some("persona_name"),
        "user" => Some("user_name"),
        _ => match name {
            "persona_name" => Some("persona_name"),
            "user_name" => Some("user_name"),
            "date" => Some("date"),
            _ => None,
        },
    }
}

/// Source text → persona text.
pub(super) fn import(text: &str, dialect: Dialect) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut from = 0;
    while let Some(found) = text[from..].find("{{") {
        let k = from + found;
        out.push_str(&text[from..k]);
        if let Some((var, end)) =
            macro_at(bytes, k).and_then(|(n, e)| Some((mapped(dialect, n)?, e)))
        {
            out.push_str("{{");
            out.push_str(var);
            out.push_str("}}");
            from = end;
        } else {
            out.push_str("{{{{");
            from = k + 2;
        }
    }
    out.push_str(&text[from..]);
    out
}

/// `{{ name }}` starting at byte `k`: the name and the byte after `}}`.
fn macro_at(bytes: &[u8], k: usize) -> Option<(&str, usize)> {
    let blank = |mut j: usize| {
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        j
    };
    let start = blank(k + 2);
    let mut j = start;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    let end = j;
    let j = blank(j);
    if end > start && bytes[j..].starts_with(b"}}") {
        // The name is ASCII, so the slice is on character boundaries.
        std::str::from_utf8(&bytes[start..end])
            .ok()
            .map(|n| (n, j + 2))
    } else {
        None
    }
}

/// Persona text → source text: the reverse of [`import`] for text it produced.
pub(super) fn export(text: &str, dialect: Dialect) -> String {
    export_named(text, dialect, "")
}

/// [`export`], with the persona's name for formats that have no variable for it.
pub(super) fn export_named(text: &str, dialect: Dialect, persona_name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for token in scan(text) {
        let span = token.span();
        out.push_str(&text[from..span.start]);
        match (&token, dialect) {
            (Token::Escape { .. }, _) => out.push_str("{{"),
            (Token::Var { name, .. }, Dialect::Card) if name == "persona_name" => {
                out.push_str("{{char}}");
            }
            (Token::Var { name, .. }, Dialect::Card) if name == "user_name" => {
                out.push_str("{{user}}");
            }
            (Token::Var { name, .. }, Dialect::OpenWebUi) if name == "user_name" => {
                out.push_str("{{USER_NAME}}");
            }
            (Token::Var { name, .. }, Dialect::OpenWebUi) if name == "date" => {
                out.push_str("{{CURRENT_DATE}}");
            }
            (Token::Var { name, .. }, Dialect::LibreChat) if name == "user_name" => {
                out.push_str("{{current_user}}");
            }
            (Token::Var { name, .. }, Dialect::LibreChat) if name == "date" => {
                out.push_str("{{current_date}}");
            }
            (Token::Var { name, .. }, Dialect::LibreChat) if name == "persona_name" => {
                out.push_str(persona_name);
            }
            _ => out.push_str(&text[span.clone()]),
        }
        from = span.end;
    }
    out.push_str(&text[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_macros_become_variables_and_the_rest_stays_literal() {
        let src = "{{char}} greets {{User}}; {{ CHAR }} on {{date}}; {{random::a::b}} {{{x}}} ${{ secrets.X }} {{CompanyName}}";
        let ours = import(src, Dialect::Card);
        assert_eq!(
            ours,
            "{{persona_name}} greets {{user_name}}; {{persona_name}} on {{date}}; {{{{random::a::b}} {{{{{x}}} ${{{{ secrets.X }} {{{{CompanyName}}"
        );
        assert!(
            scan(&ours)
                .iter()
                .all(|t| !matches!(t, Token::Malformed { .. }))
        );
        assert_eq!(
            export(&ours, Dialect::Card),
            "{{char}} greets {{user}}; {{char}} on {{date}}; {{random::a::b}} {{{x}}} ${{ secrets.X }} {{CompanyName}}"
        );
    }

    #[test]
    fn literal_dialect_escapes_every_brace_pair_and_round_trips() {
        for src in [
            "{{date}} {{char}} {{{{ {{",
            "{% if x %}{{ x | upper }}{% endif %}",
            "plain",
            "}}{{}}{{",
        ] {
            let ours = import(src, Dialect::Literal);
            assert!(
                scan(&ours)
                    .iter()
                    .all(|t| matches!(t, Token::Escape { .. })),
                "{ours}"
            );
            assert_eq!(export(&ours, Dialect::Literal), src);
        }
    }
}
