//! Byte offsets → 1-based line and column, and the source line for a caret.

use std::ops::Range;

use crate::diagnostic::Snippet;

/// A position in a source text: 1-based line, 1-based column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in Unicode scalar values (not bytes) since the line start.
    pub column: usize,
}

/// The position of byte `offset` in `text` (clamped to the text, and to a char boundary).
///
/// Lines end at `\n`; a `\r` before it belongs to the line end, so CRLF files count the same.
#[must_use]
pub fn position(text: &str, offset: usize) -> Position {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text.as_bytes()[..offset];
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    Position {
        line: memchr::memchr_iter(b'\n', before).count() + 1,
        column: text[line_start..offset].chars().count() + 1,
    }
}

/// How many characters of a source line a snippet keeps before the caret.
const SNIPPET_BEFORE: usize = 40;
/// How many characters a snippet keeps in all (the rest of a long line is left out, so a
/// diagnostic costs the same on a one-line megabyte prompt as on a short line).
const SNIPPET_CHARS: usize = 120;

/// The source line that holds `span.start`, and how wide a caret under the span should be.
///
/// A long line is cut to a window of at most 120 characters around the span;
/// [`Snippet::omitted_before`] says how many characters were left out before it.
#[must_use]
pub fn snippet(text: &str, span: &Range<usize>) -> Snippet {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let bytes = text.as_bytes();
    let line_start = memchr::memrchr(b'\n', &bytes[..start]).map_or(0, |i| i + 1);
    let line_end = memchr::memchr(b'\n', &bytes[start..]).map_or(text.len(), |i| start + i);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    let line_stop = line_start + line_text.len();
    // The window starts up to SNIPPET_BEFORE characters before the span (never inside it).
    let before = &text[line_start..start.min(line_stop).max(line_start)];
    let before_chars = before.chars().count();
    let omitted_before = before_chars.saturating_sub(SNIPPET_BEFORE);
    let window_start = line_start
        + before
            .char_indices()
            .nth(omitted_before)
            .map_or(before.len(), |(i, _)| i);
    let window_end = text[window_start..line_stop]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(line_stop, |(i, _)| window_start + i);
    // The caret ends at the span's end or the window's end (before a `\r`), whichever is
    // first, and never before it starts (a span may start on the `\r` itself).
    let stop = window_end.max(start);
    let end = floor_char_boundary(text, span.end.clamp(start, stop)).max(start);
    let mut shown = text[window_start..window_end].to_owned();
    if window_end < line_stop {
        shown.push('…');
    }
    Snippet {
        line_text: shown,
        width: text[start..end].chars().count().max(1),
        omitted_before,
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_is_line_one_column_one() {
        assert_eq!(position("abc", 0), Position { line: 1, column: 1 });
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "icon = \"🧭\" x";
        let offset = text.find('x').unwrap();
        assert_eq!(
            position(text, offset),
            Position {
                line: 1,
                column: 12
            }
        );
    }

    #[test]
    fn crlf_lines_count_like_lf() {
        let text = "a = 1\r\nb = 2\r\n";
        let offset = text.find('b').unwrap();
        assert_eq!(position(text, offset), Position { line: 2, column: 1 });
        assert_eq!(snippet(text, &(offset..offset + 1)).line_text, "b = 2");
    }

    #[test]
    fn a_span_starting_on_a_carriage_return_does_not_panic() {
        let text = "a = 1\r\nb";
        let s = snippet(text, &(5..7));
        assert_eq!((s.line_text.as_str(), s.width), ("a = 1", 1));
    }

    #[test]
    fn a_long_line_is_cut_to_a_window_around_the_span() {
        let text = format!("x = \"{}{{{{y}}}}{}\"", "a".repeat(5000), "b".repeat(5000));
        let at = text.find("{{").unwrap();
        let s = snippet(&text, &(at..at + 5));
        assert_eq!(s.omitted_before, 5 + 5000 - 40);
        assert!(s.line_text.starts_with(&"a".repeat(40)));
        assert!(s.line_text.ends_with('…'));
        assert_eq!(s.line_text.chars().count(), 121);
        assert_eq!(s.width, 5);
    }

    #[test]
    fn offsets_past_the_end_are_clamped() {
        assert_eq!(position("a\nb", 99), Position { line: 2, column: 2 });
    }

    #[test]
    fn snippet_width_stops_at_the_line_end() {
        let text = "x = \"\"\"\nmulti\n\"\"\"\n";
        let s = snippet(text, &(4..text.len()));
        assert_eq!(s.line_text, "x = \"\"\"");
        assert_eq!(s.width, 3);
    }
}
