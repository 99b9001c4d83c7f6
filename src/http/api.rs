//! The ticket API: list, create, read, audit and cancel tickets.

use crate::redact::Redactor;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::approvals;
use crate::domain::lint;
use crate::domain::plan::FileChange;
use crate::domain::ticket::NewTicket;
use crate::domain::{
    Actor, AuditEntry, AuditEvent, Plan, Priority, Status, Ticket, TicketId, UserRef,
};
use crate::gitops::PrepareError;
use crate::state::SharedState;
use crate::storage::TicketFilter;

/// The header an API client may use to name itself in the audit log (`api:<name>`).
pub const CLIENT_HEADER: &str = "x-aura-client";
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

pub async fn list_tickets(
    AxState(state): AxState<SharedState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = params
        .status
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let before = params.before.as_deref().map(parse_id).transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let filter = TicketFilter {
        status,
        before,
        limit,
    };
    let tickets = state.store.tickets(&filter).await?;
    let next_before = (tickets.len() == limit as usize)
        .then(|| tickets.last().map(|t| t.id.0))
        .flatten();
    Ok(Json(
        json!({"tickets": tickets, "next_before": next_before}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    title: String,
    #[serde(default)]
    description: String,
    priority: Option<String>,
}

pub async fn create_ticket(
    AxState(state): AxState<SharedState>,
    headers: HeaderMap,
    body: Result<Json<CreateTicket>, JsonRejection>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let requester = api_client(&headers)?;
    let priority = body
        .priority
        .as_deref()
        .map_or(Ok(Priority::Normal), str::parse)
        .map_err(ApiError::BadRequest)?;
    // Stored, audited and read by the planner: credentials pasted into a ticket are masked first.
    let redactor = Redactor::new(state.config.secret_values());
    let (title, description) = (
        redactor.redact(&body.title),
        redactor.redact(&body.description),
    );
    let new = NewTicket::new(&title, &description, priority, requester)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let ticket = state
        .store
        .create_ticket(&new, state.config.llm.max_turns)
        .await?;
    tracing::info!(ticket = %ticket.id, requester = %ticket.requester, "ticket created through the API");
    Ok((StatusCode::CREATED, Json(ticket)))
}

pub async fn get_ticket(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    Ok(Json(state.store.ticket(parse_id(&id)?).await?))
}

pub async fn ticket_audit(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(state.store.ticket_audit(parse_id(&id)?).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelTicket {
    reason: Option<String>,
}

pub async fn cancel_ticket(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Option<Json<CancelTicket>>,
) -> Result<Json<Ticket>, ApiError> {
    let id = parse_id(&id)?;
    let actor = Actor::User(api_client(&headers)?);
    let reason = body.and_then(|Json(b)| b.reason);
    let ticket = state
        .store
        .transition(id, Status::Cancelled, &actor, reason.as_deref())
        .await?;
    Ok(Json(ticket))
}

fn parse_id(raw: &str) -> Result<TicketId, ApiError> {
    raw.parse()
        .map_err(|e: crate::domain::ticket::BadTicketId| ApiError::BadRequest(e.to_string()))
}

/// The API caller as a user address: `api:<X-Aura-Client>` or `api:http`.
fn api_client(headers: &HeaderMap) -> Result<UserRef, ApiError> {
    let name = headers
        .get(CLIENT_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .unwrap_or("http");
    UserRef::api(name).map_err(|e| ApiError::BadRequest(format!("{CLIENT_HEADER}: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposePlan {
    summary: String,
    steps: Vec<String>,
    /// A diff for reviewers (not executable by Aura).
    diff: Option<String>,
    /// Exact file contents to write (`null` deletes); Aura computes the diff against the base branch and
    /// executes it once approved.
    changes: Option<Vec<FileChange>>,
}

/// An operator or external planner proposes a plan; after the linter it is posted for approval in the ticket's
/// thread.
pub async fn propose_plan(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<ProposePlan>, JsonRejection>,
) -> Result<Json<Ticket>, ApiError> {
    let id = parse_id(&id)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let actor = Actor::User(api_client(&headers)?);
    let ticket = state.store.ticket(id).await?;
    let plan = match body.changes {
        Some(changes) => {
            let gitops = state.gitops.as_ref().ok_or_else(|| {
                ApiError::Conflict(
                    "plans with file changes need [git] repo_url and [github] configured".into(),
                )
            })?;
            match gitops
                .prepare(&ticket, &body.summary, &body.steps, changes)
                .await
            {
                Ok(plan) => plan,
                Err(PrepareError::Refused(violations)) => {
                    let rules: Vec<&str> = violations.iter().map(|v| v.rule.name()).collect();
                    let details = json!({"rules": rules, "violations": violations.iter().map(ToString::to_string).collect::<Vec<_>>()});
                    let mut tx = state.store.write().await?;
                    tx.audit(Some(id), &actor, AuditEvent::PlanRefused, details)
                        .await?;
                    tx.commit().await?;
                    return Err(ApiError::Unprocessable(
                        PrepareError::Refused(violations).to_string(),
                    ));
                }
                Err(e @ (PrepareError::NoChanges | PrepareError::BadChange(_))) => {
                    return Err(ApiError::BadRequest(e.to_string()));
                }
                Err(PrepareError::Git(e)) => return Err(ApiError::Upstream(format!("{e:#}"))),
            }
        }
        None => Plan {
            summary: body.summary,
            steps: body.steps,
            diff: body.diff,
            base_sha: None,
            changes: Vec::new(),
        },
    };
    plan.validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if plan.base_sha.is_none()
        && let Some(diff) = &plan.diff
    {
        let violations = lint::check(diff, None);
        if !violations.is_empty() {
            return Err(ApiError::Unprocessable(
                PrepareError::Refused(violations).to_string(),
            ));
        }
    }
    let mut tx = state.store.write().await?;
    let ticket = tx.propose_plan(id, &plan, &actor).await?;
    approvals::request(&state, &mut tx, &ticket, &actor)
        .await
        .map_err(|e| match e {
            approvals::RequestError::Nowhere(_) => ApiError::Conflict(e.to_string()),
            approvals::RequestError::Store(s) => ApiError::from(s),
        })?;
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(Json(ticket))
}
