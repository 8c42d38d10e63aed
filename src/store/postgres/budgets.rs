//! Rate-limit budgets kept in the database, so that every instance on it spends from the
//! same ones.

use std::num::NonZeroU32;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgPool;

use super::PgStore;
use crate::store::StoreError;

impl PgStore {
    /// Rate-limit budgets shared by the instances on this database.
    pub fn shared_budgets(&self) -> SharedBudgets {
        SharedBudgets {
            pool: self.pool.clone(),
        }
    }
}

/// Rate-limit budgets in the database, shared by every instance on it (GCRA, the algorithm
/// `governor` uses in memory). Times come from the database's clock, so instances whose clocks
/// differ still agree.
#[derive(Debug, Clone)]
pub struct SharedBudgets {
    pool: PgPool,
}

impl SharedBudgets {
    /// Takes one unit from `key`'s budget of `per_minute` a minute (bursts up to that many), or
    /// says how long until one is back.
    pub async fn take(
        &self,
        key: &str,
        per_minute: NonZeroU32,
    ) -> Result<Result<(), Duration>, StoreError> {
        let interval = Duration::from_secs(60) / per_minute.get();
        let burst = interval * (per_minute.get() - 1);
        let (interval_us, burst_us) = (micros(interval), micros(burst));
        let key = Sha256::digest(key.as_bytes()).to_vec();
        let taken = sqlx::query(
            "INSERT INTO rate_limits AS budget (key, tat)
             VALUES ($1, now() + $2 * interval '1 microsecond')
             ON CONFLICT (key) DO UPDATE
             SET tat = greatest(budget.tat, now()) + $2 * interval '1 microsecond'
             WHERE greatest(budget.tat, now()) <= now() + $3 * interval '1 microsecond'
             RETURNING key",
        )
        .bind(&key)
        .bind(interval_us)
        .bind(burst_us)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let wait_us: Option<i64> = sqlx::query_scalar(
            "SELECT (extract(epoch FROM tat - now()) * 1000000)::bigint - $2
             FROM rate_limits WHERE key = $1",
        )
        .bind(&key)
        .bind(burst_us)
        .fetch_optional(&self.pool)
        .await?;
        let wait_us = u64::try_from(wait_us.unwrap_or_default()).unwrap_or_default();
        Ok(Err(Duration::from_micros(wait_us)))
    }

    /// Deletes the budgets that are full again (the same as having none), so the table stays
    /// as small as the set of recent clients.
    pub async fn forget_full(&self) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM rate_limits WHERE tat < now()")
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
