//! Bearer-token check for `/api`, in constant time.

use axum::extract::{Request, State as AxState};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::state::SharedState;

/// Lets the request through when no token is configured (loopback only, enforced at start) or it carries the token.
pub async fn require_token(
    AxState(state): AxState<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(expected) = &state.config.http.api_token else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}
