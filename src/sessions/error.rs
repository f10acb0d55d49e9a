//! [`SessionError`]: what can go wrong with the sessions index.

use std::io;
use std::path::PathBuf;

/// An error of the sessions index. Problems *in* the file (torn or unreadable records) are not
/// errors: they are skipped on load and reported by [`check_sessions`](crate::check_sessions).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A session id outside the rules: 1–256 bytes, no control characters.
    #[error("invalid session id {session:?}: {reason}")]
    InvalidSession {
        /// The id as given.
        session: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The file exists but is not a sessions index (its first line is not the header).
    #[error("{}: not a personactl sessions index (the first line is not its header)", path.display())]
    NotAnIndex {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer personactl, in a format this one does not know.
    #[error("{}: sessions index format version {version} is newer than this personactl supports (1)", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in its header.
        version: u64,
    },
    /// A session fell back to the default persona, which does not exist either.
    #[error("the default persona `{id}` does not exist")]
    DefaultMissing {
        /// The default persona's id.
        id: String,
    },
    /// A database backend failed: it could not be reached in time, refused the login, or a
    /// query failed. `location` is the URL without its password.
    #[error("{location}: {message}")]
    Database {
        /// Where: the URL, its password hidden.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// A backend this build of personactl does not include (a cargo feature was turned off).
    #[error("{location}: this personactl was built without the `{feature}` feature")]
    Unsupported {
        /// Where: the URL, its password hidden.
        location: String,
        /// The cargo feature that provides the backend.
        feature: &'static str,
    },
    /// Stored revision content that does not hash to its revision (damaged or edited by
    /// hand): it is never served.
    #[error("{location}: the stored content of revision {revision} is not served: {reason}")]
    RevisionMismatch {
        /// Where: the revisions file, or the database URL without its password.
        location: String,
        /// The revision.
        revision: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two different personas share one revision (a collision of its 64-bit hash): the link
    /// is refused, so that neither session is ever served the other's persona.
    #[error(
        "{location}: a different persona is already stored as revision {revision} (a hash collision); nothing was linked"
    )]
    RevisionCollision {
        /// Where: the revisions file, or the database URL without its password.
        location: String,
        /// The revision.
        revision: String,
    },
    /// Reading, writing, locking or syncing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (or folder) involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl SessionError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| SessionError::Io { path, source }
    }
}

/// The largest session id, in bytes.
pub const SESSION_ID_MAX_BYTES: usize = 256;

/// Checks a session id: 1–256 bytes, no control characters.
///
/// # Errors
///
/// [`SessionError::InvalidSession`] saying which rule the id breaks.
pub fn check_session_id(session: &str) -> Result<(), SessionError> {
    let reason = if session.is_empty() {
        "it is empty"
    } else if session.len() > SESSION_ID_MAX_BYTES {
        "it is longer than 256 bytes"
    } else if has_control(session) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(SessionError::InvalidSession {
        session: session.to_owned(),
        reason,
    })
}

/// Whether `s` holds a control character (`char::is_control`: U+0000–U+001F, U+007F–U+009F),
/// by bytes for ASCII (every id personactl writes), by characters otherwise.
fn has_control(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        s.chars().any(char::is_control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_rules() {
        assert!(check_session_id("s1").is_ok());
        assert!(check_session_id("chat/2026 ✓ \"quoted\" \\").is_ok());
        assert!(check_session_id(&"x".repeat(256)).is_ok());
        assert!(check_session_id("").is_err());
        assert!(check_session_id(&"x".repeat(257)).is_err());
        assert!(check_session_id(&"é".repeat(129)).is_err());
        for bad in ["a\nb", "a\tb", "\u{7f}", "\u{85}", "a\0"] {
            assert!(check_session_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_ascii_control_check_agrees_with_char_is_control() {
        for c in (0..=0x10_ffffu32).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(has_control(&s), c.is_control(), "{c:?}");
        }
    }
}
