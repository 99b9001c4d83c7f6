//! The rollback seed: when an application turns Degraded right after a sync, a ticket proposing the revert of
//! that sync's commit, offered for approval like any other plan (never merged without one).

use crate::approvals;
use crate::domain::plan::Plan;
use crate::domain::ticket::NewTicket;
use crate::domain::{Actor, Priority, TicketId, UserRef};
use crate::gitops::{PrepareError, short};
use crate::state::SharedState;
use crate::storage::WriteTx;

/// The requester of feed tickets: Aura's feed, so every configured approver may approve them.
const REQUESTER: &str = "argocd-feed";

/// A revert ready to be proposed: the ticket to open and its checked plan.
pub(super) struct Revert {
    ticket: NewTicket,
    plan: Plan,
}

/// Builds the revert of `revision` for `app` (git work, outside any transaction); `Err` says why there is none.
pub(super) async fn prepare(
    state: &SharedState,
    app: &str,
    revision: &str,
) -> Result<Revert, String> {
    let Some(gitops) = &state.gitops else {
        return Err("no infrastructure repository is configured ([git], [github])".into());
    };
    if state.config.channel("approvals").is_empty() {
        return Err("no [channels] approvals conversation is configured to approve it".into());
    }
    let changes = match gitops.revert_changes(revision).await {
        Ok(Ok(changes)) => changes,
        Ok(Err(why)) => return Err(why),
        Err(e) => return Err(format!("the repository could not be read ({e:#})")),
    };
    let title = format!(
        "Revert {} on {app}: Degraded after its sync",
        short(revision)
    );
    let description = format!(
        "Argo CD reported {app} Degraded right after syncing {revision}. This ticket proposes reverting that \
         commit's changes to the files it touched."
    );
    let requester = UserRef::api(REQUESTER).map_err(|e| e.to_string())?;
    let ticket = NewTicket::new(&title, &description, Priority::High, requester)
        .map_err(|e| e.to_string())?;
    let summary = format!("Revert {} on {app}", short(revision));
    let steps = vec![
        format!(
            "Restore the files {} changed to their content before it",
            short(revision)
        ),
        format!("Watch {app} become Healthy after the sync"),
    ];
    match gitops
        .prepare_for(&format!("{title} {description}"), &summary, &steps, changes)
        .await
    {
        Ok(plan) => Ok(Revert { ticket, plan }),
        Err(PrepareError::Git(e)) => Err(format!("the repository could not be read ({e:#})")),
        Err(e) => Err(e.to_string()),
    }
}

/// Opens the ticket with its plan and asks for approval, in the caller's transaction.
pub(super) async fn propose(
    state: &SharedState,
    tx: &mut WriteTx,
    revert: Revert,
) -> anyhow::Result<TicketId> {
    let ticket = tx
        .create_ticket(&revert.ticket, state.config.llm.max_turns)
        .await?;
    let ticket = tx
        .propose_plan(ticket.id, &revert.plan, &Actor::Aura)
        .await?;
    approvals::request(state, tx, &ticket, &Actor::Aura)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(ticket.id)
}
