//! Page view counting, batched: `/p/{id}` must stay fast, and one database write per view is
//! the slowest thing it could do.
//!
//! Views are added up in memory and written in one transaction per flush (every
//! `LIVEPAGE_VIEW_FLUSH_INTERVAL`, and on shutdown). A flush that fails puts its counts back, so
//! views are delayed, never lost. Readers add the pending counts to the stored ones while
//! holding [`ViewCounter::read_lock`], which keeps a flush from landing between their database
//! read and their look at the pending counts, so this instance's answers are exact.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::{Store, StoreError};

#[derive(Debug, Default)]
pub struct ViewCounter {
    /// Views counted but not yet written, by page.
    pending: Mutex<HashMap<Uuid, u64>>,
    /// Held for writing by a flush, for reading by readers of counts: a count is read either
    /// wholly before or wholly after a flush, never half-moved.
    flushing: tokio::sync::RwLock<()>,
}

impl ViewCounter {
    fn pending(&self) -> MutexGuard<'_, HashMap<Uuid, u64>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one view of a page.
    pub fn record(&self, page_id: Uuid) {
        *self.pending().entry(page_id).or_default() += 1;
    }

    /// Views of a page not yet written to the database.
    pub fn pending_for(&self, page_id: Uuid) -> u64 {
        self.pending().get(&page_id).copied().unwrap_or_default()
    }

    /// Hold this while reading a stored count and adding [`Self::pending_for`] to it.
    pub async fn read_lock(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.flushing.read().await
    }

    /// Writes the pending counts; on failure they are kept for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let _exclusive = self.flushing.write().await;
        let batch: Vec<(Uuid, u64)> = self.pending().drain().collect();
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(err) = store.add_views(&batch).await {
            let mut pending = self.pending();
            for (id, views) in batch {
                *pending.entry(id).or_default() += views;
            }
            return Err(err);
        }
        Ok(())
    }

    /// Flushes every `interval` until `stop` is cancelled, then flushes once more.
    pub async fn run(&self, store: Store, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {
                    if let Err(err) = self.flush(&store).await {
                        tracing::warn!(error = %err, "flushing view counts failed; will retry");
                    }
                }
            }
        }
        if let Err(err) = self.flush(&store).await {
            tracing::error!(error = %err, "flushing view counts at shutdown failed");
        }
    }
}
