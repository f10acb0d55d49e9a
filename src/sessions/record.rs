//! One line of the sessions index: the header, a `link` or an `unlink` record.
//!
//! Lines written by personactl have one canonical shape and are parsed by a fast path; any
//! other valid JSON form (keys reordered, escapes, extra keys) goes through `serde_json`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::error::check_session_id;
use super::time::Timestamp;

/// How a link carries its revision's content in its own line (see
/// [`Record::encode_with_content`]).
pub(crate) const CONTENT_KEY: &[u8] = br#","content":"#;

/// The revision and content a link line carries in its own line ([`CONTENT_KEY`]), when it
/// is a valid link record that does; the content is not checked against the revision here.
pub(crate) fn inline_content(line: &[u8]) -> Option<(String, crate::persona::Persona)> {
    let revision = inline_revision(line)?;
    #[derive(Deserialize)]
    struct WithContent {
        content: crate::persona::Persona,
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let with: WithContent = serde_json::from_slice(line).ok()?;
    Some((revision, with.content))
}

/// The revision of a link line that carries content ([`CONTENT_KEY`]), without reading the
/// content itself.
pub(crate) fn inline_revision(line: &[u8]) -> Option<String> {
    memchr::memmem::find(line, CONTENT_KEY)?;
    match Record::parse(line)? {
        Record::Link {
            revision: Some(revision),
            ..
        } => Some(revision.into_owned()),
        _ => None,
    }
}

/// The `format` value of the header line.
pub(crate) const FORMAT: &str = "personactl-sessions";
/// The format version this build reads and writes.
pub(crate) const VERSION: u64 = 1;
/// Every header starts with these bytes (personactl writes them in this order).
const HEADER_PREFIX: &[u8] = br#"{"format":"personactl-sessions","version":"#;

/// The header line, with a trailing newline. `sorted_bytes` is the length of the sorted,
/// compacted region that follows the header (0 or absent: no such region).
pub(crate) fn header_line(sorted_bytes: u64) -> Vec<u8> {
    if sorted_bytes == 0 {
        format!("{{\"format\":\"{FORMAT}\",\"version\":{VERSION}}}\n").into_bytes()
    } else {
        format!(
            "{{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"sorted_bytes\":{sorted_bytes}}}\n"
        )
        .into_bytes()
    }
}

/// What the first line of a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderLine {
    /// A header: its version and the length of the sorted region after it.
    Header { version: u64, sorted_bytes: u64 },
    /// The beginning of a header, cut short (a crash while creating the file).
    Torn,
    /// Something else: this is not a sessions index.
    Foreign,
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    version: u64,
    #[serde(default)]
    sorted_bytes: u64,
}

/// Classifies the first line of a file (without its newline; `terminated` tells whether one
/// followed).
pub(crate) fn parse_header(line: &[u8], terminated: bool) -> HeaderLine {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match serde_json::from_slice::<RawHeader>(line) {
        Ok(h) if h.format == FORMAT => HeaderLine::Header {
            version: h.version,
            sorted_bytes: h.sorted_bytes,
        },
        Ok(_) => HeaderLine::Foreign,
        Err(_)
            if !terminated
                && (HEADER_PREFIX.starts_with(line) || line.starts_with(HEADER_PREFIX)) =>
        {
            HeaderLine::Torn
        }
        Err(_) => HeaderLine::Foreign,
    }
}

/// A record: a session linked to a persona, or unlinked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// `{"op":"link","session":…,"persona":…,"revision":…,"at":…}`
    Link {
        session: Cow<'a, str>,
        persona: Cow<'a, str>,
        revision: Option<Cow<'a, str>>,
        at: Timestamp,
    },
    /// `{"op":"unlink","session":…,"at":…}`
    Unlink {
        session: Cow<'a, str>,
        at: Timestamp,
    },
}

#[derive(Serialize)]
struct Out<'a> {
    op: &'static str,
    session: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    persona: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
    at: String,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow)]
    session: Cow<'a, str>,
    #[serde(borrow, default)]
    persona: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    revision: Option<Cow<'a, str>>,
    #[serde(borrow)]
    at: Cow<'a, str>,
}

impl<'a> Record<'a> {
    /// The session the record is about.
    pub(crate) fn session(&self) -> &str {
        match self {
            Record::Link { session, .. } | Record::Unlink { session, .. } => session,
        }
    }

    /// The record as one line, newline included.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let out = match self {
            Record::Link {
                session,
                persona,
                revision,
                at,
            } => Out {
                op: "link",
                session,
                persona: Some(persona),
                revision: revision.as_deref(),
                at: at.to_string(),
            },
            Record::Unlink { session, at } => Out {
                op: "unlink",
                session,
                persona: None,
                revision: None,
                at: at.to_string(),
            },
        };
        // Serialising a struct of strings to a Vec cannot fail.
        let mut line = serde_json::to_vec(&out).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// [`encode`](Self::encode) with `content` (a persona's canonical JSON) as the link's
    /// last key, `"content"`: a link that brings a revision not stored yet carries it in its
    /// own line, so that one append and one flush make both durable. Readers that do not know
    /// the key ignore it (it is parsed as general JSON).
    pub(crate) fn encode_with_content(&self, content: &[u8]) -> Vec<u8> {
        let line = self.encode();
        let Some(head) = line.strip_suffix(b"}\n") else {
            return line; // not an object: cannot happen for a record, nothing to add to
        };
        let mut out = Vec::with_capacity(line.len() + CONTENT_KEY.len() + content.len());
        out.extend_from_slice(head);
        out.extend_from_slice(CONTENT_KEY);
        out.extend_from_slice(content);
        out.extend_from_slice(b"}\n");
        out
    }

    /// Parses one line (without its newline). `None` when it is not a valid record: torn,
    /// not JSON, an unknown `op`, a bad session id, an empty persona or a bad time.
    pub(crate) fn parse(line: &'a [u8]) -> Option<Self> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (op, session, persona, revision, at) = match fast_fields(line) {
            Some(f) => f,
            None => {
                let raw: Raw<'a> = serde_json::from_slice(line).ok()?;
                (raw.op, raw.session, raw.persona, raw.revision, raw.at)
            }
        };
        check_session_id(&session).ok()?;
        let at = Timestamp::parse(&at)?;
        match &*op {
            "link" => {
                let persona = persona.filter(|p| !p.is_empty())?;
                let revision = revision.filter(|r| !r.is_empty());
                Some(Record::Link {
                    session,
                    persona,
                    revision,
                    at,
                })
            }
            "unlink" => Some(Record::Unlink { session, at }),
            _ => None,
        }
    }
}

type Fields<'a> = (
    Cow<'a, str>,
    Cow<'a, str>,
    Option<Cow<'a, str>>,
    Option<Cow<'a, str>>,
    Cow<'a, str>,
);

/// The fields of a line in the exact shape personactl writes, without escapes or control
/// characters; `None` for anything else (which the caller then parses as general JSON, which
/// refuses what this refuses: raw control characters, invalid UTF-8).
fn fast_fields(line: &[u8]) -> Option<Fields<'_>> {
    // One pass over the line rather than one per field (`fold`, not `any`: no early exit, so
    // it vectorises), then one UTF-8 check for the whole line.
    if line
        .iter()
        .fold(false, |bad, &b| bad | (b < 0x20) | (b == b'\\'))
    {
        return None;
    }
    let line = std::str::from_utf8(line).ok()?;
    let mut c = Cursor(line);
    if c.eat(r#"{"op":"link","session":""#) {
        let session = c.string()?;
        c.expect(r#","persona":""#)?;
        let persona = c.string()?;
        c.expect(r#","revision":""#)?;
        let revision = c.string()?;
        c.expect(r#","at":""#)?;
        let at = c.string()?;
        c.expect("}")?;
        c.0.is_empty().then_some((
            Cow::Borrowed("link"),
            session,
            Some(persona),
            Some(revision),
            at,
        ))
    } else if c.eat(r#"{"op":"unlink","session":""#) {
        let session = c.string()?;
        c.expect(r#","at":""#)?;
        let at = c.string()?;
        c.expect("}")?;
        c.0.is_empty()
            .then_some((Cow::Borrowed("unlink"), session, None, None, at))
    } else {
        None
    }
}

/// A position in a line already checked to be UTF-8 without backslashes or control bytes.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    fn eat(&mut self, lit: &str) -> bool {
        match self.0.strip_prefix(lit) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, lit: &str) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// The string up to the closing quote (the opening one is already eaten). Without
    /// backslashes, the next quote closes it.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let end = memchr::memchr(b'"', self.0.as_bytes())?;
        // A quote is one byte of ASCII: both slices end on character boundaries.
        let (s, rest) = (self.0.get(..end)?, self.0.get(end + 1..)?);
        self.0 = rest;
        Some(Cow::Borrowed(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        Timestamp::parse("2026-11-25T16:00:00Z").unwrap()
    }

    fn link(session: &str) -> Record<'_> {
        Record::Link {
            session: session.into(),
            persona: "coach".into(),
            revision: Some("0123456789abcdef".into()),
            at: at(),
        }
    }

    #[test]
    fn encodes_the_documented_shape() {
        assert_eq!(
            String::from_utf8(link("s1").encode()).unwrap(),
            "{\"op\":\"link\",\"session\":\"s1\",\"persona\":\"coach\",\"revision\":\"0123456789abcdef\",\"at\":\"2026-11-25T16:00:00Z\"}\n"
        );
        let unlink = Record::Unlink {
            session: "s1".into(),
            at: at(),
        };
        assert_eq!(
            String::from_utf8(unlink.encode()).unwrap(),
            "{\"op\":\"unlink\",\"session\":\"s1\",\"at\":\"2026-11-25T16:00:00Z\"}\n"
        );
    }

    #[test]
    fn round_trips_awkward_session_ids() {
        for s in ["s1", "with \"quotes\" and \\", "émoji 🎭", "a/b:c"] {
            let rec = link(s);
            let line = rec.encode();
            assert_eq!(Record::parse(&line[..line.len() - 1]), Some(rec), "{s}");
        }
    }

    #[test]
    fn fast_path_agrees_with_general_json() {
        let line = link("s1").encode();
        let line = &line[..line.len() - 1];
        assert!(fast_fields(line).is_some());
        let reordered = br#"{"at":"2026-11-25T16:00:00Z","session":"s1","revision":"0123456789abcdef","persona":"coach","op":"link","extra":1}"#;
        assert!(fast_fields(reordered).is_none());
        assert_eq!(Record::parse(line), Record::parse(reordered));
        let escaped = br#"{"op":"link","session":"\u0073\u0031","persona":"coach","revision":"0123456789abcdef","at":"2026-11-25T16:00:00Z"}"#;
        assert_eq!(Record::parse(escaped), Record::parse(line));
    }

    #[test]
    fn a_link_carrying_content_reads_as_the_same_link_and_gives_its_content() {
        let p = crate::persona::Persona::new("N", "D", "I", "S");
        let body = serde_json::to_vec(&p).unwrap();
        let rec = link("s1");
        let line = rec.encode_with_content(&body);
        let line = &line[..line.len() - 1];
        assert_eq!(Record::parse(line), Some(rec.clone()));
        assert_eq!(
            inline_content(line),
            Some(("0123456789abcdef".to_owned(), p))
        );
        let plain = rec.encode();
        assert_eq!(inline_content(&plain[..plain.len() - 1]), None);
        for end in 0..line.len() {
            assert_eq!(Record::parse(&line[..end]), None, "{end}");
            assert_eq!(inline_content(&line[..end]), None, "{end}");
        }
    }

    #[test]
    fn a_link_without_revision_is_read() {
        let line = br#"{"op":"link","session":"s1","persona":"coach","at":"2026-11-25T16:00:00Z"}"#;
        assert!(matches!(
            Record::parse(line),
            Some(Record::Link { revision: None, .. })
        ));
    }

    #[test]
    fn every_prefix_of_a_record_is_refused() {
        let line = link("s1").encode();
        for end in 0..line.len() - 1 {
            assert_eq!(Record::parse(&line[..end]), None, "{end}");
        }
    }

    #[test]
    fn refuses_bad_records() {
        for bad in [
            &br#"{"op":"link","session":"","persona":"coach","at":"2026-11-25T16:00:00Z"}"#[..],
            br#"{"op":"link","session":"s","persona":"","at":"2026-11-25T16:00:00Z"}"#,
            br#"{"op":"link","session":"s","at":"2026-11-25T16:00:00Z"}"#,
            br#"{"op":"link","session":"s","persona":"p","at":"yesterday"}"#,
            br#"{"op":"rename","session":"s","at":"2026-11-25T16:00:00Z"}"#,
            br#"{"op":"link","session":"a\nb","persona":"p","at":"2026-11-25T16:00:00Z"}"#,
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(Record::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn classifies_header_lines() {
        let h = header_line(0);
        let h = &h[..h.len() - 1];
        assert_eq!(
            parse_header(h, true),
            HeaderLine::Header {
                version: 1,
                sorted_bytes: 0
            }
        );
        let h2 = header_line(1234);
        assert_eq!(
            parse_header(&h2[..h2.len() - 1], true),
            HeaderLine::Header {
                version: 1,
                sorted_bytes: 1234
            }
        );
        for end in 0..h2.len() - 2 {
            assert_eq!(parse_header(&h2[..end], false), HeaderLine::Torn, "{end}");
        }
        assert_eq!(parse_header(b"name = \"x\"", true), HeaderLine::Foreign);
        assert_eq!(
            parse_header(br#"{"format":"other","version":1}"#, true),
            HeaderLine::Foreign
        );
        assert_eq!(parse_header(b"{\"format\"", true), HeaderLine::Foreign);
    }
}
