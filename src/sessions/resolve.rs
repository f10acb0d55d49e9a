//! Resolution: which persona a session uses, and whether it fell back.

use crate::catalog::{Entry, Lookup};

use super::error::SessionError;
use super::state::Link;

/// The persona a session should use.
///
/// - linked, and the persona exists → that persona;
/// - linked to an id that some persona now lists among its `aliases` (it was renamed) → that
///   persona, not a fallback;
/// - not linked (a legacy session), or its persona no longer exists → the default persona,
///   with `fallback` set.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution<'p> {
    /// The session.
    pub session: String,
    /// Its link, when it has one.
    pub link: Option<Link>,
    /// The persona to use.
    pub entry: &'p Entry,
    /// Whether this is the default persona because the session has no live persona.
    pub fallback: bool,
    /// Whether the linked id was found among a persona's `aliases` (a renamed persona).
    pub via_alias: bool,
}

/// The JSON form of a [`Resolution`], as `personactl session show --format json` and
/// `GET /api/sessions/{session}/persona` print it: the §6 keys first
/// (`session`, `persona`, `resolved`, `fallback`), then `revision` (the persona's now),
/// `linked_revision`, `changed`, `via_alias` and `linked_at`.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ResolutionView<'a> {
    /// The session id.
    pub session: &'a str,
    /// The linked persona id as recorded; `None` (JSON `null`) for an unknown session.
    pub persona: Option<&'a str>,
    /// The persona to use.
    pub resolved: &'a str,
    /// Whether `resolved` is the default persona because the session has no live persona.
    pub fallback: bool,
    /// The revision of the resolved persona now.
    pub revision: &'a str,
    /// The revision recorded with the link.
    pub linked_revision: Option<&'a str>,
    /// Whether the persona changed since the link.
    pub changed: bool,
    /// Whether the link was found through a persona's `aliases`.
    pub via_alias: bool,
    /// When the link was made (RFC 3339).
    pub linked_at: Option<String>,
}

impl Resolution<'_> {
    /// The JSON view of this resolution.
    #[must_use]
    pub fn view(&self) -> ResolutionView<'_> {
        ResolutionView {
            session: &self.session,
            persona: self.persona(),
            resolved: &self.entry.id,
            fallback: self.fallback,
            revision: self.entry.revision(),
            linked_revision: self.linked_revision(),
            changed: self.changed(),
            via_alias: self.via_alias,
            linked_at: self.link.as_ref().map(|l| l.at.to_string()),
        }
    }

    /// The linked persona id, as recorded (`None` for an unknown session).
    #[must_use]
    pub fn persona(&self) -> Option<&str> {
        self.link.as_ref().map(|l| &*l.persona)
    }

    /// The revision recorded with the link, when there is one.
    #[must_use]
    pub fn linked_revision(&self) -> Option<&str> {
        self.link.as_ref().and_then(|l| l.revision.as_deref())
    }

    /// Whether the persona changed since the session was linked: not a fallback, and its
    /// revision differs from the one recorded (unknown when none was recorded: `false`).
    #[must_use]
    pub fn changed(&self) -> bool {
        !self.fallback
            && self
                .linked_revision()
                .is_some_and(|r| r != self.entry.revision())
    }
}

/// Resolves `session`, whose link (if any) is `link`, against `personas`, falling back to the
/// persona `default`.
///
/// # Errors
///
/// [`SessionError::DefaultMissing`] when the session falls back and `default` is not in
/// `personas`.
pub fn resolve<'p, L: Lookup + ?Sized>(
    session: &str,
    link: Option<Link>,
    personas: &'p L,
    default: &str,
) -> Result<Resolution<'p>, SessionError> {
    let found = link.as_ref().and_then(|l| {
        personas
            .get(&l.persona)
            .map(|e| (e, false))
            .or_else(|| personas.by_alias(&l.persona).map(|e| (e, true)))
    });
    let (entry, fallback, via_alias) = match found {
        Some((entry, via_alias)) => (entry, false, via_alias),
        None => {
            let entry = personas
                .get(default)
                .ok_or_else(|| SessionError::DefaultMissing {
                    id: default.to_owned(),
                })?;
            (entry, true, false)
        }
    };
    Ok(Resolution {
        session: session.to_owned(),
        link,
        entry,
        fallback,
        via_alias,
    })
}
