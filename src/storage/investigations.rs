//! @mention questions: recording them at intake (in the dispatcher's transaction), claiming them for the worker,
//! storing the answer, and the per-user and global counts that budget them.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, WriteTx, from_ms, to_ms};
use crate::domain::{ChatAddress, TicketId};

/// A question as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Investigation {
    pub id: i64,
    pub conversation: ChatAddress,
    pub thread: Option<String>,
    pub message_id: String,
    pub requester: String,
    pub question: String,
    pub status: String,
    pub outcome: Option<String>,
    pub findings: String,
    pub answer: Option<String>,
    pub tokens: i64,
    pub ticket: Option<TicketId>,
    pub created_at: DateTime<Utc>,
}

/// A question to record at intake.
#[derive(Debug, Clone)]
pub struct NewInvestigation<'a> {
    pub conversation: &'a ChatAddress,
    pub thread: Option<&'a str>,
    pub message_id: &'a str,
    pub requester: &'a str,
    pub question: &'a str,
    /// `queued` to run it, or `limited` / `busy` when it was refused.
    pub status: &'a str,
    pub outcome: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    conversation: String,
    thread: Option<String>,
    message_id: String,
    requester: String,
    question: String,
    status: String,
    outcome: Option<String>,
    findings: String,
    answer: Option<String>,
    tokens: i64,
    ticket_id: Option<i64>,
    created_at: i64,
}

const COLUMNS: &str = "id, conversation, thread, message_id, requester, question, status, outcome, findings, \
                       answer, tokens, ticket_id, created_at";

impl TryFrom<Row> for Investigation {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, Self::Error> {
        Ok(Investigation {
            id: r.id,
            conversation: r
                .conversation
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("investigation {}: {e}", r.id)))?,
            thread: r.thread,
            message_id: r.message_id,
            requester: r.requester,
            question: r.question,
            status: r.status,
            outcome: r.outcome,
            findings: r.findings,
            answer: r.answer,
            tokens: r.tokens,
            ticket: r.ticket_id.map(TicketId),
            created_at: from_ms(r.created_at)?,
        })
    }
}

impl WriteTx {
    /// Records a question; None when this message was already recorded (a redelivered event).
    pub async fn add_investigation(
        &mut self,
        new: &NewInvestigation<'_>,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO investigations (platform, conversation, thread, message_id, requester, question, status, \
             outcome, created_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (platform, conversation, message_id) DO NOTHING RETURNING id",
        )
        .bind(new.conversation.platform().as_str())
        .bind(new.conversation.to_string())
        .bind(new.thread)
        .bind(new.message_id)
        .bind(new.requester)
        .bind(new.question)
        .bind(new.status)
        .bind(new.outcome)
        .bind(to_ms(self.now))
        .bind((new.status != "queued").then(|| to_ms(self.now)))
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Questions `requester` asked since `since` that counted against their budget (not refused ones).
    pub async fn investigations_since(
        &mut self,
        requester: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM investigations WHERE requester = $1 AND created_at > $2 \
             AND status NOT IN ('limited', 'busy')",
        )
        .bind(requester)
        .bind(to_ms(since))
        .fetch_one(self.conn())
        .await?;
        Ok(n)
    }

    /// Questions waiting or running.
    pub async fn investigations_unfinished(&mut self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM investigations WHERE status IN ('queued', 'running')",
        )
        .fetch_one(self.conn())
        .await?;
        Ok(n)
    }

    /// One question, as this transaction sees it.
    pub async fn investigation(&mut self, id: i64) -> Result<Option<Investigation>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM investigations WHERE id = $1");
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        row.map(Investigation::try_from).transpose()
    }

    /// Stores the answer and how it ended; false when the question was not running (answered already).
    pub async fn finish_investigation(
        &mut self,
        id: i64,
        outcome: &str,
        findings: &str,
        answer: &str,
        tokens: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE investigations SET status = 'answered', outcome = $1, findings = $2, answer = $3, tokens = $4, \
             finished_at = $5 WHERE id = $6 AND status = 'running'",
        )
        .bind(outcome)
        .bind(findings)
        .bind(answer)
        .bind(tokens)
        .bind(to_ms(self.now))
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Links the ticket opened from a question.
    pub async fn set_investigation_ticket(
        &mut self,
        id: i64,
        ticket: TicketId,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE investigations SET ticket_id = $1 WHERE id = $2")
            .bind(ticket.0)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    /// Puts questions left running by a stopped process back in the queue (they run again from the start).
    pub async fn requeue_investigations(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE investigations SET status = 'queued', started_at = NULL WHERE status = 'running'",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims the oldest queued question (marks it running); None when the queue is empty.
    pub async fn claim_investigation(&self) -> Result<Option<Investigation>, StoreError> {
        let mut tx = self.write().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM investigations WHERE status = 'queued' ORDER BY id LIMIT 1"
        );
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_optional(tx.conn())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE investigations SET status = 'running', started_at = $1 WHERE id = $2")
            .bind(to_ms(tx.now))
            .bind(row.id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        let mut claimed = Investigation::try_from(row)?;
        claimed.status = "running".into();
        Ok(Some(claimed))
    }

    /// One question by id.
    pub async fn investigation(&self, id: i64) -> Result<Option<Investigation>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM investigations WHERE id = $1");
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Investigation::try_from).transpose()
    }

    /// Every question, oldest first (for tests and the CLI).
    pub async fn investigations(&self) -> Result<Vec<Investigation>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM investigations ORDER BY id");
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Investigation::try_from).collect()
    }

    /// Finished questions by outcome, and the tokens all answers used (for /metrics).
    pub async fn investigation_figures(&self) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let by_outcome: Vec<(String, i64)> = sqlx::query_as(
            "SELECT outcome, COUNT(*) FROM investigations WHERE outcome IS NOT NULL GROUP BY outcome \
             ORDER BY outcome",
        )
        .fetch_all(&self.pool)
        .await?;
        let (tokens,): (Option<i64>,) =
            sqlx::query_as("SELECT CAST(SUM(tokens) AS BIGINT) FROM investigations")
                .fetch_one(&self.pool)
                .await?;
        Ok((by_outcome, tokens.unwrap_or(0)))
    }
}
