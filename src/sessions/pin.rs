//! Pin or follow: a session's pinned persona (the stored content of the revision it was
//! linked at) beside the current one, the [`Policy`] a chat tool chooses per call, explicit
//! upgrades, and the sessions whose persona changed since they were linked.

use std::fmt;
use std::sync::Arc;

use crate::catalog::{Entry, Lookup};
use crate::persona::Persona;

use super::error::SessionError;
use super::resolve::{Resolution, ResolutionView, resolve};
use super::state::Link;
use super::store::SessionStore;

/// Which persona a chat session uses when its persona changed since it was linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// The current persona (after an edit, the edited one; after a delete, the default
    /// persona): the behaviour of links without stored revisions.
    #[default]
    Follow,
    /// The persona exactly as it was when the session was linked (the stored revision), even
    /// after its file changed, was renamed or deleted, until the session is upgraded. Falls
    /// back to follow when no content is stored for the link (see [`Unpinned`]).
    Pin,
}

/// Why a session has no pinned persona: pinning it follows the current persona instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unpinned {
    /// The session is not linked (a legacy session).
    NotLinked,
    /// The link records no revision.
    NoRevision,
    /// No content is stored for the linked revision: the link was made before revisions were
    /// stored (or copied from a store that had none).
    NotStored {
        /// The linked revision.
        revision: String,
    },
    /// The stored content does not hash to its revision: it is not served.
    Damaged {
        /// The linked revision.
        revision: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for Unpinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unpinned::NotLinked => f.write_str("the session is not linked"),
            Unpinned::NoRevision => f.write_str("the link records no revision"),
            Unpinned::NotStored { revision } => write!(
                f,
                "no content is stored for revision {revision} (the link was made before revisions were stored); following the current persona"
            ),
            Unpinned::Damaged { revision, reason } => write!(
                f,
                "the stored content of revision {revision} is not served: {reason}; following the current persona"
            ),
        }
    }
}

/// A session's persona both ways: the current one ([`resolution`](Self::resolution), what
/// [`Policy::Follow`] uses) and the pinned one (the stored revision it was linked at).
#[derive(Debug, Clone)]
pub struct Pinned<'p> {
    /// The session resolved against the current personas.
    pub resolution: Resolution<'p>,
    /// The persona as it was when the session was linked, its content checked against its
    /// revision; `None` when there is none (see [`reason`](Self::reason)).
    pub pinned: Option<Arc<Persona>>,
    /// Why [`pinned`](Self::pinned) is `None`.
    pub reason: Option<Unpinned>,
}

impl Pinned<'_> {
    /// The persona to use under `policy`.
    #[must_use]
    pub fn persona(&self, policy: Policy) -> &Persona {
        match (policy, &self.pinned) {
            (Policy::Pin, Some(p)) => p,
            _ => &self.resolution.entry.persona,
        }
    }

    /// The revision of [`persona`](Self::persona) under `policy`.
    #[must_use]
    pub fn revision(&self, policy: Policy) -> &str {
        match (policy, &self.pinned, self.resolution.linked_revision()) {
            (Policy::Pin, Some(_), Some(r)) => r,
            _ => self.resolution.entry.revision(),
        }
    }

    /// Whether a pinned session could move to something else: its persona changed, was
    /// renamed or deleted since it was linked ([`upgrade`] relinks it).
    #[must_use]
    pub fn newer(&self) -> bool {
        self.pinned.is_some()
            && (self.resolution.fallback || self.resolution.via_alias || self.resolution.changed())
    }

    /// The JSON view: the resolution's keys, then `pinned`, `pinned_revision` and
    /// `pinned_reason`.
    #[must_use]
    pub fn view(&self) -> PinnedView<'_> {
        PinnedView {
            resolution: self.resolution.view(),
            pinned: self.pinned.as_deref(),
            pinned_revision: self.pinned.as_ref().and(self.resolution.linked_revision()),
            pinned_reason: self.reason.as_ref().map(ToString::to_string),
        }
    }
}

/// The JSON form of a [`Pinned`], as `personactl session show --pinned --format json` and
/// `GET /api/sessions/{session}/persona?pinned=true` print it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinnedView<'a> {
    /// The resolution, as without `--pinned`.
    #[serde(flatten)]
    pub resolution: ResolutionView<'a>,
    /// The pinned persona (`null` when there is none).
    pub pinned: Option<&'a Persona>,
    /// Its revision.
    pub pinned_revision: Option<&'a str>,
    /// Why `pinned` is `null`.
    pub pinned_reason: Option<String>,
}

/// What [`pinned`] does for [`SessionStore::pinned`].
pub(crate) fn pinned<'p, S: SessionStore + ?Sized>(
    store: &mut S,
    session: &str,
    personas: &'p dyn Lookup,
    default: &str,
) -> Result<Pinned<'p>, SessionError> {
    let link = store.get(session)?;
    let resolution = resolve(session, link, personas, default)?;
    let (pinned, reason) = match (&resolution.link, resolution.linked_revision()) {
        (None, _) => (None, Some(Unpinned::NotLinked)),
        (Some(_), None) => (None, Some(Unpinned::NoRevision)),
        (Some(_), Some(rev)) => match store.stored_revision(rev) {
            Ok(Some(p)) => (Some(p), None),
            Ok(None) => (
                None,
                Some(Unpinned::NotStored {
                    revision: rev.to_owned(),
                }),
            ),
            Err(SessionError::RevisionMismatch {
                revision, reason, ..
            }) => (
                None,
                Some(Unpinned::Damaged {
                    revision,
                    reason: reason.to_owned(),
                }),
            ),
            Err(e) => return Err(e),
        },
    };
    Ok(Pinned {
        resolution,
        pinned,
        reason,
    })
}

/// What [`upgrade`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upgrade {
    /// The session is not linked: nothing to upgrade.
    NotLinked,
    /// Its persona no longer exists (not even as an alias): nothing was written.
    PersonaGone {
        /// The linked persona id.
        persona: String,
    },
    /// It is linked at the current revision already: nothing was written.
    UpToDate,
    /// Relinked to the current revision (and id, after a rename).
    Relinked {
        /// The new link.
        link: Link,
        /// The link before.
        from: Link,
    },
}

/// Relinks `session` to the current revision of its persona (found by id, or by alias after
/// a rename), storing that revision: what a pinned session does to move on.
///
/// # Errors
///
/// The store's.
pub fn upgrade<S: SessionStore + ?Sized>(
    store: &mut S,
    session: &str,
    personas: &dyn Lookup,
) -> Result<Upgrade, SessionError> {
    let Some(from) = store.get(session)? else {
        return Ok(Upgrade::NotLinked);
    };
    let Some(entry) = current(&from, personas) else {
        return Ok(Upgrade::PersonaGone {
            persona: from.persona.to_string(),
        });
    };
    if *from.persona == *entry.id && from.revision.as_deref() == Some(entry.revision()) {
        return Ok(Upgrade::UpToDate);
    }
    let link = store.link(session, entry)?;
    Ok(Upgrade::Relinked { link, from })
}

/// The persona a link names now: by id, or by alias.
fn current<'p>(link: &Link, personas: &'p dyn Lookup) -> Option<&'p Entry> {
    personas
        .get(&link.persona)
        .or_else(|| personas.by_alias(&link.persona))
}

/// A session whose persona changed, was renamed or deleted since it was linked.
#[derive(Debug, Clone)]
pub struct Stale<'p> {
    /// The session.
    pub session: String,
    /// Its link.
    pub link: Link,
    /// The persona it names now (`None`: deleted).
    pub current: Option<&'p Entry>,
}

/// Every session whose persona changed (its revision differs), was renamed or deleted since
/// it was linked, sorted by session id. Links that record no revision are not listed (whether
/// they changed is unknown).
///
/// # Errors
///
/// The store's.
pub fn stale<'p, S: SessionStore + ?Sized>(
    store: &mut S,
    personas: &'p dyn Lookup,
) -> Result<Vec<Stale<'p>>, SessionError> {
    let mut out = Vec::new();
    for (session, link) in store.list(None)? {
        let Some(linked) = link.revision.as_deref() else {
            continue;
        };
        let current = current(&link, personas);
        let is_stale = current.is_none_or(|e| e.revision() != linked || *e.id != *link.persona);
        if is_stale {
            out.push(Stale {
                session,
                link,
                current,
            });
        }
    }
    Ok(out)
}
