//! The `o200k_base` pre-tokenizer for ASCII text, by hand: the same pieces as the
//! encoding's regular expression (the one tiktoken and `bpe-openai` use), found with a few
//! byte tests instead of a regex search. Splitting is most of the cost of counting a prompt;
//! most prompts are ASCII. Text with any other character goes through the regex.
//!
//! The expression, its alternatives tried in order at each position (leftmost-first):
//!
//! 1. `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
//! 2. `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
//! 3. `\p{N}{1,3}`
//! 4. ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
//! 5. `\s*[\r\n]+`
//! 6. `\s+(?!\S)`
//! 7. `\s+`
//!
//! In ASCII the letters are `A-Z` (upper) and `a-z` (lower), the numbers `0-9`, and the
//! white space is tab, line feed, vertical tab, form feed, carriage return and space.

fn is_upper(c: u8) -> bool {
    c.is_ascii_uppercase()
}

fn is_lower(c: u8) -> bool {
    c.is_ascii_lowercase()
}

fn is_space(c: u8) -> bool {
    c == b' ' || (0x09..=0x0d).contains(&c)
}

fn is_newline(c: u8) -> bool {
    c == b'\r' || c == b'\n'
}

/// `[^\s\p{L}\p{N}]`: neither white space, a letter nor a number.
fn is_other(c: u8) -> bool {
    !is_space(c) && !c.is_ascii_alphanumeric()
}

/// `[^\r\n\p{L}\p{N}]`: what may precede a word.
fn is_word_prefix(c: u8) -> bool {
    !is_newline(c) && !c.is_ascii_alphanumeric()
}

/// The end of the run of bytes from `i` that satisfy `f`.
fn run(b: &[u8], mut i: usize, f: fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `i`: where it ends.
fn contraction(b: &[u8], i: usize) -> usize {
    if b.get(i) != Some(&b'\'') {
        return i;
    }
    let at = |k: usize| b.get(i + k).map(u8::to_ascii_lowercase);
    match at(1) {
        Some(b's' | b't' | b'm' | b'd') => i + 2,
        Some(b'r' | b'v') if at(2) == Some(b'e') => i + 3,
        Some(b'l') if at(2) == Some(b'l') => i + 3,
        _ => i,
    }
}

/// Alternatives 1 and 2 from `j` (after the optional prefix): where the word ends.
fn word(b: &[u8], j: usize) -> Option<usize> {
    let upper = run(b, j, is_upper);
    let lower = run(b, upper, is_lower);
    // 1: upper letters, then at least one lower letter; 2: at least one upper letter.
    (lower > upper || upper > j).then(|| contraction(b, lower))
}

/// The end of the piece that starts at `i` (`i < b.len()`).
fn piece_end(b: &[u8], i: usize) -> usize {
    let c = b[i];
    // 1 and 2, with the prefix when there can be one, else without.
    if c.is_ascii_alphabetic() {
        if let Some(end) = word(b, i) {
            return end;
        }
    } else if is_word_prefix(c)
        && let Some(end) = word(b, i + 1)
    {
        return end;
    }
    // 3.
    if c.is_ascii_digit() {
        return run(b, i, |c| c.is_ascii_digit()).min(i + 3);
    }
    // 4.
    let start = if c == b' ' && b.get(i + 1).is_some_and(|&d| is_other(d)) {
        i + 1
    } else {
        i
    };
    if is_other(b[start]) {
        let end = run(b, start, is_other);
        return run(b, end, |c| is_newline(c) || c == b'/');
    }
    // What is left starts with white space.
    let spaces = run(b, i, is_space);
    // 5: up to the last line break of the run.
    if let Some(last) = b[i..spaces].iter().rposition(|&c| is_newline(c)) {
        return i + last + 1;
    }
    // 6: the run, but its last space when something follows it.
    if spaces == b.len() {
        return spaces;
    }
    if spaces - i >= 2 {
        return spaces - 1;
    }
    // 7.
    spaces
}

/// The pieces of ASCII `text`, as the `o200k_base` expression splits it.
pub(super) fn pieces(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= text.len() {
            return None;
        }
        let end = piece_end(text, i);
        let piece = &text[i..end];
        i = end;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::pieces;
    use proptest::prelude::*;

    fn regex_pieces(text: &str) -> Vec<&str> {
        bpe_openai::o200k_base().split(text).collect()
    }

    fn hand_pieces(text: &str) -> Vec<&str> {
        pieces(text.as_bytes())
            .map(|p| std::str::from_utf8(p).expect("ASCII pieces of ASCII text"))
            .collect()
    }

    #[test]
    fn every_ascii_byte_in_every_short_context_splits_as_the_expression_does() {
        let contexts = [
            "{}", "a{}", "{}a", "A{}b", " {}", "{} ", "  {}x", "{}{}", "x{}\n", "\n{}", "{}'s",
            "1{}2", "{}  a", "{}\r\n", "a {}\t", "{}//", "''{}",
        ];
        for c in 0u8..128 {
            let s = (c as char).to_string();
            for ctx in contexts {
                let text = ctx.replace("{}", &s);
                assert_eq!(hand_pieces(&text), regex_pieces(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn prose_splits_as_the_expression_does() {
        let texts = [
            "You are a helpful assistant. Don't guess; ask.\n\nRules:\n  1. Be brief!\n  2) Cite 12345 sources...\n",
            "HELLO world, it's JSON's \"key\": [1, 22, 333, 4444] // done\r\n\r\n   \t end   ",
            "CamelCaseWords andALLCAPS WE'LL THEY'RE I'M you'VE he'd it'S x'll  \n\n\n  trailing",
            "a/b/c\n/ path //\n\n/\r/ ${{ secrets.TOKEN }} {{user_name}} <|endoftext|> ~~~ ***",
        ];
        for text in texts {
            assert_eq!(hand_pieces(text), regex_pieces(text), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn random_ascii_splits_as_the_expression_does(text in "[aZmS0-9 \t\n\r\x0b\x0c\x01'/.,!sStTrReElLvVdD-]{0,48}") {
            prop_assert_eq!(hand_pieces(&text), regex_pieces(&text));
        }
    }
}
