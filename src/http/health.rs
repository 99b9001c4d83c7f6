//! `/healthz` (the process is up), `/readyz` (its dependencies answer) and `/metrics`.

use axum::Json;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use crate::state::SharedState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(AxState(state): AxState<SharedState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ready", "checks": {"database": "ok"}})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "checks": {"database": e.to_string()}})),
        )
            .into_response(),
    }
}

pub async fn metrics(AxState(state): AxState<SharedState>) -> Result<Response, ApiError> {
    let text = state.metrics.render(&state.store).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
