//! The HTTP/JSON API (`personactl serve`): the same operations as the CLI, over the
//! hot-reloading [`Registry`], the [`Store`] and the sessions index.
//!
//! Reads go through registry snapshots, so an edit made in git shows up without a restart and a
//! broken file keeps serving its last good version. Writes go through the store (validated,
//! atomic, comment-preserving) and are applied to the registry before the response, so a client
//! reads its own writes.

mod auth;
mod conn;
mod error;
mod openapi;
mod personas;
mod sessions;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::load::MAX_FILE_BYTES;
use crate::registry::Registry;
use crate::sessions::SessionStore;
use crate::store::Store;

pub use conn::ServeOptions;
pub use openapi::openapi_document;

/// What the server serves.
pub struct AppState {
    registry: Arc<Registry>,
    store: Store,
    sessions: Mutex<Box<dyn SessionStore>>,
    default_persona: String,
    token: Option<auth::Token>,
}

impl AppState {
    /// The state of a server over `registry` (whose directory the store writes to), the
    /// sessions store `sessions` (a file index or PostgreSQL, see
    /// [`SessionBackend::open_long_lived`](crate::SessionBackend::open_long_lived)), falling
    /// back to `default_persona`; with `token`, every write needs `Authorization: Bearer <token>`.
    #[must_use]
    pub fn new(
        registry: Arc<Registry>,
        sessions: Box<dyn SessionStore>,
        default_persona: String,
        token: Option<String>,
    ) -> Self {
        // Writes are checked against the registry's live state: their cost follows what they
        // touch, not the size of the directory.
        let store = Store::new(registry.dir())
            .with_default_persona(Some(default_persona.clone()))
            .with_registry(Registry::clone(&registry));
        AppState {
            registry,
            store,
            sessions: Mutex::new(sessions),
            default_persona,
            token: token.map(|t| auth::Token::new(&t)),
        }
    }
}

/// The router: every endpoint of the HTTP API, the body limit, auth for writes, one log line
/// per request.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/schema", get(schema))
        .route("/api/openapi.json", get(openapi))
        .route("/api/personas", get(personas::list).post(personas::create))
        .route(
            "/api/personas/{id}",
            get(personas::get_one)
                .put(personas::replace)
                .patch(personas::patch)
                .delete(personas::delete),
        )
        .route(
            "/api/sessions/{session}/persona",
            get(sessions::show)
                .put(sessions::link)
                .delete(sessions::unlink),
        )
        .fallback(error::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token_for_writes,
        ))
        .layer(DefaultBodyLimit::max(
            usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX),
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes (SIGINT/SIGTERM in the CLI),
/// letting requests in flight finish.
///
/// # Errors
///
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

/// [`serve`] with the connection limits and timeouts of `options`.
///
/// # Errors
///
/// When the listener fails.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve_router(listener, router(state), options, shutdown).await
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// `GET /healthz`: the server is up, and how the registry's last reload went.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the last reload left errors (last good versions are served).
    pub status: HealthStatus,
    /// The registry's generation.
    pub generation: u64,
    /// Live personas.
    pub personas: usize,
    /// Persona files in the directory, valid or not.
    pub files: usize,
    /// Whether the last reload applied every file (like Prometheus's
    /// `config_last_reload_successful`).
    pub reload_successful: bool,
    /// When the last reload ran (RFC 3339).
    pub last_reload: String,
    /// Every current error in the personas directory.
    pub errors: Vec<crate::diagnostic::Diagnostic>,
    /// A problem of the directory or the watcher itself.
    pub watch_error: Option<String>,
}

/// The value of [`Health::status`].
#[derive(Debug, Clone, Copy, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Every file applied.
    Ok,
    /// Some files are invalid or the directory is unreadable; last good versions are served.
    Degraded,
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let status = state.registry.status();
    let secs = status
        .last_reload
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = Health {
        status: if status.success {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        },
        generation: status.generation,
        personas: status.personas,
        files: status.files,
        reload_successful: status.success,
        last_reload: crate::sessions::Timestamp::from_unix(i64::try_from(secs).unwrap_or(0))
            .to_string(),
        errors: status.errors.to_vec(),
        watch_error: status.watch_error,
    };
    axum::Json(body).into_response()
}

async fn schema() -> axum::Json<Value> {
    axum::Json(crate::schema::persona_schema())
}

async fn openapi() -> axum::Json<Value> {
    axum::Json(openapi_document())
}
