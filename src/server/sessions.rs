//! `/api/sessions/{session}/persona`: resolve, link, unlink.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::personas::{blocking, body_object};
use crate::sessions::{SessionError, SessionStore, check_session_id};

fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::InvalidSession { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        }
        SessionError::DefaultMissing { .. } | SessionError::Database { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        other => ApiError::internal(other),
    }
}

fn session_id(session: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(session) =
        session.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    check_session_id(&session).map_err(session_error)?;
    Ok(session)
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Result<Path<String>, PathRejection>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let session = session_id(session)?;
    let pinned = match query.get("pinned").map(String::as_str) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`pinned` must be true or false, not {other:?}"),
            ));
        }
    };
    let state2 = state.clone();
    blocking(move || {
        let snapshot = state2.registry.snapshot();
        let mut index = lock(&state2);
        if pinned {
            let p = index
                .pinned(&session, &*snapshot, &state2.default_persona)
                .map_err(session_error)?;
            return Ok(Json(serde_json::to_value(p.view()).unwrap_or(Value::Null)).into_response());
        }
        resolution_json(&mut **index, &snapshot, &session, &state2.default_persona)
    })
    .await?
}

pub(super) async fn link(
    State(state): State<Arc<AppState>>,
    session: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let session = session_id(session)?;
    let fields = body_object(body)?;
    let Some(Value::String(persona)) = fields.get("persona") else {
        return Err(ApiError::invalid(
            "the body must be {\"persona\": \"<id>\"}",
            Vec::new(),
        ));
    };
    let persona = persona.clone();
    let state2 = state.clone();
    blocking(move || {
        let snapshot = state2.registry.snapshot();
        let entry = snapshot
            .get(&persona)
            .or_else(|| snapshot.by_alias(&persona))
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("no persona `{persona}`; nothing was linked"),
                    Vec::new(),
                )
            })?;
        let mut index = lock(&state2);
        index.link(&session, entry).map_err(session_error)?;
        resolution_json(&mut **index, &snapshot, &session, &state2.default_persona)
    })
    .await?
}

pub(super) async fn unlink(
    State(state): State<Arc<AppState>>,
    session: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let session = session_id(session)?;
    let state2 = state.clone();
    blocking(move || {
        let mut index = lock(&state2);
        if index.unlink(&session).map_err(session_error)? {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(ApiError::not_found(format!(
                "session `{session}` is not linked"
            )))
        }
    })
    .await?
}

/// The sessions store, locked. A poisoned lock means a panic elsewhere mid-update; every store
/// re-reads its storage on every access, so carrying on with it is safe.
fn lock(state: &AppState) -> std::sync::MutexGuard<'_, Box<dyn SessionStore>> {
    state
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The resolution of `session` as the API shows it (as `session show --format json`).
fn resolution_json(
    store: &mut dyn SessionStore,
    snapshot: &crate::snapshot::Snapshot,
    session: &str,
    default: &str,
) -> Result<Response, ApiError> {
    let resolution = store
        .resolve(session, snapshot, default)
        .map_err(session_error)?;
    Ok(Json(serde_json::to_value(resolution.view()).unwrap_or(Value::Null)).into_response())
}
