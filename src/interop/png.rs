//! Character cards inside PNG images: base64 card JSON in `tEXt` chunks, `ccv3` (V3) and
//! `chara` (V2, or V1). A reader prefers `ccv3`, as the V3 specification says.

use base64::Engine;

use super::InteropError;

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The card keywords, in order of preference.
const KEYWORDS: [&[u8]; 2] = [b"ccv3", b"chara"];

/// A 1×1 transparent PNG, for a card exported from a persona that has no image.
const BLANK: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

pub(super) fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(SIGNATURE)
}

/// One chunk: its type, its data, and its whole byte range in the file.
struct Chunk<'a> {
    kind: &'a [u8],
    data: &'a [u8],
    range: std::ops::Range<usize>,
}

fn chunks(bytes: &[u8]) -> Result<Vec<Chunk<'_>>, InteropError> {
    let mut out = Vec::new();
    let mut at = SIGNATURE.len();
    while at + 12 <= bytes.len() {
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let end = at
            .checked_add(12)
            .and_then(|e| e.checked_add(len))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                InteropError::Png("truncated PNG: a chunk runs past the end of the file".into())
            })?;
        let kind = &bytes[at + 4..at + 8];
        out.push(Chunk {
            kind,
            data: &bytes[at + 8..end - 4],
            range: at..end,
        });
        at = end;
        if kind == b"IEND" {
            break;
        }
    }
    Ok(out)
}

/// The keyword and text of a `tEXt` chunk.
fn text_chunk<'a>(chunk: &Chunk<'a>) -> Option<(&'a [u8], &'a [u8])> {
    if chunk.kind != b"tEXt" {
        return None;
    }
    let nul = chunk.data.iter().position(|&b| b == 0)?;
    Some((&chunk.data[..nul], &chunk.data[nul + 1..]))
}

/// The decoded card JSON (`ccv3` if present, else `chara`), and which keyword it came from.
pub(super) fn card_json(bytes: &[u8]) -> Result<(Vec<u8>, &'static str), InteropError> {
    let chunks = chunks(bytes)?;
    for keyword in KEYWORDS {
        if let Some((_, text)) = chunks
            .iter()
            .filter_map(text_chunk)
            .find(|(k, _)| *k == keyword)
        {
            let name = if keyword == b"ccv3" { "ccv3" } else { "chara" };
            return decode(text, name).map(|json| (json, name));
        }
    }
    Err(InteropError::Png(
        "the PNG holds no character card (no `ccv3` or `chara` text chunk)".into(),
    ))
}

/// The image without its card chunks (what an export writes the card back into).
pub(super) fn image_without_card(bytes: &[u8]) -> Result<Vec<u8>, InteropError> {
    let mut out = SIGNATURE.to_vec();
    for chunk in chunks(bytes)? {
        if text_chunk(&chunk).is_some_and(|(k, _)| KEYWORDS.contains(&k)) {
            continue;
        }
        out.extend_from_slice(&bytes[chunk.range]);
    }
    Ok(out)
}

/// `image` (or a blank 1×1 image) with `cards` (keyword, card JSON) as `tEXt` chunks before
/// `IEND`, replacing any card chunks it had.
pub(super) fn with_cards(
    image: Option<&[u8]>,
    cards: &[(&str, &str)],
) -> Result<Vec<u8>, InteropError> {
    let image = image.unwrap_or(BLANK);
    if !is_png(image) {
        return Err(InteropError::Png(
            "the persona's card image is not a PNG".into(),
        ));
    }
    let mut out = SIGNATURE.to_vec();
    let mut wrote = false;
    for chunk in chunks(image)? {
        if text_chunk(&chunk).is_some_and(|(k, _)| KEYWORDS.contains(&k)) {
            continue;
        }
        if chunk.kind == b"IEND" {
            for (keyword, json) in cards {
                let mut data = keyword.as_bytes().to_vec();
                data.push(0);
                data.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(json.as_bytes())
                        .as_bytes(),
                );
                push_chunk(&mut out, b"tEXt", &data)?;
            }
            wrote = true;
        }
        out.extend_from_slice(&image[chunk.range]);
    }
    if wrote {
        Ok(out)
    } else {
        Err(InteropError::Png("the card image has no IEND chunk".into()))
    }
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<(), InteropError> {
    let len = u32::try_from(data.len())
        .map_err(|_| InteropError::Png("the card is too large for a PNG chunk".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    Ok(())
}

fn decode(text: &[u8], keyword: &str) -> Result<Vec<u8>, InteropError> {
    let cleaned: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .map_err(|e| InteropError::Png(format!("the `{keyword}` chunk is not valid base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_image_has_valid_checksums() {
        for chunk in chunks(BLANK).unwrap() {
            let mut crc = crc32fast::Hasher::new();
            crc.update(chunk.kind);
            crc.update(chunk.data);
            let stored = &BLANK[chunk.range.end - 4..chunk.range.end];
            assert_eq!(crc.finalize().to_be_bytes(), stored);
        }
    }

    #[test]
    fn written_cards_read_back_and_ccv3_wins() {
        let png = with_cards(None, &[("ccv3", "{\"v\":3}"), ("chara", "{\"v\":2}")]).unwrap();
        assert_eq!(card_json(&png).unwrap(), (b"{\"v\":3}".to_vec(), "ccv3"));
        let again = with_cards(Some(&png), &[("chara", "{\"v\":2}")]).unwrap();
        assert_eq!(card_json(&again).unwrap(), (b"{\"v\":2}".to_vec(), "chara"));
        assert_eq!(image_without_card(&again).unwrap(), BLANK);
    }
}
