//! Test harness: fresh databases on both backends, `spawn_app()` on a random port, and the `aura` binary.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aura::app::App;
use aura::clock::Clock;
use aura::config::Config;
use aura::state::SharedState;
use aura::storage::Store;
use sqlx::{Connection, Executor};
use tokio::task::JoinHandle;

/// Every async test runs under this limit.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `fut` with the test timeout.
pub async fn timed<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, fut)
        .await
        .expect("test timed out")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a SQLite file in a temp dir, or a fresh PostgreSQL database.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database; `None` (with a note) when PostgreSQL is not configured and not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => Some(TestDb {
                url: format!("sqlite://{}", dir.path().join("aura.db").display()),
                dir,
                postgres: None,
            }),
            Backend::Postgres => {
                let admin = match std::env::var("DATABASE_URL") {
                    Ok(url) if url.starts_with("postgres") => url,
                    _ if std::env::var("AURA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                        panic!("AURA_REQUIRE_POSTGRES=1 but DATABASE_URL is not a postgres:// URL")
                    }
                    _ => {
                        eprintln!("note: DATABASE_URL is not set; skipping the PostgreSQL variant");
                        return None;
                    }
                };
                sqlx::any::install_default_drivers();
                let name = format!("aura_t_{:016x}", rand::random::<u64>());
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .expect("DATABASE_URL must reach a PostgreSQL server");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin).expect("DATABASE_URL is a URL");
                url.set_path(&name);
                Some(TestDb {
                    url: url.to_string(),
                    dir,
                    postgres: Some((admin, name)),
                })
            }
        }
    }

    /// A store on this database, migrated.
    pub async fn store(&self, clock: Clock) -> Store {
        let store = Store::connect(&self.url, 4, clock).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// Runs one raw SQL statement (for tampering and inspection).
    pub async fn execute(&self, sql: &str) -> u64 {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect");
        let done = conn
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .expect("execute");
        conn.close().await.ok();
        done.rows_affected()
    }

    /// Drops a PostgreSQL test database; SQLite files go with the temp dir.
    pub async fn drop_db(self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await
        {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

/// Declares one async test per backend: `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($db:ident: TestDb) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($db: &$crate::common::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::with_db($crate::common::Backend::Sqlite, |db| Box::pin(run(db))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::with_db($crate::common::Backend::Postgres, |db| Box::pin(run(db))).await;
            }
        }
    };
}
pub(crate) use on_both_backends;

/// Creates a database, runs the test body with a timeout, drops the database.
pub async fn with_db<F>(backend: Backend, body: F)
where
    F: for<'a> FnOnce(&'a TestDb) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
{
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    timed(body(&db)).await;
    db.drop_db().await;
}

/// A running Aura on a random port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: SharedState,
    pub http: reqwest::Client,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The config every test app starts from: the test's database, port 0.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::default();
    config.database.url = db.url.clone();
    config.http.listen = "127.0.0.1:0".into();
    config.http.stream_heartbeat_secs = 1;
    config
}

/// Builds and runs Aura with `config`.
pub async fn spawn_app(config: Config) -> TestApp {
    spawn_app_with_clock(config, Clock::system()).await
}

/// Builds and runs Aura with `config` and `clock` (a manual clock moves time windows without sleeping).
pub async fn spawn_app_with_clock(config: Config, clock: Clock) -> TestApp {
    let app = App::build(config, clock).await.expect("app builds");
    let addr = app.local_addr().expect("addr");
    let state = app.state();
    let handle = tokio::spawn(app.run());
    TestApp {
        addr,
        state,
        http: reqwest::Client::new(),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GETs a JSON document from the app.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.http.get(self.url(path)).send().await.expect("GET");
        resp.json().await.expect("json")
    }

    /// Waits (up to 30 s) until ticket `id` is in `want`; it may not exist yet when a command is on its way.
    pub async fn wait_status(&self, id: aura::domain::TicketId, want: aura::domain::Status) {
        for _ in 0..300 {
            if self
                .state
                .store
                .ticket(id)
                .await
                .is_ok_and(|t| t.status == want)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "ticket {id} never reached {want}: {:?}",
            self.state.store.ticket(id).await
        );
    }

    /// Kills the app without any drain, the way a crash or SIGKILL would.
    pub fn crash(mut self) {
        // Aborting `run` drops its JoinSet, which aborts every task at its current await point.
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }

    /// Stops the app the way SIGTERM does and waits for a clean exit.
    pub async fn stop(mut self) {
        self.state.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("run task").expect("clean shutdown");
        }
    }
}

/// The `aura` binary built for these tests.
pub fn aura_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aura"))
}
