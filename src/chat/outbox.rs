//! The outbox: queueing sends (rendered and split for the platform) and the paced sender that delivers them.
//!
//! Every message Aura sends is a row first, written in the same transaction as the change it reports; the sender
//! delivers rows lane by lane in id order, so a crash or a rate limit delays messages but never loses, reorders or
//! duplicates them.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::pacing::Pacer;
use super::text::{self, DiscordMarkdown, MatrixHtml, RichText, TelegramHtml};
use super::{Button, ChatError, ChatPlatform, Outbound};
use crate::domain::{ChatAddress, Platform, TicketId};
use crate::state::SharedState;
use crate::storage::{OutboxRow, Store, StoreError, WriteTx};

/// Sends that failed transiently this many times are given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// Longest pause between two attempts of one send.
const MAX_BACKOFF: Duration = Duration::minutes(5);
/// The sender looks at the outbox at least this often even when nobody wakes it.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Where in a conversation a message goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub reply_to: Option<String>,
    pub thread: Option<String>,
}

impl Place {
    /// A reply to message `message_id`, in its thread.
    pub fn reply(message_id: &str, thread: Option<&str>) -> Place {
        Place {
            reply_to: Some(message_id.to_owned()),
            thread: thread.map(str::to_owned),
        }
    }
}

/// Replies to an inbound message, in its thread (no ticket, no buttons); returns the outbox id.
pub async fn enqueue_reply(
    tx: &mut WriteTx,
    m: &super::InboundMessage,
    text: &RichText,
) -> Result<i64, StoreError> {
    let place = Place::reply(&m.message_id, m.thread.as_deref());
    enqueue_message(tx, &m.conversation, None, text, &place, Vec::new()).await
}

fn render_chunks(platform: Platform, message: &RichText) -> Vec<String> {
    match platform {
        Platform::Telegram => text::render_chunks(message, &TelegramHtml),
        Platform::Matrix => text::render_chunks(message, &MatrixHtml),
        Platform::Discord => text::render_chunks(message, &DiscordMarkdown),
    }
}

fn render_one(platform: Platform, message: &RichText) -> String {
    match platform {
        Platform::Telegram => text::render_truncated(message, &TelegramHtml),
        Platform::Matrix => text::render_truncated(message, &MatrixHtml),
        Platform::Discord => text::render_truncated(message, &DiscordMarkdown),
    }
}

/// The thread a send goes to. On Discord a ticket lives in a thread: the one its messages are already in, else the
/// one its root message starts (a thread started from a message has that message's id).
async fn thread_for(
    tx: &mut WriteTx,
    to: &ChatAddress,
    ticket: Option<TicketId>,
    place: &Place,
) -> Result<Option<String>, StoreError> {
    match (to.platform(), ticket, &place.thread) {
        (Platform::Discord, Some(ticket), None) => Ok(tx
            .ticket_thread(ticket, to)
            .await?
            .or_else(|| place.reply_to.clone())),
        _ => Ok(place.thread.clone()),
    }
}

fn encode(out: &Outbound) -> Result<String, StoreError> {
    serde_json::to_string(out)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a send: {e}")))
}

/// Queues a message, split at the platform's limit; buttons ride on the last part. Returns that part's outbox id.
pub async fn enqueue_message(
    tx: &mut WriteTx,
    to: &ChatAddress,
    ticket: Option<TicketId>,
    message: &RichText,
    place: &Place,
    buttons: Vec<Button>,
) -> Result<i64, StoreError> {
    let chunks = render_chunks(to.platform(), message);
    let thread = thread_for(tx, to, ticket, place).await?;
    let last = chunks.len().saturating_sub(1);
    let mut id = 0;
    let mut buttons = Some(buttons);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let out = Outbound::Message {
            text: chunk,
            reply_to: place.reply_to.clone(),
            thread: thread.clone(),
            buttons: if i == last {
                buttons.take().unwrap_or_default()
            } else {
                Vec::new()
            },
        };
        id = tx
            .enqueue(to, &to.to_string(), ticket, &encode(&out)?)
            .await?;
    }
    Ok(id)
}

/// Queues an edit of an earlier send (named by outbox id); no buttons removes them.
pub async fn enqueue_edit(
    tx: &mut WriteTx,
    to: &ChatAddress,
    ticket: Option<TicketId>,
    of: i64,
    message: &RichText,
    buttons: Vec<Button>,
) -> Result<i64, StoreError> {
    let thread = match to.platform() {
        Platform::Discord => thread_for(tx, to, ticket, &Place::default()).await?,
        _ => None,
    };
    let out = Outbound::Edit {
        of,
        text: render_one(to.platform(), message),
        buttons,
        thread,
    };
    tx.enqueue(to, &to.to_string(), ticket, &encode(&out)?)
        .await
}

/// Queues the answer to a button press in its own lane, so a busy conversation never delays it.
pub async fn enqueue_answer(
    tx: &mut WriteTx,
    to: &ChatAddress,
    callback_id: &str,
    notice: &str,
) -> Result<i64, StoreError> {
    let out = Outbound::Answer {
        callback_id: callback_id.to_owned(),
        text: notice.chars().take(190).collect(),
    };
    tx.enqueue(to, &format!("{to}#answers"), None, &encode(&out)?)
        .await
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flush {
    pub sent: usize,
    /// When something not yet due becomes due.
    pub next_at: Option<DateTime<Utc>>,
}

/// Sends at most one due row per lane, respecting backoff and pacing.
pub async fn flush_once<P: ChatPlatform>(
    state: &SharedState,
    platform: &P,
    pacer: &mut Pacer,
) -> Result<Flush, StoreError> {
    let store = &state.store;
    let mut flush = Flush::default();
    for row in store.outbox_heads(platform.platform()).await? {
        let now = state.clock.now();
        let Ok(conversation) = row.conversation.parse::<ChatAddress>() else {
            store
                .outbox_retry(row.id, now, "bad conversation address", true)
                .await?;
            continue;
        };
        let out: Outbound = match serde_json::from_str(&row.payload) {
            Ok(out) => out,
            Err(e) => {
                store
                    .outbox_retry(row.id, now, &format!("undecodable payload: {e}"), true)
                    .await?;
                continue;
            }
        };
        let paced = !matches!(out, Outbound::Answer { .. });
        let group = platform.is_group(&conversation);
        let due = if paced {
            row.next_attempt_at
                .max(pacer.ready_at(&row.conversation, group, now))
        } else {
            row.next_attempt_at
        };
        if due > now {
            flush.next_at = Some(flush.next_at.map_or(due, |n| n.min(due)));
            continue;
        }
        let target = match &out {
            Outbound::Edit { of, .. } => match store.outbox_remote_id(*of).await? {
                Some(remote) => Some(remote),
                None => {
                    store
                        .outbox_retry(row.id, now, "the message to edit was never delivered", true)
                        .await?;
                    continue;
                }
            },
            _ => None,
        };
        if paced {
            pacer.record(&row.conversation, group, now);
        }
        let key = format!("aura-out-{}", row.id);
        let result = platform
            .send(&conversation, &out, &key, target.as_deref())
            .await;
        record(state, platform.platform(), &row, result, now).await?;
        flush.sent += 1;
    }
    Ok(flush)
}

async fn record(
    state: &SharedState,
    platform: Platform,
    row: &OutboxRow,
    result: Result<super::Delivered, ChatError>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let store: &Store = &state.store;
    let outcome = match &result {
        Ok(_) => "sent",
        Err(ChatError::RetryAfter(_)) => "rate_limited",
        Err(ChatError::Transient(_)) if row.attempts + 1 < MAX_ATTEMPTS => "retry",
        Err(_) => "failed",
    };
    state
        .metrics
        .chat_sends
        .with_label_values(&[platform.as_str(), outcome])
        .inc();
    match result {
        Ok(d) => {
            store
                .outbox_sent(row, d.remote_id.as_deref(), d.thread.as_deref())
                .await
        }
        Err(ChatError::RetryAfter(wait)) => {
            let wait = Duration::from_std(wait).unwrap_or(Duration::seconds(1));
            tracing::info!(outbox = row.id, conversation = %row.conversation, ?wait, "rate limited; holding the conversation");
            store
                .outbox_retry(row.id, now + wait, "rate limited", false)
                .await
        }
        Err(ChatError::Transient(e)) => {
            let failed = outcome == "failed";
            let backoff = Duration::seconds(1 << row.attempts.clamp(0, 9)).min(MAX_BACKOFF);
            tracing::warn!(outbox = row.id, conversation = %row.conversation, error = %e, failed, "send failed");
            store.outbox_retry(row.id, now + backoff, &e, failed).await
        }
        Err(ChatError::Permanent(e)) => {
            tracing::warn!(outbox = row.id, conversation = %row.conversation, error = %e, "send rejected; giving it up");
            store.outbox_retry(row.id, now, &e, true).await
        }
    }
}

/// Delivers the platform's outbox until shutdown; wakes when nudged, on schedule, or every second.
pub async fn run<P: ChatPlatform>(state: SharedState, platform: Arc<P>) -> anyhow::Result<()> {
    let mut pacer = Pacer::new(platform.limits());
    loop {
        let pause = match flush_once(&state, platform.as_ref(), &mut pacer).await {
            Ok(f) if f.sent > 0 => std::time::Duration::ZERO,
            Ok(f) => f
                .next_at
                .and_then(|at| (at - state.clock.now()).to_std().ok())
                .map_or(IDLE_POLL, |d| d.min(IDLE_POLL)),
            Err(e) => {
                tracing::warn!(error = %e, platform = platform.platform().as_str(), "outbox pass failed; retrying");
                IDLE_POLL
            }
        };
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = state.wakers.sender(platform.platform()).notified() => {},
            () = tokio::time::sleep(pause) => {},
        }
    }
}
