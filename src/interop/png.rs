//! The `chara` text chunk of a PNG character card: base64 of the card's JSON.

use base64::Engine;

use super::InteropError;

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

pub(super) fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(SIGNATURE)
}

/// The decoded card JSON of the first `chara` (V2) `tEXt` chunk.
pub(super) fn card_json(bytes: &[u8]) -> Result<Vec<u8>, InteropError> {
    let mut rest = &bytes[SIGNATURE.len()..];
    let mut saw_v3 = false;
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        let Some(data) = rest.get(8..8 + len) else {
            return Err(InteropError::Png(
                "truncated PNG: a chunk runs past the end of the file".into(),
            ));
        };
        if kind == b"tEXt"
            && let Some(nul) = data.iter().position(|&b| b == 0)
        {
            match &data[..nul] {
                b"chara" => return decode(&data[nul + 1..]),
                b"ccv3" => saw_v3 = true,
                _ => {}
            }
        }
        if kind == b"IEND" {
            break;
        }
        rest = rest.get(12 + len..).unwrap_or_default();
    }
    Err(InteropError::Png(if saw_v3 {
        "the PNG holds only a V3 card (`ccv3`); personactl imports V2 cards".into()
    } else {
        "the PNG holds no character card (no `chara` text chunk)".into()
    }))
}

fn decode(text: &[u8]) -> Result<Vec<u8>, InteropError> {
    let cleaned: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .map_err(|e| InteropError::Png(format!("the `chara` chunk is not valid base64: {e}")))
}
