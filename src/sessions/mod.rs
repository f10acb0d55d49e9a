//! The sessions index: every chat session linked to the persona it was started with, in one
//! JSON Lines file that several processes append to safely.
//!
//! The file starts with a header line, `{"format":"personactl-sessions","version":1}`, then
//! holds one record per line:
//! `{"op":"link","session":"s1","persona":"coach","revision":"…","at":"2026-11-25T16:00:00Z"}`
//! or `{"op":"unlink","session":"s1","at":"…"}`; the last record of a session wins.
//!
//! - A link is one append under an advisory lock (`flock`), fsynced before it returns
//!   ([`Durability`]). A torn last line (a crash mid-write) is skipped on load, and the next
//!   append first ends it, so that a new record never joins it.
//! - Compaction rewrites the file atomically to one line per live session, sorted by session
//!   id; the header then says how long that sorted part is (`"sorted_bytes"`), so that
//!   [`SessionLog::get`] binary-searches it instead of reading everything.
//! - [`SessionIndex`] keeps every session in memory for a long-lived process and catches up
//!   with other processes' appends before it answers.
//!
//! [`SessionStore`] puts the file and PostgreSQL (`PgStore`, cargo feature `postgres`, on by
//! default) behind one interface; [`SessionBackend`] picks one from a `--sessions` value.

mod check;
mod error;
mod file;
mod index;
mod log;
mod lookup;
mod pin;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod resolve;
mod revisions;
mod state;
mod store;
mod time;
mod tmp;

pub use check::{check_links, check_sessions};
pub use error::{SESSION_ID_MAX_BYTES, SessionError, check_session_id};
pub use index::SessionIndex;
pub use log::{Compaction, Durability, SessionLog};
pub use pin::{Pinned, PinnedView, Policy, Stale, Unpinned, Upgrade, stale, upgrade};
#[cfg(feature = "postgres")]
pub use postgres::{DEFAULT_CONNECT_TIMEOUT, PgStore, REVISION_LEASE};
pub use resolve::{Resolution, ResolutionView, resolve};
pub use state::Link;
pub use store::{Copied, SessionBackend, SessionStore, copy_links, open_store};
pub use time::Timestamp;
