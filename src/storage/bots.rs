//! Monitoring agents' rows: scheduled runs (unique per bot and time), watchman's endpoint states and findings, and
//! the read-only queries a briefing gathers its facts with.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, WriteTx, from_ms, to_ms};

/// A finished run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRun {
    pub bot: String,
    pub scheduled_for: DateTime<Utc>,
    /// `posted`, `quiet` or `failed`.
    pub status: String,
    pub tokens: i64,
    pub output: String,
    pub error: Option<String>,
}

/// An endpoint's last known state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    pub bot: String,
    pub name: String,
    pub url: String,
    /// `up` or `down`.
    pub state: String,
    pub since: DateTime<Utc>,
    pub detail: String,
}

/// A change watchman saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub bot: String,
    pub target: String,
    /// `up` or `down`.
    pub state: String,
    pub detail: String,
    pub down_for: Option<chrono::Duration>,
    pub observed_at: DateTime<Utc>,
}

/// A revision deployed to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub app: String,
    pub revision: String,
    pub at: DateTime<Utc>,
}

/// An incident of an application; `closed_at` is unset while it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub app: String,
    pub health: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// An open ticket, for the briefing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenTicket {
    pub id: i64,
    pub title: String,
    pub status: String,
}

type RunRow = (String, i64, String, i64, String, Option<String>);
type TargetRow = (String, String, String, String, i64, String);
type FindingRow = (String, String, String, String, Option<i64>, i64);

impl Store {
    /// Whether `bot` already ran for `scheduled_for`.
    pub async fn bot_run_exists(
        &self,
        bot: &str,
        scheduled_for: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bot_runs WHERE bot = $1 AND scheduled_for = $2",
        )
        .bind(bot)
        .bind(to_ms(scheduled_for))
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The runs of `bot`, oldest first.
    pub async fn bot_runs(&self, bot: &str) -> Result<Vec<BotRun>, StoreError> {
        let rows: Vec<RunRow> = sqlx::query_as(
            "SELECT bot, scheduled_for, status, tokens, output, error FROM bot_runs WHERE bot = $1 ORDER BY scheduled_for",
        )
        .bind(bot)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(bot, at, status, tokens, output, error)| {
                Ok(BotRun {
                    bot,
                    scheduled_for: from_ms(at)?,
                    status,
                    tokens,
                    output,
                    error,
                })
            })
            .collect()
    }

    /// Every endpoint state a watchman keeps.
    pub async fn watch_targets(&self, bot: &str) -> Result<Vec<WatchTarget>, StoreError> {
        let rows: Vec<TargetRow> = sqlx::query_as(
            "SELECT bot, name, url, state, since, detail FROM watch_targets WHERE bot = $1 ORDER BY name",
        )
        .bind(bot)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(target).collect()
    }

    /// Endpoints currently down, of every watchman.
    pub async fn targets_down(&self) -> Result<Vec<WatchTarget>, StoreError> {
        let rows: Vec<TargetRow> = sqlx::query_as(
            "SELECT bot, name, url, state, since, detail FROM watch_targets WHERE state = 'down' ORDER BY since",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(target).collect()
    }

    /// Findings of every watchman since `since`, oldest first.
    pub async fn findings_since(&self, since: DateTime<Utc>) -> Result<Vec<Finding>, StoreError> {
        let rows: Vec<FindingRow> = sqlx::query_as(
            "SELECT bot, target, state, detail, down_for_ms, observed_at FROM watch_findings \
             WHERE observed_at >= $1 ORDER BY observed_at, id",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(bot, target, state, detail, down, at)| {
                Ok(Finding {
                    bot,
                    target,
                    state,
                    detail,
                    down_for: down.map(chrono::Duration::milliseconds),
                    observed_at: from_ms(at)?,
                })
            })
            .collect()
    }

    /// Revisions deployed since `since`, oldest first.
    pub async fn deploys_since(&self, since: DateTime<Utc>) -> Result<Vec<Deploy>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT app, revision, deployed_at FROM argo_deploys WHERE deployed_at >= $1 ORDER BY deployed_at, id",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(app, revision, at)| {
                Ok(Deploy {
                    app,
                    revision,
                    at: from_ms(at)?,
                })
            })
            .collect()
    }

    /// Incidents opened or closed since `since`, and those still open, oldest first.
    pub async fn incidents_since(&self, since: DateTime<Utc>) -> Result<Vec<Incident>, StoreError> {
        let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT app, health, opened_at, closed_at FROM argo_incidents \
             WHERE opened_at >= $1 OR closed_at IS NULL OR closed_at >= $1 ORDER BY opened_at, id",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(app, health, opened, closed)| {
                Ok(Incident {
                    app,
                    health,
                    opened_at: from_ms(opened)?,
                    closed_at: closed.map(from_ms).transpose()?,
                })
            })
            .collect()
    }

    /// Tickets not resolved, failed or cancelled, oldest first, at most `limit`.
    pub async fn open_tickets(&self, limit: i64) -> Result<Vec<OpenTicket>, StoreError> {
        let sql = format!(
            "SELECT id, title, status FROM tickets WHERE status NOT IN {} ORDER BY id LIMIT $1",
            super::FINAL_STATUSES
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Approval requests still waiting for a decision at `now`.
    pub async fn pending_approvals(&self, now: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM approvals WHERE decision IS NULL AND expires_at > $1",
        )
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await?)
    }
}

fn target((bot, name, url, state, since, detail): TargetRow) -> Result<WatchTarget, StoreError> {
    Ok(WatchTarget {
        bot,
        name,
        url,
        state,
        since: from_ms(since)?,
        detail,
    })
}

impl WriteTx {
    /// Records a run; `false` (and nothing written) when `bot` already ran for that time.
    pub async fn record_bot_run(&mut self, run: &BotRun) -> Result<bool, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO bot_runs (bot, scheduled_for, status, started_at, finished_at, tokens, output, error) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7) ON CONFLICT (bot, scheduled_for) DO NOTHING RETURNING id",
        )
        .bind(&run.bot)
        .bind(to_ms(run.scheduled_for))
        .bind(&run.status)
        .bind(to_ms(self.now()))
        .bind(run.tokens)
        .bind(&run.output)
        .bind(run.error.as_deref())
        .fetch_optional(self.conn())
        .await?;
        Ok(id.is_some())
    }

    /// Stores an endpoint's state (`since` is when it entered that state).
    pub async fn set_watch_target(&mut self, t: &WatchTarget) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO watch_targets (bot, name, url, state, since, last_checked, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (bot, name) DO UPDATE SET url = $3, state = $4, since = $5, last_checked = $6, detail = $7",
        )
        .bind(&t.bot)
        .bind(&t.name)
        .bind(&t.url)
        .bind(&t.state)
        .bind(to_ms(t.since))
        .bind(to_ms(self.now()))
        .bind(&t.detail)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Keeps a change watchman saw.
    pub async fn add_finding(&mut self, f: &Finding) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO watch_findings (bot, target, state, detail, down_for_ms, observed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&f.bot)
        .bind(&f.target)
        .bind(&f.state)
        .bind(&f.detail)
        .bind(f.down_for.map(|d| d.num_milliseconds()))
        .bind(to_ms(f.observed_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
