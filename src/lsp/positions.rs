//! Positions: byte offsets and 1-based character columns ↔ LSP positions (0-based line, and
//! a column counted in the code units of the negotiated encoding: UTF-16 unless the client
//! offers UTF-8 or UTF-32).

use lsp_types::{Position, PositionEncodingKind};

/// How LSP columns are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Bytes.
    Utf8,
    /// UTF-16 code units (the LSP default: a non-BMP character such as an emoji counts 2).
    Utf16,
    /// Unicode scalar values.
    Utf32,
}

impl Encoding {
    /// The first encoding the client lists that we speak, else UTF-16 (which every client
    /// must accept).
    pub(crate) fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Self {
        offered
            .unwrap_or_default()
            .iter()
            .find_map(|kind| match kind.as_str() {
                "utf-8" => Some(Encoding::Utf8),
                "utf-16" => Some(Encoding::Utf16),
                "utf-32" => Some(Encoding::Utf32),
                _ => None,
            })
            .unwrap_or(Encoding::Utf16)
    }

    /// The name announced in the server's capabilities.
    pub(crate) fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
            Encoding::Utf32 => PositionEncodingKind::UTF32,
        }
    }

    fn units(self, c: char) -> usize {
        match self {
            Encoding::Utf8 => c.len_utf8(),
            Encoding::Utf16 => c.len_utf16(),
            Encoding::Utf32 => 1,
        }
    }
}

/// The byte offset where 0-based line `line` starts (the text's end past the last line).
fn line_start(text: &str, line: u32) -> Option<usize> {
    if line == 0 {
        return Some(0);
    }
    memchr::memchr_iter(b'\n', text.as_bytes())
        .nth(line as usize - 1)
        .map(|i| i + 1)
}

/// The text of the line starting at byte `start`, without its line ending.
fn line_from(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let line = rest.find('\n').map_or(rest, |i| &rest[..i]);
    line.strip_suffix('\r').unwrap_or(line)
}

/// The byte offset of an LSP position; a column past the line's end means the line's end,
/// a line past the text's end means the text's end (as the protocol asks).
pub(crate) fn offset_of(text: &str, pos: Position, enc: Encoding) -> usize {
    let Some(start) = line_start(text, pos.line) else {
        return text.len();
    };
    let line = line_from(text, start);
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= pos.character as usize {
            return start + i;
        }
        units += enc.units(c);
    }
    start + line.len()
}

/// The LSP position of byte `offset` (clamped to the text and to a character boundary).
pub(crate) fn position_of(text: &str, offset: usize, enc: Encoding) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count();
    let character: usize = before[start..].chars().map(|c| enc.units(c)).sum();
    Position::new(to_u32(line), to_u32(character))
}

/// The LSP position of a diagnostic's 1-based line and 1-based character column in `text`
/// (clamped to the line's end), and of the point `width` characters further on that line.
pub(crate) fn range_of_column(
    text: &str,
    line: usize,
    column: usize,
    width: usize,
    enc: Encoding,
) -> (Position, Position) {
    let line0 = to_u32(line.saturating_sub(1));
    let Some(start) = line_start(text, line0) else {
        let end = position_of(text, text.len(), enc);
        return (end, end);
    };
    let chars = line_from(text, start).chars();
    let mut before = 0;
    let mut span = 0;
    for (i, c) in chars.enumerate() {
        if i + 1 < column {
            before += enc.units(c);
        } else if i + 1 < column + width {
            span += enc.units(c);
        } else {
            break;
        }
    }
    (
        Position::new(line0, to_u32(before)),
        Position::new(line0, to_u32(before + span)),
    )
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "icon = \"🧭\" x\r\nname = \"é\"\n";

    #[test]
    fn a_column_after_an_emoji_counts_two_utf16_units() {
        // `x` is the 12th character of line 1: 11 characters before it, the emoji counts 2.
        let (start, end) = range_of_column(TEXT, 1, 12, 1, Encoding::Utf16);
        assert_eq!(start, Position::new(0, 12));
        assert_eq!(end, Position::new(0, 13));
        assert_eq!(
            range_of_column(TEXT, 1, 12, 1, Encoding::Utf8).0,
            Position::new(0, 14)
        );
        assert_eq!(
            range_of_column(TEXT, 1, 12, 1, Encoding::Utf32).0,
            Position::new(0, 11)
        );
    }

    #[test]
    fn offsets_and_positions_round_trip_in_every_encoding() {
        for enc in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            for (offset, _) in TEXT.char_indices() {
                let pos = position_of(TEXT, offset, enc);
                // A `\r` before `\n` is part of the line end: it maps to the line's end.
                if TEXT[offset..].starts_with('\r') || TEXT[..offset].ends_with('\r') {
                    continue;
                }
                assert_eq!(offset_of(TEXT, pos, enc), offset, "{enc:?} {offset}");
            }
        }
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        assert_eq!(
            offset_of(TEXT, Position::new(0, 999), Encoding::Utf16),
            TEXT.find('\r').unwrap()
        );
        assert_eq!(
            offset_of(TEXT, Position::new(9, 0), Encoding::Utf16),
            TEXT.len()
        );
        // 12 characters on the line, the emoji counting 2: 13 units.
        assert_eq!(
            range_of_column(TEXT, 1, 99, 3, Encoding::Utf16).0,
            Position::new(0, 13)
        );
    }

    #[test]
    fn the_first_offered_encoding_we_speak_wins() {
        let offered = [
            PositionEncodingKind::new("utf-7"),
            PositionEncodingKind::UTF32,
            PositionEncodingKind::UTF8,
        ];
        assert_eq!(Encoding::negotiate(Some(&offered)), Encoding::Utf32);
        assert_eq!(Encoding::negotiate(None), Encoding::Utf16);
    }
}
