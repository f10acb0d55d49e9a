//! `/api/personas`: list, get, create, replace, patch, delete.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;
use crate::catalog::Entry;
use crate::persona::is_valid_id;

/// A persona as the API shows it: `id`, `revision`, then the persona's fields.
pub(super) fn persona_json(entry: &Entry) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), Value::String(entry.id.clone()));
    map.insert(
        "revision".into(),
        Value::String(entry.revision().to_owned()),
    );
    if let Ok(Value::Object(fields)) = serde_json::to_value(&*entry.persona) {
        for (k, v) in fields {
            map.entry(k).or_insert(v);
        }
    }
    Value::Object(map)
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let all = query.get("all").is_some_and(|v| v == "true" || v == "1");
    let snapshot = state.registry.snapshot();
    let mut entries: Vec<&Entry> = snapshot
        .iter()
        .filter(|e| all || e.persona.is_listed())
        .collect();
    entries.sort_by_key(|e| (e.persona.order.unwrap_or(i32::MAX), e.id.clone()));
    Json(entries.into_iter().map(persona_json).collect::<Vec<_>>()).into_response()
}

pub(super) async fn get_one(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let snapshot = state.registry.snapshot();
    let entry = snapshot
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no persona `{id}`")))?;
    let mut body = persona_json(entry);
    if let Value::Object(map) = &mut body {
        // Counted on request: loads and other lookups never pay for it.
        let tokens = crate::tokens::count_tokens(&entry.persona);
        map.insert("tokens".into(), serde_json::json!(tokens));
    }
    Ok(Json(body).into_response())
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut fields = body_object(body)?;
    let id = match fields.remove("id") {
        Some(Value::String(id)) if is_valid_id(&id) => id,
        Some(Value::String(id)) => {
            return Err(ApiError::invalid(
                format!(
                    "`{id}` is not a valid persona id: use lowercase kebab-case, at most 64 characters"
                ),
                Vec::new(),
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "the body needs an `id` (lowercase kebab-case)",
                Vec::new(),
            ));
        }
    };
    let (state2, id2) = (state.clone(), id.clone());
    blocking(move || state2.store.create_value(&id2, &Value::Object(fields))).await??;
    let entry = applied(&state, &id).await?;
    let location = format!("/api/personas/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(persona_json(&entry)),
    )
        .into_response())
}

pub(super) async fn replace(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    change(state, id, body, |store, id, fields, revision| {
        store.replace_value_if(id, fields, revision)
    })
    .await
}

pub(super) async fn patch(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    change(state, id, body, |store, id, fields, revision| {
        store.patch_value_if(id, fields, revision)
    })
    .await
}

/// PUT and PATCH: check the body's `id` and `revision` (a precondition), write, apply.
async fn change(
    state: Arc<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    write: fn(
        &crate::store::Store,
        &str,
        &Value,
        Option<&str>,
    ) -> Result<std::path::PathBuf, crate::store::StoreError>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let mut fields = body_object(body)?;
    check_body_id(&mut fields, &id)?;
    // Output only: a persona as GET gave it (with its counts) can be sent back.
    fields.remove("tokens");
    // The precondition is checked by the store under its lock, with the write: of several
    // writers holding one revision, exactly one wins.
    let revision = match fields.remove("revision") {
        Some(Value::String(expected)) => Some(expected),
        None => None,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("`revision` must be a string, found {other}"),
                Vec::new(),
            ));
        }
    };
    let (state2, id2) = (state.clone(), id.clone());
    blocking(move || {
        write(
            &state2.store,
            &id2,
            &Value::Object(fields),
            revision.as_deref(),
        )
    })
    .await??;
    let entry = applied(&state, &id).await?;
    Ok(Json(persona_json(&entry)).into_response())
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let state2 = state.clone();
    let id2 = id.clone();
    blocking(move || {
        let path = state2.store.delete(&id2)?;
        state2
            .registry
            .reload_paths(&[path])
            .map_err(crate::store::StoreError::Io)?;
        Ok::<_, crate::store::StoreError>(())
    })
    .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Applies the written file to the registry now (not on the watcher's schedule), so the
/// response and the next read show the write; returns the live entry.
async fn applied(state: &Arc<AppState>, id: &str) -> Result<Arc<Entry>, ApiError> {
    let (state2, id2) = (state.clone(), id.to_owned());
    blocking(move || {
        if let Some(path) = state2.store.path_of(&id2)? {
            state2
                .registry
                .reload_paths(&[path])
                .map_err(crate::store::StoreError::Io)?;
        }
        Ok::<_, crate::store::StoreError>(())
    })
    .await??;
    state
        .registry
        .snapshot()
        .get_arc(id)
        // Only a concurrent delete (or rename) between the write and this read can get here.
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("persona `{id}` was changed by a concurrent request; read it again"),
            )
        })
}

/// Runs blocking file work (fsync, directory walks) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// A persona id from the path: anything that is not a valid id (`..`, slashes, NUL) names
/// no persona.
fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if is_valid_id(&id) {
        Ok(id)
    } else {
        Err(ApiError::not_found(format!("no persona `{id}`")))
    }
}

/// The request body as a JSON object: 400 for malformed JSON, 413 over 1 MiB, 422 for a
/// non-object.
pub(super) fn body_object(
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, ApiError> {
    let bytes = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid(
            "the body must be a JSON object",
            Vec::new(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON: {e}"),
        )),
    }
}

fn check_body_id(fields: &mut Map<String, Value>, id: &str) -> Result<(), ApiError> {
    match fields.remove("id") {
        None => Ok(()),
        Some(Value::String(given)) if given == id => Ok(()),
        Some(other) => Err(ApiError::invalid(
            format!("the body's `id` ({other}) differs from the path's `{id}`"),
            Vec::new(),
        )),
    }
}
