//! Telegram intake: long polling with the offset confirmed only after the inbox commit, or the webhook.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, Update};

use super::{OFFSET_CURSOR, Telegram, to_inbound};
use crate::chat::backoff::{Backoff, pause as pause_or_stop};
use crate::domain::Platform;
use crate::state::SharedState;

/// Long-polls `getUpdates` until shutdown.
///
/// teloxide's stock polling confirms a batch as soon as it arrives; here the next offset is stored in the same
/// transaction as the batch's inbox rows and only sent to Telegram by the following `getUpdates`, so a crash before
/// the commit makes Telegram deliver the batch again.
pub async fn poll(state: SharedState, tg: Arc<Telegram>) -> anyhow::Result<()> {
    if let Err(e) = tg.bot.delete_webhook().await {
        tracing::warn!(error = %tg.redact(&e.to_string()), "cannot remove a webhook left from webhook mode");
    }
    let mut offset: i32 = state
        .store
        .cursor(OFFSET_CURSOR)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut backoff = Backoff::default();
    loop {
        let request = tg
            .bot
            .get_updates()
            .offset(offset)
            .timeout(tg.config.poll_timeout_secs)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        let result = tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            r = request.send() => r,
        };
        let pause = match result {
            Ok(updates) => match record(&state, &tg, &updates).await {
                Ok(Some(next)) => {
                    offset = next;
                    backoff.succeeded();
                    continue;
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot record Telegram updates; they will be fetched again");
                    backoff.failed()
                }
            },
            Err(RequestError::RetryAfter(s)) => Duration::from_secs(u64::from(s.seconds())),
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                anyhow::bail!("Telegram rejected the bot token (check telegram.token)")
            }
            Err(e) => {
                tracing::warn!(error = %tg.redact(&e.to_string()), "Telegram getUpdates failed; retrying");
                backoff.failed()
            }
        };
        if !pause_or_stop(&state.shutdown, pause).await {
            return Ok(());
        }
    }
}

/// Commits a batch to the inbox with the offset after it; returns that offset (None for an empty batch).
async fn record(
    state: &SharedState,
    tg: &Telegram,
    updates: &[Update],
) -> anyhow::Result<Option<i32>> {
    let Some(last) = updates.last() else {
        return Ok(None);
    };
    let next = i32::try_from(last.id.0)?.saturating_add(1);
    let events = encode(tg, updates)?;
    let fresh = state
        .store
        .inbox_receive(
            Platform::Telegram,
            &events,
            Some((OFFSET_CURSOR, &next.to_string())),
        )
        .await?;
    tracing::debug!(
        received = updates.len(),
        fresh,
        next_offset = next,
        "Telegram updates recorded"
    );
    state.wakers.inbox.notify_one();
    Ok(Some(next))
}

fn encode(tg: &Telegram, updates: &[Update]) -> anyhow::Result<Vec<(String, String)>> {
    updates
        .iter()
        .filter_map(|u| to_inbound(u, &tg.me).map(|i| (u.id.0.to_string(), i)))
        .map(|(id, inbound)| Ok((id, serde_json::to_string(&inbound)?)))
        .collect()
}

/// The route Telegram POSTs updates to in webhook mode.
pub fn webhook_router(state: SharedState, tg: Arc<Telegram>) -> Router {
    Router::new()
        .route("/webhooks/telegram", post(webhook))
        .with_state((state, tg))
}

const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

async fn webhook(
    AxState((state, tg)): AxState<(SharedState, Arc<Telegram>)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    // The secret is checked before the body is even parsed.
    let expected = tg
        .config
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().as_bytes().to_vec());
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !expected.is_some_and(|e| bool::from(e.as_slice().ct_eq(given))) {
        return StatusCode::UNAUTHORIZED;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable Telegram webhook body");
            return StatusCode::BAD_REQUEST;
        }
    };
    let events = match encode(&tg, std::slice::from_ref(&update)) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a Telegram update");
            return StatusCode::OK;
        }
    };
    // Answering only after the commit makes Telegram retry a delivery we could not record.
    match state
        .store
        .inbox_receive(Platform::Telegram, &events, None)
        .await
    {
        Ok(_) => {
            state.wakers.inbox.notify_one();
            StatusCode::OK
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a Telegram webhook update");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

impl Telegram {
    /// Points Telegram at `telegram.webhook_url` with the secret (webhook mode; skipped when no URL is set).
    pub async fn register_webhook(&self) -> anyhow::Result<()> {
        let Some(url) = &self.config.webhook_url else {
            tracing::info!(
                "telegram webhook mode without webhook_url: register the webhook yourself"
            );
            return Ok(());
        };
        let url = url::Url::parse(url)?;
        let mut req = self.bot.set_webhook(url);
        if let Some(secret) = &self.config.webhook_secret {
            req = req.secret_token(secret.expose_secret().to_owned());
        }
        req.await.map_err(|e| {
            anyhow::anyhow!(
                "cannot register the Telegram webhook: {}",
                self.redact(&e.to_string())
            )
        })?;
        Ok(())
    }
}
