//! The PostgreSQL backend of [`Store`](super::Store): the production database
//! (`postgres://…`).
//!
//! It owns the connection settings (a per-connection `statement_timeout`, so a stuck query
//! cannot hold a pooled connection forever), the migrations in `migrations/postgres`, and the
//! mapping to PostgreSQL's native types: `uuid`, `timestamptz`, `jsonb`, `bigint`, `boolean`.
//! Migrations run under sqlx's advisory lock, so several instances may start at once.
//!
//! The queries are grouped by what they touch, each file adding to [`PgStore`]'s methods:
//! `pages.rs` (pages, their owners' lists, views), `versions.rs` (a page's versions),
//! `generations.rs` (generation rows), `reports.rs` (reports and takedowns), `stats.rs` (the
//! admin statistics), `notices.rs` (`LISTEN`/`NOTIFY` between instances: cancel requests and
//! page changes) and `budgets.rs` (rate-limit budgets shared through the database).

mod budgets;
mod generations;
mod notices;
mod pages;
mod reports;
mod stats;
mod versions;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{StoreError, StoreOptions};

pub use budgets::SharedBudgets;
pub use notices::{Notice, Notices};

/// Pages and generations in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// How to open the connection that `LISTEN`s for cancel requests: one of its own, outside
    /// `pool`, whose size is the operator's.
    listen: Arc<ListenOptions>,
}

#[derive(Debug, Clone)]
struct ListenOptions {
    connect: PgConnectOptions,
    acquire_timeout: Duration,
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations.
    ///
    /// Errors never show the URL, so its password cannot leak into logs.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let connect_options = connect_options(url, options)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options.clone())
            .await?;
        let listen = Arc::new(ListenOptions {
            connect: connect_options,
            acquire_timeout: options.acquire_timeout,
        });
        // sqlx's migrator holds a PostgreSQL advisory lock while it runs, so instances that
        // start together apply each migration once; keep its locking on.
        let mut migrator: Migrator = sqlx::migrate!("migrations/postgres");
        // Instances of the previous release run on during a rolling deploy, and one rolled back
        // to must still start: a migration this binary does not know is not an error.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool, listen })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool. The connection of [`Notices`] goes with it (drop it first).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

type Transaction = sqlx::Transaction<'static, sqlx::Postgres>;

fn connect_options(url: &str, options: &StoreOptions) -> Result<PgConnectOptions, StoreError> {
    let statement_timeout = format!("{}ms", options.statement_timeout.as_millis());
    Ok(PgConnectOptions::from_str(url)?
        // Sent at connection start-up, so it holds for every statement on every pooled
        // connection, migrations included, with no extra round trip.
        .options([("statement_timeout", statement_timeout)])
        // Names our sessions in pg_stat_activity.
        .application_name("livepage"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::testing::{Backend, FreshDatabase};

    #[tokio::test]
    async fn every_connection_has_the_configured_statement_timeout() {
        let Some(backend) = Backend::postgres() else {
            return;
        };
        let database = FreshDatabase::create(&backend).await;
        let options = StoreOptions {
            statement_timeout: Duration::from_millis(1_500),
            ..StoreOptions::default()
        };
        let store = PgStore::connect(database.url(), &options).await.unwrap();

        let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(timeout, "1500ms");
        let slow = sqlx::query("SELECT pg_sleep(5)").execute(&store.pool).await;
        assert!(matches!(slow, Err(sqlx::Error::Database(_))), "{slow:?}");

        store.close().await;
        database.cleanup().await;
    }
}
