//! Bounded diagnostics: however many times a file repeats one mistake, its report stays small.
//!
//! Every check of one file ([`check_text`](crate::check_text), and so `validate`, the store,
//! the HTTP API and hot reload) collects its diagnostics here. At most [`MAX_REPEATS`]
//! diagnostics of one code are kept per file; the rest are counted, not built, and summed up
//! in one last diagnostic of that code ("and 39,980 more like it"). A producer asks
//! [`Bounded::reserve`] before it builds a diagnostic, so that the cost of a file with a
//! million mistakes is the cost of counting them.

use std::collections::HashMap;
use std::path::Path;

use crate::diagnostic::{Code, Diagnostic, Severity};

/// How many diagnostics of one code one file reports before the rest are summed up.
pub const MAX_REPEATS: usize = 20;

#[derive(Default)]
struct Tally {
    reserved: usize,
    skipped: usize,
    first_skipped: Option<usize>,
}

/// The diagnostics of one file, at most [`MAX_REPEATS`] per code.
pub(crate) struct Bounded<'t> {
    path: &'t Path,
    text: &'t str,
    kept: Vec<Diagnostic>,
    tallies: HashMap<Code, Tally>,
}

impl<'t> Bounded<'t> {
    /// An empty collection for the file at `path` with source `text`.
    pub fn new(path: &'t Path, text: &'t str) -> Self {
        Bounded {
            path,
            text,
            kept: Vec::new(),
            tallies: HashMap::new(),
        }
    }

    /// Whether one more diagnostic of `code` (at byte `offset`) should be built. Counts it
    /// either way: a `true` is a promise to [`push_reserved`](Self::push_reserved) it (or to
    /// drop it as a duplicate), a `false` counts it among the ones summed up.
    pub fn reserve(&mut self, code: Code, offset: usize) -> bool {
        let tally = self.tallies.entry(code).or_default();
        if tally.reserved < MAX_REPEATS {
            tally.reserved += 1;
            true
        } else {
            tally.skipped += 1;
            tally.first_skipped = Some(tally.first_skipped.map_or(offset, |o| o.min(offset)));
            false
        }
    }

    /// Whether nothing was reserved or kept yet.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// Keeps a diagnostic that [`reserve`](Self::reserve) allowed.
    pub fn push_reserved(&mut self, d: Diagnostic) {
        self.kept.push(d);
    }

    /// Keeps `d` if its code still has room (for diagnostics that are cheap to build).
    pub fn push(&mut self, d: Diagnostic) {
        // A diagnostic without a span counts as at the start of the file.
        if self.reserve(d.code, 0) {
            self.kept.push(d);
        }
    }

    /// The kept diagnostics and one summary per code that had more, sorted by position.
    pub fn finish(self) -> Vec<Diagnostic> {
        let mut out = self.kept;
        let mut summaries: Vec<(Code, Tally)> = self
            .tallies
            .into_iter()
            .filter(|(_, t)| t.skipped > 0)
            .collect();
        summaries.sort_by_key(|(code, _)| *code);
        for (code, tally) in summaries {
            let severity = out
                .iter()
                .find(|d| d.code == code)
                .map_or(Severity::Error, |d| d.severity);
            let offset = tally.first_skipped.unwrap_or(0);
            let mut d = Diagnostic::at(
                self.path,
                self.text,
                &(offset..offset),
                code,
                format!("and {} more like it", thousands(tally.skipped)),
            )
            .with_hint(format!(
                "only the first {MAX_REPEATS} `{code}` problems of a file are listed; fix them and check again"
            ));
            d.severity = severity;
            // The summary says how many; the line it starts at is shown by the first ones.
            d.snippet = None;
            out.push(d);
        }
        out.sort_by_key(|d| (d.line, d.column));
        out
    }
}

/// `39980` → `39,980`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_past_the_cap_are_summed_up_in_one_diagnostic() {
        let path = Path::new("p/x.toml");
        let text = "a\n".repeat(100);
        let mut b = Bounded::new(path, &text);
        for i in 0..100 {
            if b.reserve(Code::VarsUndeclared, i * 2) {
                b.push_reserved(Diagnostic::at(
                    path,
                    &text,
                    &(i * 2..i * 2 + 1),
                    Code::VarsUndeclared,
                    "x",
                ));
            }
        }
        b.push(Diagnostic::file_error(path, Code::IdInvalid, "bad name"));
        let out = b.finish();
        assert_eq!(out.len(), MAX_REPEATS + 2);
        let summary = out
            .iter()
            .find(|d| d.message.starts_with("and "))
            .expect("a summary");
        assert_eq!(summary.message, "and 80 more like it");
        assert_eq!(summary.line, MAX_REPEATS + 1);
        assert_eq!(summary.code, Code::VarsUndeclared);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(39_980), "39,980");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
