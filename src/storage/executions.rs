//! GitOps executions: one row per ticket, holding what makes a retry repeat exactly the same work.

use super::{Store, StoreError, WriteTx, to_ms};
use crate::domain::TicketId;

/// A ticket's execution as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Execution {
    pub ticket_id: i64,
    pub branch: String,
    pub base_sha: String,
    pub commit_date: String,
    pub commit_sha: Option<String>,
    pub pr_number: Option<i64>,
    pub pr_url: Option<String>,
    pub merge_sha: Option<String>,
    pub merged_at: Option<i64>,
    pub attempts: i64,
}

const COLUMNS: &str = "ticket_id, branch, base_sha, commit_date, commit_sha, pr_number, pr_url, merge_sha, merged_at, attempts";

impl Store {
    /// The ticket's execution, started with `branch`, `base_sha` and `commit_date` if it has none yet.
    pub async fn start_execution(
        &self,
        ticket: TicketId,
        branch: &str,
        base_sha: &str,
        commit_date: &str,
    ) -> Result<Execution, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO executions (ticket_id, branch, base_sha, commit_date, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (ticket_id) DO NOTHING",
        )
        .bind(ticket.0)
        .bind(branch)
        .bind(base_sha)
        .bind(commit_date)
        .bind(to_ms(tx.now()))
        .execute(tx.conn())
        .await?;
        let row = tx
            .execution(ticket)
            .await?
            .ok_or(StoreError::NotFound(ticket))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Counts a failed attempt; returns the attempts so far.
    pub async fn execution_failed(&self, ticket: TicketId, error: &str) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let (n,): (i64,) = sqlx::query_as(
            "UPDATE executions SET attempts = attempts + 1, last_error = $1, updated_at = $2 WHERE ticket_id = $3 \
             RETURNING attempts",
        )
        .bind(error)
        .bind(to_ms(tx.now()))
        .bind(ticket.0)
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl WriteTx {
    /// The ticket's execution, if it was started.
    pub async fn execution(&mut self, ticket: TicketId) -> Result<Option<Execution>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM executions WHERE ticket_id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ticket.0)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Records the commit and the pull request of an execution.
    pub async fn execution_opened(
        &mut self,
        ticket: TicketId,
        commit: &str,
        pr_number: u64,
        pr_url: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE executions SET commit_sha = $1, pr_number = $2, pr_url = $3, updated_at = $4 WHERE ticket_id = $5",
        )
        .bind(commit)
        .bind(i64::try_from(pr_number).unwrap_or(i64::MAX))
        .bind(pr_url)
        .bind(to_ms(self.now()))
        .bind(ticket.0)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records that the pull request was merged (the first time it is seen merged).
    pub async fn execution_merged(
        &mut self,
        ticket: TicketId,
        merge_sha: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE executions SET merge_sha = $1, merged_at = $2, updated_at = $2 WHERE ticket_id = $3 AND merged_at IS NULL",
        )
        .bind(merge_sha)
        .bind(to_ms(self.now()))
        .bind(ticket.0)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
