//! The Argo CD feed's memory: the last known state of every Application, its incidents (with the messages to
//! edit) and its deploys.

use super::{Store, StoreError, WriteTx, from_ms, to_ms};
use crate::domain::ChatAddress;
use crate::domain::feed::{OpenIncident, Record};

/// name, health, sync, revision, pending_since, deployed_revision, revision_changed_at, and the open incident's
/// id, health, details, opened_at.
type RecordRow = (
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const SELECT: &str = "SELECT a.name, a.health, a.sync, a.revision, a.pending_since, a.deployed_revision, \
    a.revision_changed_at, i.id, i.health, i.details, i.opened_at \
    FROM argo_apps a LEFT JOIN argo_incidents i ON i.id = a.incident_id";

fn record(row: RecordRow) -> Result<(String, Record), StoreError> {
    let incident = match (row.7, row.8, row.10) {
        (Some(id), Some(health), Some(opened)) => Some(OpenIncident {
            id,
            health,
            details: row.9.unwrap_or_default(),
            opened_at: from_ms(opened)?,
        }),
        _ => None,
    };
    Ok((
        row.0,
        Record {
            health: row.1,
            sync: row.2,
            revision: row.3,
            pending_since: row.4.map(from_ms).transpose()?,
            incident,
            deployed_revision: row.5,
            revision_changed_at: row.6.map(from_ms).transpose()?,
        },
    ))
}

/// One message of an incident: where it went and its outbox id (the target of edits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncidentMessage {
    pub to: ChatAddress,
    pub outbox: i64,
}

/// An incident as the briefing and the API read it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub app: String,
    pub health: String,
    pub revision: Option<String>,
    pub details: String,
    pub ticket_id: Option<i64>,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

impl Store {
    /// Every application the feed knows, with its open incident.
    pub async fn argo_records(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let rows: Vec<RecordRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY a.name")))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(record).collect()
    }

    /// The incidents of one application, newest first.
    pub async fn argo_incidents(&self, app: &str) -> Result<Vec<IncidentRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, app, health, revision, details, ticket_id, opened_at, closed_at FROM argo_incidents \
             WHERE app = $1 ORDER BY id DESC",
        )
        .bind(app)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl WriteTx {
    /// Stores what is known about an application.
    pub async fn save_argo_record(&mut self, name: &str, r: &Record) -> Result<(), StoreError> {
        let now = to_ms(self.now());
        sqlx::query(
            "INSERT INTO argo_apps (name, health, sync, revision, pending_since, incident_id, deployed_revision, \
               revision_changed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (name) DO UPDATE SET health = $2, sync = $3, revision = $4, pending_since = $5, \
               incident_id = $6, deployed_revision = $7, revision_changed_at = $8, updated_at = $9",
        )
        .bind(name)
        .bind(&r.health)
        .bind(&r.sync)
        .bind(&r.revision)
        .bind(r.pending_since.map(to_ms))
        .bind(r.incident.as_ref().map(|i| i.id))
        .bind(&r.deployed_revision)
        .bind(r.revision_changed_at.map(to_ms))
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Forgets an application (it was deleted); its incidents and deploys stay as history.
    pub async fn delete_argo_record(&mut self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM argo_apps WHERE name = $1")
            .bind(name)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Opens an incident; returns its id.
    pub async fn open_incident(
        &mut self,
        app: &str,
        health: &str,
        revision: Option<&str>,
        details: &str,
    ) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO argo_incidents (app, health, revision, details, opened_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
        )
        .bind(app)
        .bind(health)
        .bind(revision)
        .bind(details)
        .bind(to_ms(self.now()))
        .fetch_one(self.conn())
        .await?;
        Ok(id)
    }

    /// One incident.
    pub async fn incident(&mut self, id: i64) -> Result<IncidentRow, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, app, health, revision, details, ticket_id, opened_at, closed_at FROM argo_incidents \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_one(self.conn())
        .await?)
    }

    /// Records the incident's messages, the targets of later edits.
    pub async fn set_incident_messages(
        &mut self,
        id: i64,
        messages: &[IncidentMessage],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(messages)
            .map_err(|e| StoreError::Corrupt(format!("incident messages: {e}")))?;
        sqlx::query("UPDATE argo_incidents SET messages = $1 WHERE id = $2")
            .bind(json)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The incident's messages.
    pub async fn incident_messages(&mut self, id: i64) -> Result<Vec<IncidentMessage>, StoreError> {
        let (json,): (String,) =
            sqlx::query_as("SELECT messages FROM argo_incidents WHERE id = $1")
                .bind(id)
                .fetch_one(self.conn())
                .await?;
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("incident {id}: {e}")))
    }

    /// Updates what an open incident says; `closed` closes it now.
    pub async fn update_incident(
        &mut self,
        id: i64,
        health: &str,
        details: &str,
        closed: bool,
    ) -> Result<(), StoreError> {
        let closed_at = closed.then(|| to_ms(self.now()));
        sqlx::query(
            "UPDATE argo_incidents SET health = $1, details = $2, closed_at = COALESCE($3, closed_at) WHERE id = $4",
        )
        .bind(health)
        .bind(details)
        .bind(closed_at)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Links the ticket proposing the revert to its incident.
    pub async fn set_incident_ticket(&mut self, id: i64, ticket: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE argo_incidents SET ticket_id = $1 WHERE id = $2")
            .bind(ticket)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Records a deploy; false when this revision of the app was recorded before (announce nothing then).
    pub async fn record_deploy(&mut self, app: &str, revision: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO argo_deploys (app, revision, deployed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (app, revision) DO NOTHING",
        )
        .bind(app)
        .bind(revision)
        .bind(to_ms(self.now()))
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
