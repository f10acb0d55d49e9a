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
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.bytes().filter(|&b| b == b'\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// The source line that holds `span.start`, and how wide a caret under the span should be.
#[must_use]
pub fn snippet(text: &str, span: &Range<usize>) -> Snippet {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    // The caret ends at the span's end or the line's end (before a `\r`), whichever is first,
    // and never before it starts (a span may start on the `\r` itself).
    let line_stop = (line_start + line_text.len()).max(start);
    let end = floor_char_boundary(text, span.end.clamp(start, line_stop)).max(start);
    Snippet {
        line_text: line_text.to_owned(),
        width: text[start..end].chars().count().max(1),
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
