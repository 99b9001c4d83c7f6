//! Chat commands: `ticket`, `tickets`, `status`, `approve`, `reject`, `cancel`, `resume`, `escalate`, `help`.

use crate::approvals::{self, Via};
use crate::chat::InboundMessage;
use crate::chat::outbox;
use crate::chat::text::RichText;
use crate::domain::approval::{Attempt, Decision};
use crate::domain::command::{self, Command, CommandError};
use crate::domain::ticket::NewTicket;
use crate::domain::{Actor, Priority, Status, Ticket, TicketId};
use crate::redact::Redactor;
use crate::state::State;
use crate::storage::{Link, StoreError, WriteTx};

use super::{reply, reply_place};

/// Turns granted by `resume` when the user does not say how many.
const DEFAULT_RESUME_TURNS: u32 = 10;
/// Most tickets listed by `tickets`.
const LIST_LIMIT: i64 = 20;

/// Runs a parsed command (or answers the parse error) inside the event's transaction.
pub(super) async fn handle(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    parsed: Result<Command, CommandError>,
) -> Result<(), StoreError> {
    let result = match parsed {
        Ok(Command::Ticket { text }) => command_ticket(state, tx, m, &text).await,
        Ok(Command::Tickets) => command_tickets(tx, m).await,
        Ok(Command::Status { id }) => command_status(state, tx, m, id).await,
        Ok(Command::Approve { id }) => {
            command_decide(state, tx, m, id, Decision::Approve, None).await
        }
        Ok(Command::Reject { id, comment }) => {
            command_decide(state, tx, m, id, Decision::Reject, comment.as_deref()).await
        }
        Ok(Command::Cancel { id, reason }) => {
            command_cancel(state, tx, m, id, reason.as_deref()).await
        }
        Ok(Command::Resume { id, turns }) => command_resume(state, tx, m, id, turns).await,
        Ok(Command::Escalate { number }) => {
            crate::investigate::escalate(state, tx, m, number).await
        }
        Ok(Command::Help) => {
            let prefix = m.conversation.platform().command_prefix();
            reply(tx, m, &RichText::new().text(command::help_text(prefix)))
                .await
                .map(drop)
        }
        Err(e) => reply(tx, m, &RichText::new().text(e.to_string()))
            .await
            .map(drop),
    };
    match result {
        // The check runs before any write, so the transaction is intact and the user gets the reason.
        Err(StoreError::Illegal(e)) => reply(tx, m, &RichText::new().text(e.to_string()))
            .await
            .map(drop),
        Err(StoreError::NotFound(id)) => reply(
            tx,
            m,
            &RichText::new().text(format!("Ticket {id} does not exist.")),
        )
        .await
        .map(drop),
        other => other,
    }
}

async fn command_ticket(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    text: &str,
) -> Result<(), StoreError> {
    // A ticket's text is stored, audited and read by the planner: credentials pasted into it are masked first.
    let text = Redactor::new(state.config.secret_values()).redact(text);
    let (title, description) = text.split_once('\n').unwrap_or((&text, ""));
    let new = match NewTicket::new(title, description, Priority::Normal, m.sender.clone()) {
        Ok(n) => n,
        Err(e) => {
            return reply(tx, m, &RichText::new().text(format!("{e}.")))
                .await
                .map(drop);
        }
    };
    let ticket = tx.create_ticket(&new, state.config.llm.max_turns).await?;
    let root = Link {
        ticket: ticket.id,
        conversation: m.conversation.clone(),
        thread: m.thread.clone(),
        message_id: m.message_id.clone(),
    };
    tx.add_link(&root, "root").await?;
    let prefix = m.conversation.platform().command_prefix();
    let text = RichText::new()
        .bold(format!("🎫 Ticket {} opened", ticket.id))
        .text(": ")
        .text(&ticket.title)
        .newline()
        .text(format!(
            "Reply to this message to add details; {prefix}status {} shows where it stands.",
            ticket.id.0
        ));
    outbox::enqueue_message(
        tx,
        &m.conversation,
        Some(ticket.id),
        &text,
        &reply_place(m),
        Vec::new(),
    )
    .await?;
    Ok(())
}

async fn command_tickets(tx: &mut WriteTx, m: &InboundMessage) -> Result<(), StoreError> {
    let ids = tx.open_tickets_in(&m.conversation, LIST_LIMIT).await?;
    if ids.is_empty() {
        return reply(
            tx,
            m,
            &RichText::new().text("No open tickets in this chat."),
        )
        .await
        .map(drop);
    }
    let mut text = RichText::new().bold("Open tickets in this chat").newline();
    for id in ids {
        let t = tx.ticket(id).await?;
        text = text
            .text(format!("{} ", t.id))
            .code(t.status.as_str())
            .text(" ")
            .text(&t.title)
            .newline();
    }
    reply(tx, m, &text).await.map(drop)
}

async fn command_status(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    id: TicketId,
) -> Result<(), StoreError> {
    let Some(t) = visible_ticket(state, tx, m, id).await? else {
        return Ok(());
    };
    let mut text = RichText::new()
        .bold(format!("{} ", t.id))
        .text(&t.title)
        .newline()
        .text("Status: ")
        .code(t.status.as_str())
        .text(format!(
            " · priority {} · requested by {}",
            t.priority.as_str(),
            t.requester
        ))
        .newline()
        .text(format!(
            "Turns {}/{} · tokens {}",
            t.turns, t.max_turns, t.tokens_used
        ));
    if let Some(plan) = &t.plan {
        text = text.newline().text("Plan: ").text(&plan.summary);
    }
    reply(tx, m, &text).await.map(drop)
}

async fn command_decide(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    id: TicketId,
    decision: Decision,
    comment: Option<&str>,
) -> Result<(), StoreError> {
    tx.ticket(id).await?;
    let Some(stored) = tx.latest_approval(id).await? else {
        let text = format!("Ticket {id} has no plan waiting for approval.");
        return reply(tx, m, &RichText::new().text(text)).await.map(drop);
    };
    let attempt = Attempt {
        by: &m.sender,
        from: &m.conversation,
        decision,
        at: tx.now(),
    };
    let via = Via::Command {
        place: reply_place(m),
    };
    approvals::decide(state, tx, &stored, &attempt, &m.sender_name, comment, via).await
}

async fn command_cancel(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    id: TicketId,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let Some(t) = managed_ticket(state, tx, m, id).await? else {
        return Ok(());
    };
    let actor = Actor::User(m.sender.clone());
    tx.transition(t.id, Status::Cancelled, &actor, reason)
        .await?;
    approvals::withdraw(tx, t.id, "Ticket cancelled.").await?;
    let mut text = RichText::new()
        .bold(format!("Ticket {} cancelled", t.id))
        .text(format!(" by {}", m.sender_name));
    if let Some(r) = reason {
        text = text.text(": ").text(r);
    }
    reply(tx, m, &text).await.map(drop)
}

async fn command_resume(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    id: TicketId,
    turns: Option<u32>,
) -> Result<(), StoreError> {
    let Some(t) = managed_ticket(state, tx, m, id).await? else {
        return Ok(());
    };
    if t.status != Status::Paused {
        let text = format!(
            "Ticket {} is {}, not paused; only a paused ticket can be resumed.",
            t.id, t.status
        );
        return reply(tx, m, &RichText::new().text(text)).await.map(drop);
    }
    let actor = Actor::User(m.sender.clone());
    let turns = turns.unwrap_or(DEFAULT_RESUME_TURNS);
    let t = tx.add_turns(t.id, turns, &actor).await?;
    tx.transition(t.id, Status::Planning, &actor, Some("resumed"))
        .await?;
    let text = format!(
        "Ticket {} resumed with {turns} more turns ({}/{}).",
        t.id, t.turns, t.max_turns
    );
    reply(tx, m, &RichText::new().text(text)).await.map(drop)
}

/// The ticket if it was opened in this conversation or the sender is an approver; otherwise says so.
async fn visible_ticket(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    id: TicketId,
) -> Result<Option<Ticket>, StoreError> {
    let t = tx.ticket(id).await?;
    let here = tx
        .root_link(id)
        .await?
        .is_some_and(|l| l.conversation == m.conversation);
    if here || is_approver(state, m) {
        return Ok(Some(t));
    }
    let text = format!("Ticket {id} was not opened in this chat.");
    reply(tx, m, &RichText::new().text(text)).await?;
    Ok(None)
}

/// The ticket if the sender may change it (its requester or an approver); otherwise says so.
async fn managed_ticket(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    id: TicketId,
) -> Result<Option<Ticket>, StoreError> {
    let t = tx.ticket(id).await?;
    if t.requester == m.sender || is_approver(state, m) {
        return Ok(Some(t));
    }
    let text = format!("Only the requester of ticket {id} or an approver can do that.");
    reply(tx, m, &RichText::new().text(text)).await?;
    Ok(None)
}

fn is_approver(state: &State, m: &InboundMessage) -> bool {
    state
        .config
        .approvals
        .policy()
        .approvers
        .contains(&m.sender)
}
