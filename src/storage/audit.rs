//! The audit log: appending hash-chained rows inside a caller's transaction, reading them, verifying the chain.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::audit::{ChainVerifier, HashInput, chain_hash};
use crate::domain::{Actor, AuditEntry, AuditEvent, ChainBreak, TicketId};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    ticket_id: Option<i64>,
    actor: String,
    event: String,
    details: String,
    created_at: i64,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, Self::Error> {
        Ok(AuditEntry {
            id: r.id,
            ticket: r.ticket_id.map(TicketId),
            actor: r.actor,
            event: r.event,
            details: r.details,
            created_at: from_ms(r.created_at)?,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

const AUDIT_COLUMNS: &str = "id, ticket_id, actor, event, details, created_at, prev_hash, hash";

/// Appends one row to the chain inside the caller's transaction.
///
/// The first statement takes the chain head's row lock (PostgreSQL) or the write lock (SQLite), so concurrent
/// writers queue here and each sees the hash the previous one wrote.
pub(super) async fn append(
    conn: &mut AnyConnection,
    ticket: Option<TicketId>,
    actor: &Actor,
    event: AuditEvent,
    details: &serde_json::Value,
    at: DateTime<Utc>,
) -> Result<AuditEntry, StoreError> {
    let (id, prev_hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, last_hash")
            .fetch_one(&mut *conn)
            .await?;
    let actor = actor.to_string();
    let details = details.to_string();
    let hash = chain_hash(HashInput {
        id,
        ticket,
        actor: &actor,
        event: event.as_str(),
        details: &details,
        created_at_ms: to_ms(at),
        prev_hash: &prev_hash,
    });
    sqlx::query(
        "INSERT INTO audit_log (id, ticket_id, actor, event, details, created_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(ticket.map(|t| t.0))
    .bind(&actor)
    .bind(event.as_str())
    .bind(&details)
    .bind(to_ms(at))
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(AuditEntry {
        id,
        ticket,
        actor,
        event: event.as_str().to_owned(),
        details,
        created_at: at,
        prev_hash,
        hash,
    })
}

/// How many rows `verify_audit` reads per query.
const VERIFY_PAGE: i64 = 1000;

impl Store {
    /// The audit rows of one ticket, oldest first.
    pub async fn ticket_audit(&self, ticket: TicketId) -> Result<Vec<AuditEntry>, StoreError> {
        self.ticket(ticket).await?;
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE ticket_id = $1 ORDER BY id");
        let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ticket.0)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }

    /// Up to `limit` audit rows with an id above `after`, oldest first (for stream replay).
    pub async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }

    /// Walks the whole chain; `Ok(n)` with the number of rows checked, or the first broken row.
    pub async fn verify_audit(&self) -> Result<Result<u64, ChainBreak>, StoreError> {
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = self.audit_after(after, VERIFY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for entry in &page {
                if let Err(brk) = verifier.check(entry) {
                    return Ok(Err(brk));
                }
            }
        }
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, last_hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        if head_hash != verifier.head() {
            return Ok(Err(ChainBreak {
                id: head_seq,
                reason: "the newest rows were removed (the chain head points past the last row)"
                    .into(),
            }));
        }
        Ok(Ok(verifier.checked()))
    }
}
