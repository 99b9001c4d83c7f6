//! The one consumer of inbound events: reads the inbox in order and handles each event in one transaction.

mod commands;

use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use crate::chat::outbox::{Place, enqueue_reply as reply};
use crate::chat::{Inbound, InboundMessage};
use crate::domain::command::{self, Command};
use crate::domain::{Actor, AuditEvent, Status, TicketId};
use crate::redact::Redactor;
use crate::state::SharedState;
use crate::storage::{InboxRow, Link, StoreError, WriteTx};

/// An event that failed this many times is closed with its error, so it cannot block the ones after it.
const GIVE_UP_AFTER: i64 = 5;
const BATCH: i64 = 50;
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Handles inbound events until shutdown; wakes when an adapter records one, and every second.
pub async fn run(state: SharedState) -> anyhow::Result<()> {
    loop {
        if let Err(e) = drain(&state).await {
            tracing::warn!(error = %e, "cannot read the inbox; retrying");
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = state.wakers.inbox.notified() => {},
            () = tokio::time::sleep(IDLE_POLL) => {},
        }
    }
}

/// Handles every pending inbound event, oldest first; returns how many were handled.
pub async fn drain(state: &SharedState) -> Result<usize, StoreError> {
    let mut handled = 0;
    loop {
        let rows = state.store.inbox_pending(BATCH).await?;
        if rows.is_empty() {
            return Ok(handled);
        }
        let mut progressed = false;
        for row in rows {
            let span =
                tracing::info_span!("inbound", platform = %row.platform, event = %row.event_id);
            match handle_row(state, &row).instrument(span).await {
                Ok(()) => {
                    handled += 1;
                    progressed = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, inbox = row.id, attempt = row.attempts + 1, "handling an event failed");
                    state
                        .store
                        .inbox_failed(row.id, &e.to_string(), GIVE_UP_AFTER)
                        .await?;
                }
            }
        }
        state.wakers.wake_senders();
        state.wakers.investigations.notify_one();
        if !progressed {
            return Ok(handled);
        }
    }
}

async fn handle_row(state: &SharedState, row: &InboxRow) -> Result<(), StoreError> {
    let inbound: Inbound = match serde_json::from_str(&row.payload) {
        Ok(i) => i,
        Err(e) => {
            state
                .store
                .inbox_failed(row.id, &format!("undecodable event: {e}"), 1)
                .await?;
            return Ok(());
        }
    };
    let mut tx = state.store.write().await?;
    let kind = match &inbound {
        Inbound::Message(m) => handle_message(state, &mut tx, m).await?,
        Inbound::Button(press) => {
            crate::approvals::press(state, &mut tx, press).await?;
            "button"
        }
        Inbound::Reaction(r) => {
            crate::approvals::react(state, &mut tx, r).await?;
            "reaction"
        }
        Inbound::Redaction(r) => {
            crate::approvals::unreact(state, &mut tx, r).await?;
            "redaction"
        }
    };
    tx.inbox_done(row.id).await?;
    tx.commit().await?;
    state
        .metrics
        .chat_events
        .with_label_values(&[row.platform.as_str(), kind])
        .inc();
    Ok(())
}

/// Routes a message: a command, a mention, a reply in a ticket's thread, or a direct message opening a ticket.
async fn handle_message(
    state: &SharedState,
    tx: &mut WriteTx,
    m: &InboundMessage,
) -> Result<&'static str, StoreError> {
    let prefix = m.conversation.platform().command_prefix();
    if let Some(parsed) = command::parse_prefixed(&m.text, prefix, m.bot_username.as_deref()) {
        commands::handle(state, tx, m, parsed).await?;
        return Ok("command");
    }
    if m.mentions_bot {
        if let Some(parsed) = command::parse_words(&m.text, prefix) {
            commands::handle(state, tx, m, parsed).await?;
            return Ok("command");
        }
        if ticket_of(tx, m).await?.is_none() {
            // Recorded here, answered by the investigator: a slow answer never holds up the inbox.
            crate::investigate::ask(state, tx, m).await?;
            return Ok("mention");
        }
    }
    if let Some(ticket) = ticket_of(tx, m).await? {
        join(state, tx, m, ticket).await?;
        return Ok("thread_reply");
    }
    if m.direct {
        commands::handle(
            state,
            tx,
            m,
            Ok(Command::Ticket {
                text: m.text.clone(),
            }),
        )
        .await?;
        return Ok("direct_message");
    }
    Ok("ignored")
}

/// The ticket a message belongs to: the one its reply target or thread root is linked to.
async fn ticket_of(tx: &mut WriteTx, m: &InboundMessage) -> Result<Option<TicketId>, StoreError> {
    if let Some(to) = &m.reply_to
        && let Some(t) = tx.ticket_of_message(&m.conversation, to).await?
    {
        return Ok(Some(t));
    }
    match &m.thread {
        Some(thread) => tx.ticket_of_thread(&m.conversation, thread).await,
        None => Ok(None),
    }
}

/// Adds a message to a ticket's conversation: linked (so replies to it join too) and audited.
async fn join(
    state: &SharedState,
    tx: &mut WriteTx,
    m: &InboundMessage,
    ticket: TicketId,
) -> Result<(), StoreError> {
    let link = Link {
        ticket,
        conversation: m.conversation.clone(),
        thread: m.thread.clone(),
        message_id: m.message_id.clone(),
    };
    tx.add_link(&link, "conversation").await?;
    // What people paste in a thread may hold credentials; the audit log (and the planner reading it) gets them masked.
    let text = Redactor::new(state.config.secret_values())
        .redact(&m.text)
        .into_owned();
    let details = json!({"message_id": m.message_id, "text": text});
    let actor = Actor::User(m.sender.clone());
    tx.audit(
        Some(ticket),
        &actor,
        AuditEvent::ConversationMessage,
        details,
    )
    .await?;
    // An answer to the agent's question resumes planning.
    if tx.ticket(ticket).await?.status == Status::PendingInput {
        tx.transition(ticket, Status::Planning, &actor, Some("question answered"))
            .await?;
    }
    Ok(())
}

/// Where a reply to `m` goes: on it, in its thread.
fn reply_place(m: &InboundMessage) -> Place {
    Place::reply(&m.message_id, m.thread.as_deref())
}
