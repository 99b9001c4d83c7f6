//! Chat bookkeeping: the inbox (exactly-once intake), the outbox (every send), ticket links and stream cursors.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, WriteTx, from_ms, to_ms};
use crate::domain::{ChatAddress, Platform, TicketId};

/// An inbound event waiting to be handled.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboxRow {
    pub id: i64,
    pub platform: String,
    pub event_id: String,
    pub payload: String,
    pub attempts: i64,
}

/// A pending send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub conversation: String,
    pub ticket: Option<TicketId>,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
}

/// Where a ticket shows up in chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub ticket: TicketId,
    pub conversation: ChatAddress,
    pub thread: Option<String>,
    pub message_id: String,
}

impl Store {
    /// Records inbound events and the stream cursor in one transaction; returns how many were new.
    ///
    /// The caller confirms the events to the platform only after this returns, so a crash in between makes the
    /// platform deliver them again, and the unique (platform, event_id) makes the second delivery a no-op.
    pub async fn inbox_receive(
        &self,
        platform: Platform,
        events: &[(String, String)],
        cursor: Option<(&str, &str)>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        let mut fresh = 0;
        for (event_id, payload) in events {
            let done = sqlx::query(
                "INSERT INTO inbox (platform, event_id, payload, received_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (platform, event_id) DO NOTHING",
            )
            .bind(platform.as_str())
            .bind(event_id)
            .bind(payload)
            .bind(to_ms(tx.now))
            .execute(tx.conn())
            .await?;
            fresh += done.rows_affected() as usize;
        }
        if let Some((name, value)) = cursor {
            tx.set_cursor(name, value).await?;
        }
        tx.commit().await?;
        Ok(fresh)
    }

    /// The oldest unhandled inbound events.
    pub async fn inbox_pending(&self, limit: i64) -> Result<Vec<InboxRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, platform, event_id, payload, attempts FROM inbox WHERE processed_at IS NULL \
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Counts a failed attempt at handling an event; after `give_up_after` it is closed with the error.
    pub async fn inbox_failed(
        &self,
        id: i64,
        error: &str,
        give_up_after: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE inbox SET attempts = attempts + 1, error = $1, \
             processed_at = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE NULL END WHERE id = $4",
        )
        .bind(error)
        .bind(give_up_after)
        .bind(to_ms(tx.now))
        .bind(id)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// A stream cursor (Telegram offset, Matrix sync token, …).
    pub async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// The first pending send of each lane of a platform, oldest first; later ones in a lane wait their turn.
    pub async fn outbox_heads(&self, platform: Platform) -> Result<Vec<OutboxRow>, StoreError> {
        let rows: Vec<(i64, String, Option<i64>, String, i64, i64)> = sqlx::query_as(
            "SELECT id, conversation, ticket_id, payload, attempts, next_attempt_at FROM outbox \
             WHERE id IN (SELECT MIN(id) FROM outbox WHERE platform = $1 AND status = 'pending' GROUP BY lane) \
             ORDER BY id",
        )
        .bind(platform.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, conversation, ticket, payload, attempts, next)| {
                Ok(OutboxRow {
                    id,
                    conversation,
                    ticket: ticket.map(TicketId),
                    payload,
                    attempts,
                    next_attempt_at: from_ms(next)?,
                })
            })
            .collect()
    }

    /// The platform's message id of a sent outbox row.
    pub async fn outbox_remote_id(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT remote_id FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|r| r.0))
    }

    /// Marks a send done; a message about a ticket is linked to it so replies to it join the ticket.
    pub async fn outbox_sent(
        &self,
        row: &OutboxRow,
        remote_id: Option<&str>,
        thread: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, remote_id = $2, attempts = attempts + 1 WHERE id = $3")
            .bind(to_ms(tx.now))
            .bind(remote_id)
            .bind(row.id)
            .execute(tx.conn())
            .await?;
        if let (Some(ticket), Some(remote), Ok(conversation)) =
            (row.ticket, remote_id, row.conversation.parse())
        {
            let link = Link {
                ticket,
                conversation,
                thread: thread.map(str::to_owned),
                message_id: remote.to_owned(),
            };
            tx.add_link(&link, "aura").await?;
        }
        tx.commit().await
    }

    /// Schedules another attempt (`failed = false`) or gives the send up (`failed = true`).
    pub async fn outbox_retry(
        &self,
        id: i64,
        next_at: DateTime<Utc>,
        error: &str,
        failed: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
             status = CASE WHEN $3 = 1 THEN 'failed' ELSE status END WHERE id = $4",
        )
        .bind(to_ms(next_at))
        .bind(error)
        .bind(i64::from(failed))
        .bind(id)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }
}

impl WriteTx {
    /// Marks an inbound event handled.
    pub async fn inbox_done(&mut self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE inbox SET processed_at = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(to_ms(self.now))
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Queues a send in `lane` (sends of one lane go out in order); returns the outbox id.
    pub async fn enqueue(
        &mut self,
        conversation: &ChatAddress,
        lane: &str,
        ticket: Option<TicketId>,
        payload: &str,
    ) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO outbox (platform, conversation, lane, ticket_id, payload, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(conversation.platform().as_str())
        .bind(conversation.to_string())
        .bind(lane)
        .bind(ticket.map(|t| t.0))
        .bind(payload)
        .bind(to_ms(self.now))
        .fetch_one(self.conn())
        .await?;
        Ok(id)
    }

    /// Links a chat message to a ticket (`kind`: root, aura, …); a second link of the same message is ignored.
    pub async fn add_link(&mut self, link: &Link, kind: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ticket_links (ticket_id, platform, conversation, thread, message_id, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (platform, conversation, message_id) DO NOTHING",
        )
        .bind(link.ticket.0)
        .bind(link.conversation.platform().as_str())
        .bind(link.conversation.to_string())
        .bind(link.thread.as_deref())
        .bind(&link.message_id)
        .bind(kind)
        .bind(to_ms(self.now))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The ticket a chat message belongs to, if any.
    pub async fn ticket_of_message(
        &mut self,
        conversation: &ChatAddress,
        message_id: &str,
    ) -> Result<Option<TicketId>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT ticket_id FROM ticket_links WHERE platform = $1 AND conversation = $2 AND message_id = $3",
        )
        .bind(conversation.platform().as_str())
        .bind(conversation.to_string())
        .bind(message_id)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|r| TicketId(r.0)))
    }

    /// The ticket whose root message starts this thread (Matrix and Discord threads are named after their root).
    pub async fn ticket_of_thread(
        &mut self,
        conversation: &ChatAddress,
        thread: &str,
    ) -> Result<Option<TicketId>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT ticket_id FROM ticket_links WHERE platform = $1 AND conversation = $2 AND kind = 'root' \
             AND message_id = $3 ORDER BY id LIMIT 1",
        )
        .bind(conversation.platform().as_str())
        .bind(conversation.to_string())
        .bind(thread)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|r| TicketId(r.0)))
    }

    /// The first thread in `conversation` that holds a message of the ticket (Discord ticket threads).
    pub async fn ticket_thread(
        &mut self,
        ticket: TicketId,
        conversation: &ChatAddress,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT thread FROM ticket_links WHERE ticket_id = $1 AND platform = $2 AND conversation = $3 \
             AND thread IS NOT NULL ORDER BY id LIMIT 1",
        )
        .bind(ticket.0)
        .bind(conversation.platform().as_str())
        .bind(conversation.to_string())
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|r| r.0))
    }

    /// The message a ticket was opened from.
    pub async fn root_link(&mut self, ticket: TicketId) -> Result<Option<Link>, StoreError> {
        let row: Option<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT conversation, thread, message_id FROM ticket_links WHERE ticket_id = $1 AND kind = 'root' \
             ORDER BY id LIMIT 1",
        )
        .bind(ticket.0)
        .fetch_optional(self.conn())
        .await?;
        row.map(|(conversation, thread, message_id)| {
            Ok(Link {
                ticket,
                conversation: conversation
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                thread,
                message_id,
            })
        })
        .transpose()
    }

    /// Tickets opened in a conversation that are not final, newest first.
    pub async fn open_tickets_in(
        &mut self,
        conversation: &ChatAddress,
        limit: i64,
    ) -> Result<Vec<TicketId>, StoreError> {
        let sql = format!(
            "SELECT t.id FROM tickets t JOIN ticket_links l ON l.ticket_id = t.id AND l.kind = 'root' \
             WHERE l.platform = $1 AND l.conversation = $2 AND t.status NOT IN {} \
             ORDER BY t.id DESC LIMIT $3",
            super::FINAL_STATUSES
        );
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(conversation.platform().as_str())
            .bind(conversation.to_string())
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        Ok(rows.into_iter().map(|r| TicketId(r.0)).collect())
    }

    /// Sets a stream cursor.
    pub async fn set_cursor(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(to_ms(self.now))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
