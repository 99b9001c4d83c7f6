//! The interactions endpoint `POST /webhooks/discord`: the Ed25519 signature over timestamp + raw body is checked
//! before anything is parsed, stale timestamps are refused, PING is answered with PONG, and slash commands and
//! button clicks take the same inbox path as over the gateway (the HTTP answer is their acknowledgement).

use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serenity::interactions_endpoint::Verifier;

use super::Discord;
use super::intake::Taken;
use super::payload;
use crate::state::SharedState;

/// Requests signed longer ago (or further ahead) than this are refused, so a captured request cannot be replayed
/// later.
const MAX_SKEW_SECS: i64 = 5 * 60;

/// Checks Discord's request signatures with the application's public key.
#[derive(Clone)]
pub struct Signatures(Verifier);

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signatures(..)")
    }
}

impl Signatures {
    /// From the public key as the Developer Portal shows it (64 hex digits).
    pub fn new(hex_key: &str) -> anyhow::Result<Signatures> {
        let bytes: [u8; 32] = hex::decode(hex_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("discord.public_key is not 64 hex digits")?;
        Verifier::try_new(bytes)
            .map(Signatures)
            .map_err(|_| anyhow::anyhow!("discord.public_key is not an Ed25519 public key"))
    }

    /// Whether `signature` (hex) signs `timestamp` followed by `body`.
    pub fn verify(&self, signature: &str, timestamp: &str, body: &[u8]) -> bool {
        self.0.verify(signature, timestamp, body).is_ok()
    }
}

/// The route Discord POSTs interactions to (served when `discord.public_key` is set).
pub fn router(state: SharedState, dc: Arc<Discord>) -> Router {
    Router::new()
        .route("/webhooks/discord", post(interactions))
        .with_state((state, dc))
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(serde_json::json!({"error": why}))).into_response()
}

async fn interactions(
    AxState((state, dc)): AxState<(SharedState, Arc<Discord>)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(signatures) = &dc.signatures else {
        return refuse(
            StatusCode::NOT_FOUND,
            "discord.public_key is not configured",
        );
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let timestamp = header("x-signature-timestamp");
    if !signatures.verify(header("x-signature-ed25519"), timestamp, &body) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid request signature");
    }
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (state.clock.now().timestamp() - t).abs() <= MAX_SKEW_SECS);
    if !fresh {
        return refuse(StatusCode::UNAUTHORIZED, "stale request timestamp");
    }
    #[derive(Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: u8,
    }
    match serde_json::from_slice::<Kind>(&body) {
        Ok(Kind { kind: 1 }) => return Json(serde_json::json!({"type": 1})).into_response(),
        Ok(_) => {}
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "not an interaction"),
    }
    let interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable Discord interaction");
            return refuse(StatusCode::BAD_REQUEST, "unreadable interaction");
        }
    };
    // The answer goes out only after the commit: an interaction Aura could not record fails visibly in Discord.
    match dc.take_interaction(&state, &interaction, None, false).await {
        Ok(Taken::Recorded(ack)) => Json(payload::ack(ack)).into_response(),
        Ok(Taken::Again | Taken::Unhandled) => Json(payload::unhandled()).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a Discord interaction");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot record the interaction",
            )
        }
    }
}
