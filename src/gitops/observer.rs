//! Observes executed tickets: once the pull request is merged, waits until every application the ticket names
//! is synced at the merge commit and Healthy (resolved), or is Degraded there or misses the deadline (failed).

use std::sync::Arc;
use std::time::Duration;

use super::{GitOps, short};
use crate::approvals::ticket_place;
use crate::argo::Argo;
use crate::chat::outbox;
use crate::chat::text::RichText;
use crate::domain::{Actor, Status, Ticket};
use crate::state::SharedState;
use crate::storage::{TicketFilter, from_ms};

const POLL: Duration = Duration::from_secs(3);

/// What observing concluded for one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Waiting,
    Resolved(String),
    Failed(String),
}

/// Observes tickets until shutdown.
pub async fn run(
    state: SharedState,
    gitops: Arc<GitOps>,
    argo: Option<Arc<Argo>>,
) -> anyhow::Result<()> {
    loop {
        if let Err(e) = pass(&state, &gitops, argo.as_deref()).await {
            tracing::warn!(error = %format!("{e:#}"), "observer pass failed");
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(POLL) => {},
        }
    }
}

/// Looks at every observing ticket once.
pub async fn pass(state: &SharedState, gitops: &GitOps, argo: Option<&Argo>) -> anyhow::Result<()> {
    let filter = TicketFilter {
        status: Some(Status::Observing),
        before: None,
        limit: 50,
    };
    for ticket in state.store.tickets(&filter).await? {
        match observe(state, gitops, argo, &ticket).await {
            Ok(Verdict::Waiting) => {}
            Ok(Verdict::Resolved(why)) => conclude(state, &ticket, Status::Resolved, &why).await?,
            Ok(Verdict::Failed(why)) => conclude(state, &ticket, Status::Failed, &why).await?,
            Err(e) => {
                tracing::warn!(ticket = %ticket.id, error = %format!("{e:#}"), "cannot observe")
            }
        }
    }
    Ok(())
}

async fn observe(
    state: &SharedState,
    gitops: &GitOps,
    argo: Option<&Argo>,
    ticket: &Ticket,
) -> anyhow::Result<Verdict> {
    let mut tx = state.store.write().await?;
    let exec = tx.execution(ticket.id).await?;
    tx.commit().await?;
    let Some(exec) = exec else {
        return Ok(Verdict::Waiting);
    };
    let Some(pr) = exec.pr_number.and_then(|n| u64::try_from(n).ok()) else {
        return Ok(Verdict::Waiting);
    };
    let pull = gitops.github.state(pr).await?;
    if !pull.merged {
        return Ok(if pull.open {
            Verdict::Waiting
        } else {
            Verdict::Failed(format!("pull request #{pr} was closed without merging"))
        });
    }
    let Some(merge) = pull.merge_commit.clone() else {
        return Ok(Verdict::Waiting);
    };
    if exec.merged_at.is_none() {
        let mut tx = state.store.write().await?;
        tx.execution_merged(ticket.id, &merge).await?;
        tx.commit().await?;
    }
    let Some(argo) = argo else {
        return Ok(Verdict::Resolved(format!(
            "pull request #{pr} merged ({}); no cluster is configured to watch",
            short(&merge)
        )));
    };
    let apps = gitops.ticket_apps(&exec.base_sha, ticket).await?;
    let merged_at = match exec.merged_at {
        Some(ms) => from_ms(ms)?,
        None => state.clock.now(),
    };
    let mut waiting = Vec::new();
    for app in &apps {
        let Some(s) = argo.app(app).await? else {
            waiting.push(format!("{app}: no Argo CD application"));
            continue;
        };
        let at_merge = s.revision.as_deref() == Some(merge.as_str());
        if at_merge && s.health == "Degraded" {
            return Ok(Verdict::Failed(format!(
                "{app} is Degraded at {}: {}",
                short(&merge),
                s.unhealthy.join("; ")
            )));
        }
        if !(at_merge && s.sync == "Synced" && s.health == "Healthy") {
            waiting.push(format!(
                "{app}: {} / {} at {}",
                s.sync,
                s.health,
                s.revision.as_deref().map_or("?", short)
            ));
        }
    }
    if waiting.is_empty() {
        return Ok(Verdict::Resolved(format!(
            "{} Healthy at {} (pull request #{pr})",
            apps.join(", "),
            short(&merge)
        )));
    }
    if state.clock.now() - merged_at > state.config.argocd.observe_timeout() {
        return Ok(Verdict::Failed(format!(
            "not Healthy within {} of the merge: {}",
            state.config.argocd.observe_timeout,
            waiting.join("; ")
        )));
    }
    Ok(Verdict::Waiting)
}

async fn conclude(
    state: &SharedState,
    ticket: &Ticket,
    to: Status,
    why: &str,
) -> anyhow::Result<()> {
    let mut tx = state.store.write().await?;
    tx.transition(ticket.id, to, &Actor::Aura, Some(why))
        .await?;
    if let Some((conversation, place)) = ticket_place(state, &mut tx, ticket.id).await? {
        let head = match to {
            Status::Resolved => format!("✅ {} resolved", ticket.id),
            _ => format!("❌ {} failed", ticket.id),
        };
        let text = RichText::new().bold(head).text(": ").text(why);
        outbox::enqueue_message(
            &mut tx,
            &conversation,
            Some(ticket.id),
            &text,
            &place,
            Vec::new(),
        )
        .await?;
    }
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}
