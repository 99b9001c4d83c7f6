//! Tickets: creating, reading, listing, and moving them through the state machine with their audit rows.

use serde_json::json;

use super::{Store, StoreError, WriteTx, audit, from_ms, to_ms};
use crate::domain::ticket::{NewTicket, check_transition};
use crate::domain::{Actor, AuditEvent, Plan, Status, Ticket, TicketId};

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    title: String,
    description: String,
    status: String,
    priority: String,
    requester: String,
    turns: i64,
    max_turns: i64,
    tokens_used: i64,
    cost_micros: i64,
    plan: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const TICKET_COLUMNS: &str = "id, title, description, status, priority, requester, turns, max_turns, \
     tokens_used, cost_micros, plan, created_at, updated_at";

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;

    fn try_from(r: TicketRow) -> Result<Self, Self::Error> {
        let corrupt = |what: String| StoreError::Corrupt(format!("ticket #{}: {what}", r.id));
        Ok(Ticket {
            id: TicketId(r.id),
            status: r.status.parse().map_err(|e| corrupt(format!("{e}")))?,
            priority: r.priority.parse().map_err(corrupt)?,
            requester: r.requester.parse().map_err(|e| corrupt(format!("{e}")))?,
            turns: u32::try_from(r.turns).map_err(|e| corrupt(e.to_string()))?,
            max_turns: u32::try_from(r.max_turns).map_err(|e| corrupt(e.to_string()))?,
            tokens_used: r.tokens_used,
            cost_micros: r.cost_micros,
            plan: match r.plan {
                Some(p) => {
                    Some(serde_json::from_str::<Plan>(&p).map_err(|e| corrupt(e.to_string()))?)
                }
                None => None,
            },
            created_at: from_ms(r.created_at)?,
            updated_at: from_ms(r.updated_at)?,
            title: r.title,
            description: r.description,
        })
    }
}

/// Which tickets to list: an optional status, newest first, keyset-paged by id.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<Status>,
    /// Only tickets with an id below this one (the previous page's last id).
    pub before: Option<TicketId>,
    pub limit: u32,
}

impl Store {
    /// Opens a ticket in `draft` and audits it, in one transaction.
    pub async fn create_ticket(
        &self,
        new: &NewTicket,
        max_turns: u32,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.write().await?;
        let ticket = tx.create_ticket(new, max_turns).await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// One ticket by id.
    pub async fn ticket(&self, id: TicketId) -> Result<Ticket, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1");
        let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or(StoreError::NotFound(id))?.try_into()
    }

    /// Tickets matching the filter, newest first.
    pub async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE ($1 IS NULL OR status = $1) AND id < $2 \
             ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.status.map(Status::as_str))
            .bind(filter.before.map_or(i64::MAX, |t| t.0))
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Ticket::try_from).collect()
    }

    /// Moves a ticket to `to` if the state machine allows it; the change and its audit row commit together.
    pub async fn transition(
        &self,
        id: TicketId,
        to: Status,
        actor: &Actor,
        reason: Option<&str>,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.write().await?;
        let ticket = tx.transition(id, to, actor, reason).await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// Records a proposed plan and moves the ticket to `pending_plan_approval`, in one transaction.
    pub async fn propose_plan(
        &self,
        id: TicketId,
        plan: &Plan,
        actor: &Actor,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.write().await?;
        let ticket = tx.propose_plan(id, plan, actor).await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// Records one agent turn: the turn itself, its tokens and estimated cost.
    pub async fn record_turn(
        &self,
        id: TicketId,
        prompt: i64,
        completion: i64,
        cost_micros: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE tickets SET turns = turns + 1, tokens_used = tokens_used + $1, cost_micros = cost_micros + $2, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(prompt + completion)
        .bind(cost_micros)
        .bind(to_ms(tx.now()))
        .bind(id.0)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Ticket counts per status (every status present, zero included).
    pub async fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM tickets GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
        Ok(Status::ALL
            .iter()
            .map(|st| {
                let n = rows
                    .iter()
                    .find(|(s, _)| s == st.as_str())
                    .map_or(0, |(_, n)| *n);
                (*st, n)
            })
            .collect())
    }

    /// Audited transitions per target status since the database was created.
    pub async fn transitions_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT details, COUNT(*) FROM audit_log WHERE event = $1 GROUP BY details",
        )
        .bind(AuditEvent::StatusChanged.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut by_status: Vec<(String, i64)> = Vec::new();
        for (details, n) in rows {
            let to = serde_json::from_str::<serde_json::Value>(&details)
                .ok()
                .and_then(|v| v["to"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".into());
            match by_status.iter_mut().find(|(s, _)| *s == to) {
                Some((_, total)) => *total += n,
                None => by_status.push((to, n)),
            }
        }
        by_status.sort();
        Ok(by_status)
    }
}

impl WriteTx {
    /// Opens a ticket in `draft` with its audit row.
    pub async fn create_ticket(
        &mut self,
        new: &NewTicket,
        max_turns: u32,
    ) -> Result<Ticket, StoreError> {
        let now = self.now;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO tickets (title, description, status, priority, requester, max_turns, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&new.title)
        .bind(&new.description)
        .bind(Status::Draft.as_str())
        .bind(new.priority.as_str())
        .bind(new.requester.to_string())
        .bind(i64::from(max_turns))
        .bind(to_ms(now))
        .fetch_one(self.conn())
        .await?;
        let id = TicketId(id);
        let details = json!({"title": new.title, "priority": new.priority.as_str(), "status": Status::Draft.as_str()});
        let actor = Actor::User(new.requester.clone());
        self.audit(Some(id), &actor, AuditEvent::TicketCreated, details)
            .await?;
        self.ticket(id).await
    }

    /// One ticket by id, as this transaction sees it.
    pub async fn ticket(&mut self, id: TicketId) -> Result<Ticket, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1");
        let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(self.conn())
            .await?;
        row.ok_or(StoreError::NotFound(id))?.try_into()
    }

    /// The digest of the ticket's current plan, if it has one.
    pub async fn plan_digest(&mut self, id: TicketId) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT plan_digest FROM tickets WHERE id = $1")
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?;
        Ok(row.ok_or(StoreError::NotFound(id))?.0)
    }

    /// Moves a ticket to `to` if the state machine allows it, with its audit row.
    pub async fn transition(
        &mut self,
        id: TicketId,
        to: Status,
        actor: &Actor,
        reason: Option<&str>,
    ) -> Result<Ticket, StoreError> {
        let current = self.ticket(id).await?;
        check_transition(id, current.status, to)?;
        sqlx::query("UPDATE tickets SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(to.as_str())
            .bind(to_ms(self.now))
            .bind(id.0)
            .execute(self.conn())
            .await?;
        let mut details = json!({"from": current.status.as_str(), "to": to.as_str()});
        if let Some(reason) = reason {
            details["reason"] = json!(reason);
        }
        self.audit(Some(id), actor, AuditEvent::StatusChanged, details)
            .await?;
        self.ticket(id).await
    }

    /// Records a plan and moves the ticket to `pending_plan_approval` (through `planning` from `draft`).
    pub async fn propose_plan(
        &mut self,
        id: TicketId,
        plan: &Plan,
        actor: &Actor,
    ) -> Result<Ticket, StoreError> {
        if self.ticket(id).await?.status == Status::Draft {
            self.transition(id, Status::Planning, actor, None).await?;
        }
        let plan_json =
            serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let digest = plan.digest();
        sqlx::query(
            "UPDATE tickets SET plan = $1, plan_digest = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(&plan_json)
        .bind(&digest)
        .bind(to_ms(self.now))
        .bind(id.0)
        .execute(self.conn())
        .await?;
        let details = json!({"summary": plan.summary, "steps": plan.steps.len(), "digest": digest});
        self.audit(Some(id), actor, AuditEvent::PlanProposed, details)
            .await?;
        self.transition(id, Status::PendingPlanApproval, actor, None)
            .await
    }

    /// Grants a ticket more agent turns.
    pub async fn add_turns(
        &mut self,
        id: TicketId,
        turns: u32,
        actor: &Actor,
    ) -> Result<Ticket, StoreError> {
        sqlx::query("UPDATE tickets SET max_turns = max_turns + $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(turns))
            .bind(to_ms(self.now))
            .bind(id.0)
            .execute(self.conn())
            .await?;
        self.audit(
            Some(id),
            actor,
            AuditEvent::TurnsGranted,
            json!({"turns": turns}),
        )
        .await?;
        self.ticket(id).await
    }

    /// Appends an audit row in this transaction.
    pub async fn audit(
        &mut self,
        ticket: Option<TicketId>,
        actor: &Actor,
        event: AuditEvent,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = self.now;
        let entry = audit::append(self.conn(), ticket, actor, event, &details, now).await?;
        self.events.push(entry);
        Ok(())
    }
}
