//! Shared helpers of the integration tests. Each test binary includes this folder with
//! `mod util;` (or `#[path = "../util/mod.rs"] mod util;` from a subfolder) and uses what it
//! needs:
//!
//! - [`cmd`]: run the real `personactl` (or another binary) with a clean environment and
//!   assert on its exit code, stdout and stderr:
//!   `Cmd::new().personas(&dir).args(["validate", "--format", "json"]).run().code(1).stdout_json()`.
//! - [`tree`]: temporary directories filled fluently (`TempTree::new().file(..).defaults(..)`),
//!   a minimal valid persona text, and the files under `tests/fixtures/`.
//! - [`events`]: waiting for registry events (`next_reload`, `until`) and for states no event
//!   announces (`eventually`), with one timeout.
//! - [`server`]: a running `personactl serve` on 127.0.0.1 and an HTTP client for it.
//!
//! A failing assertion prints the command line, its exit code, stdout and stderr.

#![allow(dead_code, unused_imports)]

pub mod cmd;
pub mod events;
pub mod server;
pub mod tree;

pub use cmd::{Cmd, Invocation, Output, Run, personactl};
pub use events::{
    TIMEOUT, changes, eventually, names, next_reload, replace, terminate, until, wait,
};
pub use server::Server;
pub use tree::{TempTree, fixture, fixture_text, persona};
