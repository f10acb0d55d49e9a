//! [`Event`]: what a subscriber of the [`Registry`](crate::Registry) hears after each reload,
//! and [`Status`]: how the last reload went, for a server to expose.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::diagnostic::Diagnostic;

/// One change applied by a reload. Every event names the generation of the snapshot that holds
/// the change; the events of one reload share it, and a [`Event::Reloaded`] closes them.
///
/// The JSON form (`personactl watch --format json`) is one object per event, tagged by
/// `event`: `{"event":"updated","id":"coach","path":"personas/coach.toml","generation":7}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Event {
    /// A persona id that was not live before is live now.
    Added {
        /// The persona id.
        id: String,
        /// The file it was loaded from.
        #[serde(serialize_with = "lossy")]
        path: PathBuf,
        /// The generation of the snapshot that holds it.
        generation: u64,
    },
    /// A live persona was replaced by a newly loaded version (an edit, a fix of an invalid
    /// edit, or another file taking over its id).
    Updated {
        /// The persona id.
        id: String,
        /// The file the new version was loaded from.
        #[serde(serialize_with = "lossy")]
        path: PathBuf,
        /// The generation of the snapshot that holds it.
        generation: u64,
    },
    /// A persona is no longer live: its file was deleted (or renamed to another id).
    Removed {
        /// The persona id.
        id: String,
        /// The file it had been loaded from.
        #[serde(serialize_with = "lossy")]
        path: PathBuf,
        /// The first generation without it.
        generation: u64,
    },
    /// A changed file has errors. Its last good version, if it ever had one, stays live.
    Invalid {
        /// The id the file name gives (`null` when the name is not a valid id).
        id: Option<String>,
        /// The file.
        #[serde(serialize_with = "lossy")]
        path: PathBuf,
        /// The generation of the reload that found the errors.
        generation: u64,
        /// Every problem, in the §4 shape.
        diagnostics: Vec<Diagnostic>,
    },
    /// A reload was applied: sent once per reload, after its other events.
    Reloaded {
        /// The personas directory.
        #[serde(serialize_with = "lossy")]
        path: PathBuf,
        /// The new generation.
        generation: u64,
        /// How many personas the new snapshot holds.
        personas: usize,
        /// How many errors the directory holds now (0 when every file is valid).
        errors: usize,
    },
}

impl Event {
    /// The event's name: `added`, `updated`, `removed`, `invalid` or `reloaded`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Event::Added { .. } => "added",
            Event::Updated { .. } => "updated",
            Event::Removed { .. } => "removed",
            Event::Invalid { .. } => "invalid",
            Event::Reloaded { .. } => "reloaded",
        }
    }

    /// The persona id the event is about (none for `reloaded`, or for an invalid file whose
    /// name is not a valid id).
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        match self {
            Event::Added { id, .. } | Event::Updated { id, .. } | Event::Removed { id, .. } => {
                Some(id)
            }
            Event::Invalid { id, .. } => id.as_deref(),
            Event::Reloaded { .. } => None,
        }
    }

    /// The file the event is about (the personas directory for `reloaded`).
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Event::Added { path, .. }
            | Event::Updated { path, .. }
            | Event::Removed { path, .. }
            | Event::Invalid { path, .. }
            | Event::Reloaded { path, .. } => path,
        }
    }

    /// The generation of the snapshot the event belongs to.
    #[must_use]
    pub fn generation(&self) -> u64 {
        match self {
            Event::Added { generation, .. }
            | Event::Updated { generation, .. }
            | Event::Removed { generation, .. }
            | Event::Invalid { generation, .. }
            | Event::Reloaded { generation, .. } => *generation,
        }
    }
}

pub(crate) fn lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// How the registry's last reload went: what a server exposes on a health or metrics endpoint
/// (like Prometheus's `config_last_reload_successful`).
#[derive(Debug, Clone)]
pub struct Status {
    /// The generation of the current snapshot.
    pub generation: u64,
    /// When the last reload was attempted (the initial load counts).
    pub last_reload: SystemTime,
    /// Whether the last reload left the directory fully applied: every persona file valid and
    /// the directory readable. `false` means some live personas are last good versions, or
    /// some files are left out; `errors` and `watch_error` say why.
    pub success: bool,
    /// Every error in the directory now (invalid files, duplicate ids), sorted by path.
    pub errors: Arc<Vec<Diagnostic>>,
    /// A problem of the directory or the watcher itself (directory missing, watch limit
    /// reached, lost events), if the last reload had one.
    pub watch_error: Option<String>,
    /// How many live personas the current snapshot holds.
    pub personas: usize,
    /// How many persona files the directory holds (valid or not).
    pub files: usize,
}
