//! Persistence: one `Store` over SQLite or PostgreSQL, chosen by the database URL.
//!
//! Both backends run the same query text through sqlx's `Any` driver (`$N` placeholders, `RETURNING`,
//! integer millisecond timestamps), so a single implementation is tested on both; only the migrations differ.

mod approvals;
mod argo;
mod audit;
mod bots;
mod chat;
mod executions;
mod investigations;
mod migrations;
mod tickets;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::domain::{AuditEntry, IllegalTransition, TicketId};

pub use approvals::{NewApproval, StoredApproval};
pub use argo::{IncidentMessage, IncidentRow};
pub use bots::{BotRun, Deploy, Finding, Incident, OpenTicket, WatchTarget};
pub use chat::{InboxRow, Link, OutboxRow};
pub use executions::Execution;
pub use investigations::{Investigation, NewInvestigation};
pub use tickets::TicketFilter;

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from a URL scheme, or says which schemes work.
    pub fn from_url(url: &str) -> Result<Backend, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err("the database URL must start with sqlite: or postgres://".into())
        }
    }

    /// The engine's name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Store errors a caller branches on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ticket {0} does not exist")]
    NotFound(TicketId),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: Clock,
    events: broadcast::Sender<AuditEntry>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const EVENT_BUFFER: usize = 1024;

/// The final ticket statuses as an SQL list, for "open ticket" queries (a test keeps it in step with the domain).
const FINAL_STATUSES: &str = "('resolved', 'failed', 'cancelled')";

impl Store {
    /// Connects to the database at `url` (creating a SQLite file and its directory if needed).
    pub async fn connect(url: &str, max_connections: u32, clock: Clock) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).map_err(anyhow::Error::msg)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("cannot parse the {} database URL", backend.as_str()))?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the one writer; busy_timeout makes writers queue instead of failing.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
        }
        let pool = pool
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to the {} database", backend.as_str()))?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Store {
            pool,
            backend,
            clock,
            events,
        })
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrations::migrator(self.backend)
            .run(&self.pool)
            .await
            .context("cannot apply database migrations")
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Audit entries as they are committed, for live streams.
    pub fn subscribe(&self) -> broadcast::Receiver<AuditEntry> {
        self.events.subscribe()
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts a write transaction; everything done through it commits (and is published) together.
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        let tx = match self.backend {
            // IMMEDIATE takes the write lock now: a deferred transaction that reads first and writes later can
            // fail with SQLITE_BUSY instead of waiting its turn.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // Serialises writers on the audit chain head, so each sees the hash the previous one wrote.
                sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        Ok(WriteTx {
            tx,
            events: Vec::new(),
            now: self.now(),
            store: self.clone(),
        })
    }

    fn publish(&self, entries: Vec<AuditEntry>) {
        for e in entries {
            // No receiver is fine: nobody is streaming.
            let _ = self.events.send(e);
        }
    }
}

/// A write transaction holding the write lock from its first statement; audit events publish on commit.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    events: Vec<AuditEntry>,
    now: DateTime<Utc>,
    store: Store,
}

impl WriteTx {
    /// The time this transaction stamps on everything it writes.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Commits every change and publishes the audit entries written.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.store.publish(self.events);
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// Adds `mode=rwc` and creates the parent directory, so the default `sqlite://data/aura.db` just works.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let parent = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|_| path != ":memory:") {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}

/// The file a `sqlite:` URL names; `None` for other URLs and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?.trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("bad timestamp {ms}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;

    #[test]
    fn the_final_status_list_matches_the_domain() {
        let finals: Vec<String> = Status::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(FINAL_STATUSES, format!("({})", finals.join(", ")));
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("nested/aura.db");
        let url = format!("sqlite://{}", db.display());
        let prepared = prepare_sqlite_url(&url).expect("prepared");
        assert_eq!(prepared, format!("{url}?mode=rwc"));
        assert!(db.parent().expect("parent").is_dir());
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:").expect("memory"),
            "sqlite://:memory:?mode=rwc"
        );
        assert_eq!(
            prepare_sqlite_url("sqlite://x.db?mode=ro").expect("ro"),
            "sqlite://x.db?mode=ro"
        );
    }

    #[test]
    fn a_sqlite_url_names_its_file() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/aura/aura.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/aura/aura.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://data/aura.db"),
            Some(PathBuf::from("data/aura.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted() {
        assert_eq!(Backend::from_url("sqlite://a.db"), Ok(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://u@h/db"),
            Ok(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }
}
