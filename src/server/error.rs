//! API errors as JSON: `{"error": "…"}`, plus `diagnostics` (§4 shape) for invalid personas.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::diagnostic::Diagnostic;
use crate::store::StoreError;

/// An error response.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
    diagnostics: Option<Vec<Diagnostic>>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            diagnostics: None,
        }
    }

    pub(super) fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    pub(super) fn invalid(message: impl Into<String>, diagnostics: Vec<Diagnostic>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            diagnostics: Some(diagnostics),
        }
    }

    pub(super) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidId { .. } | StoreError::NotFound { .. } => {
                ApiError::not_found(e.to_string())
            }
            StoreError::Conflict { .. }
            | StoreError::HasChildren { .. }
            | StoreError::Changed { .. }
            | StoreError::LinkOutside { .. }
            | StoreError::IsDefault { .. }
            | StoreError::RevisionMismatch { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            StoreError::Invalid { diagnostics } => {
                ApiError::invalid("the persona is not valid", diagnostics)
            }
            StoreError::UnknownKey { .. } => ApiError::invalid(e.to_string(), Vec::new()),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.diagnostics {
            Some(d) => json!({"error": self.message, "diagnostics": d}),
            None => json!({"error": self.message}),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/openapi.json")
}
