//! Executes approved plans: the exact approved change on `aura/ticket-<id>`, pushed, with one pull request.
//!
//! Every step is repeatable: the branch name is fixed, the commit date is stored before the first attempt (so
//! a retry makes the same commit and the push is a no-op), and an existing pull request is adopted (GitHub
//! answers 422 for a duplicate). A crash anywhere ends, after restart, with one branch and one pull request.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::GitOps;
use crate::approvals::ticket_place;
use crate::chat::outbox;
use crate::chat::text::RichText;
use crate::domain::lint;
use crate::domain::{Actor, Status, Ticket};
use crate::state::SharedState;
use crate::storage::TicketFilter;

/// An execution failing this many times fails its ticket.
const MAX_ATTEMPTS: i64 = 5;
const POLL: Duration = Duration::from_secs(2);

/// Executes approved tickets until shutdown.
pub async fn run(state: SharedState, gitops: Arc<GitOps>) -> anyhow::Result<()> {
    loop {
        if let Err(e) = pass(&state, &gitops).await {
            tracing::warn!(error = %format!("{e:#}"), "executor pass failed");
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(POLL) => {},
        }
    }
}

/// Executes every ticket waiting in `executing` once; returns how many moved on.
pub async fn pass(state: &SharedState, gitops: &GitOps) -> anyhow::Result<usize> {
    let filter = TicketFilter {
        status: Some(Status::Executing),
        before: None,
        limit: 20,
    };
    let mut moved = 0;
    for ticket in state.store.tickets(&filter).await? {
        let executable = ticket
            .plan
            .as_ref()
            .is_some_and(|p| p.base_sha.is_some() && !p.changes.is_empty());
        if !executable {
            continue;
        }
        let span = tracing::info_span!("execute", ticket = %ticket.id);
        let _enter = span.enter();
        match execute(state, gitops, &ticket).await {
            Ok(()) => moved += 1,
            Err(e) => fail(state, &ticket, &format!("{e:#}")).await?,
        }
    }
    Ok(moved)
}

async fn execute(state: &SharedState, gitops: &GitOps, ticket: &Ticket) -> anyhow::Result<()> {
    let plan = ticket.plan.as_ref().context("no plan")?;
    let base = plan
        .base_sha
        .as_deref()
        .context("the plan has no base commit")?;
    let branch = GitOps::branch(ticket);
    let date = state.clock.now().to_rfc3339();
    let allowed = gitops.allowed_paths(&gitops.ticket_apps(base, ticket).await?);
    let head = gitops.repo.lock().await.fetch().await?;
    // The base moved since approval: the change goes on the new head only if it reads exactly as approved there;
    // otherwise the approvers see the rebased diff and decide again.
    let parent = if head == base {
        base.to_owned()
    } else {
        let repo = gitops.repo.lock().await;
        let tree = repo.tree(&head, &plan.changes).await?;
        let rebased = repo.diff(&head, &tree).await?;
        drop(repo);
        if Some(rebased.as_str()) != plan.diff.as_deref() {
            return reapprove(state, ticket, &head, rebased).await;
        }
        head.clone()
    };
    // The first attempt fixes the parent and the date; retries reuse them, so they make the same commit.
    let exec = state
        .store
        .start_execution(ticket.id, &branch, &parent, &date)
        .await?;
    let parent = exec.base_sha.clone();
    let repo = gitops.repo.lock().await;
    let tree = repo.tree(&parent, &plan.changes).await?;
    let diff = repo.diff(&parent, &tree).await?;
    if Some(diff.as_str()) != plan.diff.as_deref() {
        anyhow::bail!("the change no longer produces the approved diff");
    }
    // The linter ran before approval; it runs again on exactly what is committed.
    let violations = lint::check(&diff, Some(&allowed));
    if let Some(v) = violations.first() {
        anyhow::bail!("refused by the data-protection linter: {v}");
    }
    let message = format!(
        "aura: {}\n\nTicket {}\nPlan: {}\nPlan-digest: {}\n",
        ticket.title,
        ticket.id,
        plan.summary,
        plan.digest()
    );
    let commit = repo
        .commit(&parent, &tree, &message, &gitops.author, &exec.commit_date)
        .await?;
    repo.push(&commit, &branch).await?;
    drop(repo);
    let body = format!(
        "Opened by Aura for ticket {}: {}\n\n**Plan:** {}\n\n{}\n\nPlan digest: `{}`",
        ticket.id,
        ticket.title,
        plan.summary,
        plan.steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect::<Vec<_>>()
            .join("\n"),
        plan.digest()
    );
    let title = format!("{} ({})", ticket.title, ticket.id);
    let pr = gitops
        .github
        .open_or_adopt(&branch, &gitops.base_branch, &title, &body)
        .await?;
    let mut tx = state.store.write().await?;
    tx.execution_opened(ticket.id, &commit, pr.number, &pr.url)
        .await?;
    let reason = format!("pull request #{} opened", pr.number);
    tx.transition(ticket.id, Status::Observing, &Actor::Aura, Some(&reason))
        .await?;
    tx.audit(
        Some(ticket.id),
        &Actor::Aura,
        crate::domain::AuditEvent::ChangeProposed,
        json!({"branch": branch, "commit": commit, "pull_request": pr.number, "url": pr.url}),
    )
    .await?;
    if let Some((to, place)) = ticket_place(state, &mut tx, ticket.id).await? {
        let text = RichText::new()
            .bold(format!("Pull request #{} opened", pr.number))
            .text(format!(" on {branch}: "))
            .text(&pr.url)
            .newline()
            .text("I will report here when it is merged and Argo CD has rolled it out.");
        outbox::enqueue_message(&mut tx, &to, Some(ticket.id), &text, &place, Vec::new()).await?;
    }
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}

/// Puts the rebased plan in front of the approvers again (the approval was for a different diff).
async fn reapprove(
    state: &SharedState,
    ticket: &Ticket,
    head: &str,
    diff: String,
) -> anyhow::Result<()> {
    let Some(old) = ticket.plan.clone() else {
        return Ok(());
    };
    let plan = crate::domain::Plan {
        diff: Some(diff),
        base_sha: Some(head.to_owned()),
        ..old
    };
    let mut tx = state.store.write().await?;
    let ticket = tx.propose_plan(ticket.id, &plan, &Actor::Aura).await?;
    if let Some((to, place)) = ticket_place(state, &mut tx, ticket.id).await? {
        let text = RichText::new().text(
            "The base branch moved and the change reads differently on it; the plan below needs a new approval.",
        );
        outbox::enqueue_message(&mut tx, &to, Some(ticket.id), &text, &place, Vec::new()).await?;
    }
    crate::approvals::request(state, &mut tx, &ticket, &Actor::Aura)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}

async fn fail(state: &SharedState, ticket: &Ticket, error: &str) -> anyhow::Result<()> {
    let attempts = state
        .store
        .execution_failed(ticket.id, error)
        .await
        .unwrap_or(MAX_ATTEMPTS);
    tracing::warn!(ticket = %ticket.id, attempts, error, "execution failed");
    if attempts < MAX_ATTEMPTS {
        return Ok(());
    }
    let mut tx = state.store.write().await?;
    tx.transition(ticket.id, Status::Failed, &Actor::Aura, Some(error))
        .await?;
    if let Some((to, place)) = ticket_place(state, &mut tx, ticket.id).await? {
        let text = RichText::new()
            .bold(format!("Ticket {} failed", ticket.id))
            .text(": ")
            .text(error);
        outbox::enqueue_message(&mut tx, &to, Some(ticket.id), &text, &place, Vec::new()).await?;
    }
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}
