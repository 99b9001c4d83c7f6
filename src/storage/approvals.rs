//! Approval requests: created with two nonces (approve, reject), looked up by nonce or ticket, decided once.

use chrono::{DateTime, Utc};

use super::{StoreError, WriteTx, from_ms, to_ms};
use crate::domain::approval::{ApprovalRequest, Decision};
use crate::domain::{ChatAddress, Platform, TicketId, UserRef};

/// An approval request with where its message was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    pub request: ApprovalRequest,
    /// The outbox row of the approval message (to edit it after the decision).
    pub message_outbox: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    ticket_id: i64,
    plan_digest: String,
    requested_by: String,
    origin: String,
    message_outbox: Option<i64>,
    expires_at: i64,
    decision: Option<String>,
    approve_nonce: String,
}

const COLUMNS: &str = "a.id, a.ticket_id, a.plan_digest, a.requested_by, a.origin, a.message_outbox, \
     a.expires_at, a.decision, a.approve_nonce";

fn decode(row: Row) -> Result<StoredApproval, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("approval {}: {e}", row.id));
    Ok(StoredApproval {
        request: ApprovalRequest {
            id: row.id,
            ticket: TicketId(row.ticket_id),
            requested_by: row
                .requested_by
                .parse::<UserRef>()
                .map_err(|e| corrupt(e.to_string()))?,
            origin: row
                .origin
                .parse::<ChatAddress>()
                .map_err(|e| corrupt(e.to_string()))?,
            expires_at: from_ms(row.expires_at)?,
            plan_digest: row.plan_digest,
            decided: row.decision,
        },
        message_outbox: row.message_outbox,
    })
}

/// What a new approval request needs.
#[derive(Debug, Clone)]
pub struct NewApproval<'a> {
    pub ticket: TicketId,
    pub plan_digest: &'a str,
    pub requested_by: &'a UserRef,
    pub origin: &'a ChatAddress,
    pub expires_at: DateTime<Utc>,
    pub approve_nonce: &'a str,
    pub reject_nonce: &'a str,
}

impl WriteTx {
    /// Stores a new approval request; returns its id.
    pub async fn create_approval(&mut self, new: &NewApproval<'_>) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO approvals (approve_nonce, reject_nonce, ticket_id, plan_digest, requested_by, origin, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.approve_nonce)
        .bind(new.reject_nonce)
        .bind(new.ticket.0)
        .bind(new.plan_digest)
        .bind(new.requested_by.to_string())
        .bind(new.origin.to_string())
        .bind(to_ms(self.now))
        .bind(to_ms(new.expires_at))
        .fetch_one(self.conn())
        .await?;
        Ok(id)
    }

    /// Remembers which outbox row carries the approval message.
    pub async fn set_approval_message(&mut self, id: i64, outbox: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE approvals SET message_outbox = $1 WHERE id = $2")
            .bind(outbox)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The approval a button nonce belongs to, and which decision that button means.
    pub async fn approval_by_nonce(
        &mut self,
        nonce: &str,
    ) -> Result<Option<(StoredApproval, Decision)>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals a WHERE a.approve_nonce = $1 OR a.reject_nonce = $1"
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(nonce)
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| {
            let decision = if r.approve_nonce == nonce {
                Decision::Approve
            } else {
                Decision::Reject
            };
            Ok((decode(r)?, decision))
        })
        .transpose()
    }

    /// The newest approval request of a ticket.
    pub async fn latest_approval(
        &mut self,
        ticket: TicketId,
    ) -> Result<Option<StoredApproval>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals a WHERE a.ticket_id = $1 ORDER BY a.id DESC LIMIT 1"
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ticket.0)
            .fetch_optional(self.conn())
            .await?;
        row.map(decode).transpose()
    }

    /// Undecided approval requests of a ticket (to supersede them when a new plan arrives).
    pub async fn open_approvals(
        &mut self,
        ticket: TicketId,
    ) -> Result<Vec<StoredApproval>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals a WHERE a.ticket_id = $1 AND a.decision IS NULL ORDER BY a.id"
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ticket.0)
            .fetch_all(self.conn())
            .await?;
        rows.into_iter().map(decode).collect()
    }

    /// Records a decision (`approved`, `rejected`, `superseded`); false if it was already decided.
    pub async fn decide_approval(
        &mut self,
        id: i64,
        by: &str,
        decision: &str,
        comment: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET decided_by = $1, decision = $2, comment = $3, decided_at = $4 \
             WHERE id = $5 AND decision IS NULL",
        )
        .bind(by)
        .bind(decision)
        .bind(comment)
        .bind(to_ms(self.now))
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The approval whose message is `message_id` on `platform` (Matrix reactions point at the message; the
    /// policy then checks the reaction came from the request's room).
    pub async fn approval_by_message(
        &mut self,
        platform: Platform,
        message_id: &str,
    ) -> Result<Option<StoredApproval>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals a JOIN outbox o ON o.id = a.message_outbox \
             WHERE o.platform = $1 AND o.remote_id = $2"
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(platform.as_str())
            .bind(message_id)
            .fetch_optional(self.conn())
            .await?;
        row.map(decode).transpose()
    }

    /// Remembers the platform event that decided an approval.
    pub async fn set_decided_via(&mut self, id: i64, event: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE approvals SET decided_via = $1 WHERE id = $2")
            .bind(event)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The approval decided by platform event `event`, if any.
    pub async fn approval_decided_via(
        &mut self,
        event: &str,
    ) -> Result<Option<StoredApproval>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals a WHERE a.decided_via = $1 AND a.decision IS NOT NULL"
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event)
            .fetch_optional(self.conn())
            .await?;
        row.map(decode).transpose()
    }

    /// Makes a decided approval undecided again (its deciding reaction was withdrawn).
    pub async fn reopen_approval(&mut self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE approvals SET decision = NULL, decided_by = NULL, decided_at = NULL, decided_via = NULL, \
             comment = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The approve and reject nonces of an approval (to show its buttons again).
    pub async fn approval_nonces(&mut self, id: i64) -> Result<(String, String), StoreError> {
        Ok(
            sqlx::query_as("SELECT approve_nonce, reject_nonce FROM approvals WHERE id = $1")
                .bind(id)
                .fetch_one(self.conn())
                .await?,
        )
    }
}
