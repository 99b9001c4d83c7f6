//! The HTTP server: health, metrics, the ticket API and its event stream.

mod api;
mod auth;
mod error;
mod health;
mod stream;

use axum::Router;
use axum::extract::{MatchedPath, Request, State as AxState};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::state::SharedState;

pub use error::ApiError;

/// Every route (plus `extra`, e.g. chat webhooks), with auth on `/api` and request metrics on all.
pub fn router(state: SharedState, extra: Router) -> Router {
    let api = Router::new()
        .route("/tickets", get(api::list_tickets).post(api::create_ticket))
        .route("/tickets/{id}", get(api::get_ticket))
        .route("/tickets/{id}/audit", get(api::ticket_audit))
        .route("/tickets/{id}/cancel", post(api::cancel_ticket))
        .route("/tickets/{id}/plan", post(api::propose_plan))
        .route("/stream", get(stream::stream))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api", api)
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .with_state(state.clone())
        .merge(extra)
        .layer(middleware::from_fn_with_state(state, count_requests))
}

/// Serves (with `extra` routes, e.g. chat webhooks) until shutdown, then finishes in-flight requests.
pub async fn serve(listener: TcpListener, state: SharedState, extra: Router) -> anyhow::Result<()> {
    let shutdown = state.shutdown.clone();
    axum::serve(listener, router(state, extra))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|e| anyhow::anyhow!("the HTTP server stopped: {e}"))
}

async fn count_requests(
    AxState(state): AxState<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    state
        .metrics
        .http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    response
}
