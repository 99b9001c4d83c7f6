//! Intake, inside the dispatcher's transaction: recording an @mention question (or refusing it politely when
//! the asker is over their rate or Aura is busy), and `escalate`, which turns an answered question into a ticket.

use crate::chat::InboundMessage;
use crate::chat::outbox::{self, Place};
use crate::chat::text::RichText;
use crate::domain::Priority;
use crate::domain::ticket::{MAX_DESCRIPTION_CHARS, NewTicket};
use crate::redact::Redactor;
use crate::state::State;
use crate::storage::{Link, NewInvestigation, StoreError, WriteTx};

/// Characters of the question kept as the title of a ticket opened from it.
const TITLE_CHARS: usize = 120;

async fn reply(tx: &mut WriteTx, m: &InboundMessage, text: &RichText) -> Result<(), StoreError> {
    outbox::enqueue_reply(tx, m, text).await.map(drop)
}

/// Records a question for the worker, or answers why it will not run; never runs it here.
pub async fn ask(state: &State, tx: &mut WriteTx, m: &InboundMessage) -> Result<(), StoreError> {
    let cfg = &state.config.investigate;
    let prefix = m.conversation.platform().command_prefix();
    if !cfg.enabled {
        let text = RichText::new().text(format!(
            "Debugging questions are turned off here. Send {prefix}help for what I can do, or {prefix}ticket <text> to open a ticket."
        ));
        return reply(tx, m, &text).await;
    }
    let requester = m.sender.to_string();
    let since = tx.now() - cfg.window();
    let (status, outcome) =
        if tx.investigations_since(&requester, since).await? >= i64::from(cfg.per_user) {
            ("limited", Some("rate_limited"))
        } else if tx.investigations_unfinished().await? >= i64::from(cfg.concurrency) {
            ("busy", Some("busy"))
        } else {
            ("queued", None)
        };
    let question = Redactor::new(state.config.secret_values())
        .redact(&m.text)
        .into_owned();
    let new = NewInvestigation {
        conversation: &m.conversation,
        thread: m.thread.as_deref(),
        message_id: &m.message_id,
        requester: &requester,
        question: &question,
        status,
        outcome,
    };
    if tx.add_investigation(&new).await?.is_none() {
        // The same message again (a redelivery): it was handled the first time.
        return Ok(());
    }
    let text = match status {
        "limited" => format!(
            "You have asked {} questions in the last {}; please wait a little before the next one \
             (or open a ticket with {prefix}ticket <text>).",
            cfg.per_user, cfg.window
        ),
        "busy" => {
            "I am busy answering other questions right now; please ask again in a minute.".into()
        }
        _ => return Ok(()),
    };
    reply(tx, m, &RichText::new().text(text)).await
}

/// Opens a ticket from answered question `number` of this conversation, pre-filled with the question and the
/// findings, rooted at the question so its thread is the ticket's.
pub async fn escalate(
    state: &State,
    tx: &mut WriteTx,
    m: &InboundMessage,
    number: i64,
) -> Result<(), StoreError> {
    let q = tx
        .investigation(number)
        .await?
        .filter(|q| q.conversation == m.conversation);
    let Some(q) = q else {
        let text = format!("There is no question #{number} in this chat.");
        return reply(tx, m, &RichText::new().text(text)).await;
    };
    if let Some(t) = q.ticket {
        let text = format!("Question #{number} is already ticket {t}.");
        return reply(tx, m, &RichText::new().text(text)).await;
    }
    if q.status != "answered" {
        let text =
            format!("Question #{number} has no answer yet; escalate it once it is answered.");
        return reply(tx, m, &RichText::new().text(text)).await;
    }
    let title: String = q.question.chars().take(TITLE_CHARS).collect();
    let description: String = format!(
        "Asked with @mention by {} (question #{}):\n{}\n\nFindings:\n{}",
        q.requester, q.id, q.question, q.findings
    )
    .chars()
    .take(MAX_DESCRIPTION_CHARS)
    .collect();
    let new = match NewTicket::new(&title, &description, Priority::Normal, m.sender.clone()) {
        Ok(n) => n,
        Err(e) => return reply(tx, m, &RichText::new().text(format!("{e}."))).await,
    };
    let ticket = tx.create_ticket(&new, state.config.llm.max_turns).await?;
    let root = Link {
        ticket: ticket.id,
        conversation: q.conversation.clone(),
        thread: q.thread.clone(),
        message_id: q.message_id.clone(),
    };
    tx.add_link(&root, "root").await?;
    tx.set_investigation_ticket(q.id, ticket.id).await?;
    let prefix = m.conversation.platform().command_prefix();
    let text = RichText::new()
        .bold(format!("🎫 Ticket {} opened", ticket.id))
        .text(format!(" from question #{number}: "))
        .text(&ticket.title)
        .newline()
        .text(format!(
            "Reply to the question to add details; {prefix}status {} shows where it stands.",
            ticket.id.0
        ));
    let place = Place::reply(&q.message_id, q.thread.as_deref());
    outbox::enqueue_message(
        tx,
        &q.conversation,
        Some(ticket.id),
        &text,
        &place,
        Vec::new(),
    )
    .await?;
    Ok(())
}
