//! Bearer tokens for writes: 401 without one, 403 with a wrong one; compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

/// A configured token, kept as its SHA-256 so comparisons take the same time whatever the
/// length or content of the candidate.
pub(super) struct Token([u8; 32]);

impl Token {
    pub(super) fn new(token: &str) -> Self {
        Token(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time: every byte is compared, and the digests have a fixed length.
    fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

pub(super) async fn require_token_for_writes(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if let (true, Some(token)) = (write, &state.token) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            None => {
                let mut response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this server needs `Authorization: Bearer <token>` for writes",
                )
                .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            Some(t) if !token.matches(t.trim()) => {
                return ApiError::new(StatusCode::FORBIDDEN, "the bearer token is not valid")
                    .into_response();
            }
            Some(_) => {}
        }
    }
    next.run(request).await
}
