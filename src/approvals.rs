//! The approval workflow: asking for a decision on a plan, and deciding it by button or command.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::chat::outbox::{self, Place};
use crate::chat::text::RichText;
use crate::chat::{Button, ButtonPress, ButtonStyle, Reaction, Redaction};
use crate::domain::approval::{self, Attempt, Decision, TicketNow};
use crate::domain::{Actor, AuditEvent, ChatAddress, Status, Ticket, TicketId, UserRef};
use crate::state::State;
use crate::storage::{NewApproval, StoreError, StoredApproval, WriteTx};

/// Why an approval could not be requested.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(
        "ticket {0} was not opened in chat and no [channels] approvals conversation is configured, \
         so nobody could approve its plan"
    )]
    Nowhere(TicketId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the outcome of an attempt is told to the person who made it.
#[derive(Debug, Clone)]
pub enum Via {
    /// A button press, answered through the platform's callback answer.
    Button { callback_id: String },
    /// A typed command, answered with a reply.
    Command { place: Place },
    /// A reaction on the approval message: approvers' refusals are answered in the thread, strangers' only audited.
    Reaction { place: Place, reaction_id: String },
}

/// The reaction keys that decide (variation selectors ignored).
pub fn reaction_decision(key: &str) -> Option<Decision> {
    match key.trim_end_matches('\u{fe0f}') {
        "✅" | "✔" | "👍" => Some(Decision::Approve),
        "❌" | "✖" | "👎" => Some(Decision::Reject),
        _ => None,
    }
}

fn nonce() -> String {
    // 128 random bits from the thread-local CSPRNG; looked up server-side, nothing else rides in the button.
    format!("{:032x}", rand::random::<u128>())
}

/// Where a ticket's messages go: its root message's conversation, or the `approvals` channel.
pub async fn ticket_place(
    state: &State,
    tx: &mut WriteTx,
    ticket: TicketId,
) -> Result<Option<(ChatAddress, Place)>, StoreError> {
    if let Some(root) = tx.root_link(ticket).await? {
        let place = Place {
            reply_to: Some(root.message_id),
            thread: root.thread,
        };
        return Ok(Some((root.conversation, place)));
    }
    Ok(state
        .config
        .channel("approvals")
        .into_iter()
        .next()
        .map(|c| (c, Place::default())))
}

/// Posts the ticket's current plan for approval (superseding older requests) and records the request.
pub async fn request(
    state: &State,
    tx: &mut WriteTx,
    ticket: &Ticket,
    actor: &Actor,
) -> Result<i64, RequestError> {
    let (origin, place) = ticket_place(state, tx, ticket.id)
        .await?
        .ok_or(RequestError::Nowhere(ticket.id))?;
    let digest = tx.plan_digest(ticket.id).await?.unwrap_or_default();
    withdraw(tx, ticket.id, "Superseded by a newer plan.").await?;
    let expires_at = tx.now() + state.config.approvals.ttl();
    let (approve_nonce, reject_nonce) = (nonce(), nonce());
    let id = tx
        .create_approval(&NewApproval {
            ticket: ticket.id,
            plan_digest: &digest,
            requested_by: &ticket.requester,
            origin: &origin,
            expires_at,
            approve_nonce: &approve_nonce,
            reject_nonce: &reject_nonce,
        })
        .await?;
    let buttons = buttons(approve_nonce, reject_nonce);
    let message = plan_message(
        ticket,
        expires_at,
        state.config.approvals.policy().approvers.is_empty(),
    );
    let outbox_id =
        outbox::enqueue_message(tx, &origin, Some(ticket.id), &message, &place, buttons).await?;
    tx.set_approval_message(id, outbox_id).await?;
    let details = json!({"approval": id, "digest": digest, "origin": origin.to_string(), "expires_at": expires_at.to_rfc3339()});
    tx.audit(
        Some(ticket.id),
        actor,
        AuditEvent::ApprovalRequested,
        details,
    )
    .await?;
    Ok(id)
}

fn buttons(approve_nonce: String, reject_nonce: String) -> Vec<Button> {
    vec![
        Button {
            label: "✅ Approve".into(),
            nonce: approve_nonce,
            style: ButtonStyle::Success,
        },
        Button {
            label: "❌ Reject".into(),
            nonce: reject_nonce,
            style: ButtonStyle::Danger,
        },
    ]
}

async fn decision_buttons(tx: &mut WriteTx, approval: i64) -> Result<Vec<Button>, StoreError> {
    let (approve, reject) = tx.approval_nonces(approval).await?;
    Ok(buttons(approve, reject))
}

/// Closes a ticket's undecided requests and replaces their messages with `note` (no buttons).
pub async fn withdraw(tx: &mut WriteTx, ticket: TicketId, note: &str) -> Result<(), StoreError> {
    for old in tx.open_approvals(ticket).await? {
        tx.decide_approval(old.request.id, "aura", "withdrawn", None)
            .await?;
        if let Some(msg) = old.message_outbox {
            let text = RichText::new().italic(note);
            outbox::enqueue_edit(
                tx,
                &old.request.origin,
                Some(ticket),
                msg,
                &text,
                Vec::new(),
            )
            .await?;
        }
    }
    Ok(())
}

fn plan_message(ticket: &Ticket, expires_at: DateTime<Utc>, no_approvers: bool) -> RichText {
    let mut m = RichText::new()
        .bold(format!("Plan for {}", ticket.id))
        .text(": ")
        .text(&ticket.title)
        .newline();
    if let Some(plan) = &ticket.plan {
        m = m.text(&plan.summary).newline();
        for (i, step) in plan.steps.iter().enumerate() {
            m = m.text(format!("{}. ", i + 1)).text(step).newline();
        }
        if let Some(diff) = &plan.diff {
            m = m.code_block(diff);
        }
    }
    m = m.italic(format!(
        "Requested by {}. Approve or reject before {} UTC.",
        ticket.requester,
        expires_at.format("%Y-%m-%d %H:%M")
    ));
    if no_approvers {
        m = m
            .newline()
            .italic("No approvers are configured: set approvals.approvers to enable approvals.");
    }
    m
}

/// Handles a button press: finds the request by nonce and decides under the policy.
pub async fn press(state: &State, tx: &mut WriteTx, press: &ButtonPress) -> Result<(), StoreError> {
    let via = Via::Button {
        callback_id: press.callback_id.clone(),
    };
    let Some((stored, decision)) = tx.approval_by_nonce(&press.nonce).await? else {
        let details =
            json!({"reason": "unknown_nonce", "conversation": press.conversation.to_string()});
        let actor = Actor::User(press.presser.clone());
        record_refusal(state, tx, None, &actor, "unknown_nonce", details).await?;
        return tell(
            tx,
            &press.conversation,
            &via,
            "This button is not valid (unknown or forged).",
        )
        .await;
    };
    let attempt = Attempt {
        by: &press.presser,
        from: &press.conversation,
        decision,
        at: tx.now(),
    };
    decide(state, tx, &stored, &attempt, &press.presser_name, None, via).await
}

/// Handles a ✅ / ❌ reaction on an approval message like a button press; other reactions are ignored.
pub async fn react(state: &State, tx: &mut WriteTx, r: &Reaction) -> Result<(), StoreError> {
    let Some(decision) = reaction_decision(&r.key) else {
        return Ok(());
    };
    let Some(stored) = tx
        .approval_by_message(r.conversation.platform(), &r.target)
        .await?
    else {
        return Ok(());
    };
    let place = ticket_place(state, tx, stored.request.ticket)
        .await?
        .map(|(_, p)| p)
        .unwrap_or_default();
    let via = Via::Reaction {
        place,
        reaction_id: r.reaction_id.clone(),
    };
    let attempt = Attempt {
        by: &r.reactor,
        from: &r.conversation,
        decision,
        at: tx.now(),
    };
    decide(state, tx, &stored, &attempt, &r.reactor_name, None, via).await
}

/// A redacted deciding reaction withdraws the decision while nothing was executed: the request is open again.
pub async fn unreact(state: &State, tx: &mut WriteTx, r: &Redaction) -> Result<(), StoreError> {
    let Some(stored) = tx.approval_decided_via(&r.redacts).await? else {
        return Ok(());
    };
    let req = &stored.request;
    let ticket = tx.ticket(req.ticket).await?;
    let latest = tx
        .latest_approval(req.ticket)
        .await?
        .is_some_and(|l| l.request.id == req.id);
    // Executing with no step taken yet (approved) or back in planning (rejected): the decision can still be undone.
    if !latest || !matches!(ticket.status, Status::Executing | Status::Planning) {
        return Ok(());
    }
    let actor = Actor::User(r.by.clone());
    tx.reopen_approval(req.id).await?;
    tx.transition(
        req.ticket,
        Status::PendingPlanApproval,
        &actor,
        Some("decision withdrawn"),
    )
    .await?;
    let details = json!({"approval": req.id, "redacted": r.redacts});
    tx.audit(
        Some(req.ticket),
        &actor,
        AuditEvent::ApprovalWithdrawn,
        details,
    )
    .await?;
    state
        .metrics
        .approvals
        .with_label_values(&["withdrawn"])
        .inc();
    if let Some(msg) = stored.message_outbox {
        let mut text = plan_message(
            &ticket,
            req.expires_at,
            state.config.approvals.policy().approvers.is_empty(),
        );
        text = text
            .newline()
            .italic("The decision was withdrawn; the plan waits for approval again.");
        let buttons = decision_buttons(tx, req.id).await?;
        outbox::enqueue_edit(tx, &req.origin, Some(req.ticket), msg, &text, buttons).await?;
    }
    Ok(())
}

/// Decides a request under the policy; every attempt is audited and answered, refusals change nothing else.
pub async fn decide(
    state: &State,
    tx: &mut WriteTx,
    stored: &StoredApproval,
    attempt: &Attempt<'_>,
    name: &str,
    comment: Option<&str>,
    via: Via,
) -> Result<(), StoreError> {
    let req = &stored.request;
    let ticket = tx.ticket(req.ticket).await?;
    let digest = tx.plan_digest(req.ticket).await?;
    let now = TicketNow {
        status: ticket.status,
        plan_digest: digest.as_deref(),
    };
    let actor = Actor::User(attempt.by.clone());
    let mut verdict = approval::check(&state.config.approvals.policy(), req, now, attempt);
    if let Ok(d) = verdict
        && !tx
            .decide_approval(req.id, &attempt.by.to_string(), d.as_str(), comment)
            .await?
    {
        verdict = Err(approval::Refusal::AlreadyDecided(
            "at the same moment".into(),
        ));
    }
    let decision = match verdict {
        Ok(d) => d,
        Err(refusal) => {
            let details = json!({"approval": req.id, "reason": refusal.code(), "attempted": attempt.decision.as_str()});
            record_refusal(state, tx, Some(req.ticket), &actor, refusal.code(), details).await?;
            // On Matrix anyone can react; only approvers are answered, strangers are just audited.
            if matches!(via, Via::Reaction { .. }) && refusal == approval::Refusal::NotApprover {
                return Ok(());
            }
            return tell(tx, attempt.from, &via, &format!("Refused: {refusal}.")).await;
        }
    };
    if let Via::Reaction { reaction_id, .. } = &via {
        tx.set_decided_via(req.id, reaction_id).await?;
    }
    let details = json!({"approval": req.id, "decision": decision.as_str(), "comment": comment});
    tx.audit(
        Some(req.ticket),
        &actor,
        AuditEvent::ApprovalDecided,
        details,
    )
    .await?;
    state
        .metrics
        .approvals
        .with_label_values(&[decision.as_str()])
        .inc();
    let (to, reason) = match decision {
        Decision::Approve => (Status::Executing, None),
        Decision::Reject => (Status::Planning, Some(comment.unwrap_or("plan rejected"))),
    };
    tx.transition(req.ticket, to, &actor, reason).await?;
    announce(tx, stored, &ticket, decision, attempt.by, name, comment).await?;
    let notice = match decision {
        Decision::Approve => format!("Approved: {} is executing.", ticket.id),
        Decision::Reject => format!("Rejected: {} goes back to planning.", ticket.id),
    };
    tell(tx, attempt.from, &via, &notice).await
}

/// Edits the approval message to show who decided, and takes its buttons away.
async fn announce(
    tx: &mut WriteTx,
    stored: &StoredApproval,
    ticket: &Ticket,
    decision: Decision,
    by: &UserRef,
    name: &str,
    comment: Option<&str>,
) -> Result<(), StoreError> {
    let verb = match decision {
        Decision::Approve => "✅ Approved",
        Decision::Reject => "❌ Rejected",
    };
    let mut line = RichText::new()
        .bold(format!("{verb} by "))
        .bold(name)
        .text(format!(" ({by})"));
    if let Some(c) = comment {
        line = line.text(": ").text(c);
    }
    if let Some(msg) = stored.message_outbox {
        let plan = plan_message(ticket, stored.request.expires_at, false);
        let mut edited = plan;
        edited.blocks.extend(line.blocks.clone());
        outbox::enqueue_edit(
            tx,
            &stored.request.origin,
            Some(ticket.id),
            msg,
            &edited,
            Vec::new(),
        )
        .await?;
    }
    Ok(())
}

/// Audits a refused attempt and counts it by reason.
async fn record_refusal(
    state: &State,
    tx: &mut WriteTx,
    ticket: Option<TicketId>,
    actor: &Actor,
    reason: &'static str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    tx.audit(ticket, actor, AuditEvent::ApprovalRefused, details)
        .await?;
    state.metrics.approvals.with_label_values(&[reason]).inc();
    Ok(())
}

/// Answers the person: a callback answer for a press, a reply for a command.
async fn tell(
    tx: &mut WriteTx,
    to: &ChatAddress,
    via: &Via,
    notice: &str,
) -> Result<(), StoreError> {
    match via {
        Via::Button { callback_id } => outbox::enqueue_answer(tx, to, callback_id, notice)
            .await
            .map(|_| ()),
        Via::Command { place } | Via::Reaction { place, .. } => {
            let text = RichText::new().text(notice);
            outbox::enqueue_message(tx, to, None, &text, place, Vec::new())
                .await
                .map(|_| ())
        }
    }
}
