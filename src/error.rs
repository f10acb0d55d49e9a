//! The library's error type.

use std::io;
use std::path::PathBuf;

/// What can go wrong in the library, apart from problems *in* persona files (those are
/// [`Diagnostic`](crate::Diagnostic)s, reported rather than raised).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path that was asked for does not exist.
    #[error("{}: no such file or directory", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// Reading or writing a path failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Watching a directory for changes failed (the message says what to raise when an
    /// operating system limit was reached).
    #[error("{}: cannot watch for changes: {message}", path.display())]
    Watch {
        /// The directory being watched.
        path: PathBuf,
        /// What went wrong, and what to do about it.
        message: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`, or [`Error::NotFound`] when the error says so.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }
}
