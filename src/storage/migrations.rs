//! Schema status without changing it: which migrations this binary carries that the database has not applied.

use anyhow::Context;
use sqlx::migrate::{Migrate, Migrator};

use super::{Backend, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, Store};

impl Store {
    /// Migrations not yet applied, as `version description`, oldest first; reads only.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        let migrator = migrator(self.backend);
        let table = migrator.table_name.as_ref();
        let exists_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("cannot get a connection")?;
        let tables: i64 = sqlx::query_scalar(exists_sql)
            .bind(table)
            .fetch_one(&mut *conn)
            .await
            .context("cannot look for the migrations table")?;
        if tables == 0 {
            return Ok(describe(migrator.iter()));
        }
        if let Some(version) = conn.dirty_version(table).await? {
            anyhow::bail!(
                "migration {version} failed half-way; restore a backup or repair it by hand"
            );
        }
        let applied = conn
            .list_applied_migrations(table)
            .await
            .context("cannot read the applied migrations")?;
        Ok(describe(migrator.iter().filter(|m| {
            !applied.iter().any(|a| a.version == m.version)
        })))
    }
}

pub(super) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

fn describe<'a>(migrations: impl Iterator<Item = &'a sqlx::migrate::Migration>) -> Vec<String> {
    migrations
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| format!("{} {}", m.version, m.description))
        .collect()
}
