//! Matrix intake: /sync from the cursor stored with the inbox rows, invitations by policy.

use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::sync::SyncResponse;

use super::Matrix;
use super::convert::{Me, to_inbound};
use crate::chat::backoff::{Backoff, pause as pause_or_stop};
use crate::domain::{ChatAddress, Platform, UserRef};
use crate::state::SharedState;

/// The cursor holding the next /sync `since` token.
pub const SYNC_CURSOR: &str = "matrix:since";

/// Syncs until shutdown.
///
/// The `since` token is Aura's own, stored in the same transaction as the inbox rows of the batch it follows;
/// the SDK's stored token is not used, so a crash before the commit makes the next start read the batch again
/// (and the unique event ids make that a no-op). On a database with no token, the first sync only marks where
/// Aura starts: history is never replayed as commands.
pub async fn sync(state: SharedState, mx: Arc<Matrix>) -> anyhow::Result<()> {
    let mut since = state.store.cursor(SYNC_CURSOR).await?;
    let mut backoff = Backoff::default();
    loop {
        let timeout = match since {
            Some(_) => Duration::from_secs(u64::from(mx.config.sync_timeout_secs)),
            None => Duration::ZERO,
        };
        let mut settings = SyncSettings::default().timeout(timeout);
        if let Some(token) = &since {
            settings = settings.token(token.clone());
        }
        let result = tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            r = mx.client.sync_once(settings) => r,
        };
        let pause = match result {
            Ok(response) => {
                let replay_history = since.is_some();
                match record(&state, &mx, &response, replay_history).await {
                    Ok(()) => {
                        since = Some(response.next_batch);
                        backoff.succeeded();
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot record a Matrix sync; it will be read again");
                        backoff.failed()
                    }
                }
            }
            Err(e)
                if e.client_api_error_kind().is_some_and(|k| {
                    matches!(k, matrix_sdk::ruma::api::error::ErrorKind::UnknownToken(_))
                }) =>
            {
                anyhow::bail!("the homeserver rejected Aura's Matrix session: {e}")
            }
            Err(e) => {
                tracing::warn!(error = %e, "Matrix sync failed; retrying");
                backoff.failed()
            }
        };
        if !pause_or_stop(&state.shutdown, pause).await {
            return Ok(());
        }
    }
}

/// Accepts allowed invitations and commits the batch's events (unless it is the first, history-only sync).
async fn record(
    state: &SharedState,
    mx: &Matrix,
    response: &SyncResponse,
    with_events: bool,
) -> anyhow::Result<()> {
    for room_id in response.rooms.invited.keys() {
        answer_invite(state, mx, room_id).await;
    }
    let mut events = Vec::new();
    if with_events {
        let user_id = mx.user_id();
        let me = Me {
            user_id: &user_id,
            display_name: Some("Aura"),
        };
        for (room_id, update) in &response.rooms.joined {
            let direct = match mx.client.get_room(room_id) {
                Some(room) => room.joined_members_count() <= 2,
                None => false,
            };
            let timeline: Vec<serde_json::Value> = update
                .timeline
                .events
                .iter()
                .filter_map(|e| serde_json::from_str(e.raw().json().get()).ok())
                .collect();
            // A room joined in this batch arrives with its history: only what follows Aura's join is new.
            let start = timeline
                .iter()
                .rposition(|e| is_own_join(e, &user_id))
                .map_or(0, |i| i + 1);
            for json in &timeline[start..] {
                let Some(event_id) = json["event_id"].as_str() else {
                    continue;
                };
                if let Some(inbound) = to_inbound(room_id.as_str(), json, &me, direct) {
                    events.push((event_id.to_owned(), serde_json::to_string(&inbound)?));
                }
            }
        }
    }
    state
        .store
        .inbox_receive(
            Platform::Matrix,
            &events,
            Some((SYNC_CURSOR, &response.next_batch)),
        )
        .await?;
    if !events.is_empty() {
        state.wakers.inbox.notify_one();
    }
    Ok(())
}

/// Aura's own join (not a profile change, which is also a `join` membership event).
fn is_own_join(event: &serde_json::Value, user_id: &str) -> bool {
    event["type"] == "m.room.member"
        && event["state_key"] == user_id
        && event["content"]["membership"] == "join"
        && event["unsigned"]["prev_content"]["membership"] != "join"
}

/// Joins a room when its inviter or the room itself is allowed by config; declines otherwise.
async fn answer_invite(state: &SharedState, mx: &Matrix, room_id: &OwnedRoomId) {
    let Some(room) = mx.client.get_room(room_id) else {
        return;
    };
    let inviter = match room.invite_details().await {
        Ok(invite) => invite.inviter.map(|m| m.user_id().to_string()),
        Err(e) => {
            tracing::warn!(room = %room_id, error = %e, "cannot read a Matrix invitation");
            return;
        }
    };
    let inviter_ref = inviter
        .as_deref()
        .and_then(|u| format!("matrix:{u}").parse::<UserRef>().ok());
    let room_ref = ChatAddress::new(Platform::Matrix, room_id.as_str()).ok();
    let allowed_user = inviter_ref.as_ref().is_some_and(|u| {
        state.config.approvals.policy().approvers.contains(u)
            || mx.config.invite_from.iter().any(|a| *a == u.to_string())
    });
    let allowed_room =
        room_ref.is_some_and(|r| mx.config.rooms.iter().any(|a| *a == r.to_string()));
    let result = if allowed_user || allowed_room {
        tracing::info!(room = %room_id, inviter = ?inviter, "joining a Matrix room");
        room.join().await
    } else {
        tracing::info!(room = %room_id, inviter = ?inviter, "declining a Matrix invitation (not in approvals.approvers, matrix.invite_from or matrix.rooms)");
        room.leave().await
    };
    if let Err(e) = result {
        tracing::warn!(room = %room_id, error = %e, "cannot answer a Matrix invitation");
    }
}
