//! What every generation's run works with: the store, the upstream, the sanitizer, the
//! settings, the URLs, the metrics and the slots for the upstream, in one [`Pipeline`] built
//! once by the application. The registry ([`Generations`](super::Generations)) only starts runs
//! and keeps track of them; a run ([`Run`](super::run::Run)) takes the pipeline, not the
//! registry.

use std::sync::{Arc, OnceLock};

use uuid::Uuid;

use super::Urls;
use super::queue::Queue;
use crate::cluster::{Cluster, Notice};
use crate::config::GenerationConfig;
use crate::metrics::GenerationMetrics;
use crate::sanitize::SanitizerPool;
use crate::store::Store;
use crate::upstream::UpstreamClient;

/// The dependencies of a generation's run, shared by all of them.
#[derive(Debug)]
pub struct Pipeline {
    pub(super) store: Store,
    pub(super) upstream: UpstreamClient,
    pub(super) sanitizer: SanitizerPool,
    /// `LIVEPAGE_MAX_ATTEMPTS`, the timeouts, the queue's size, …: the configuration's
    /// generation group as it is.
    pub(super) settings: GenerationConfig,
    /// The bases of the URLs that events carry.
    pub(super) urls: Urls,
    /// Counters and histograms of every generation's life, for `/metrics`.
    pub(super) metrics: GenerationMetrics,
    /// Slots for talking to the upstream, and the generations waiting for one.
    pub(super) queue: Queue,
    /// With Redis: the other instances, which see every event of the generations run here
    /// and hear of the pages a refine changed.
    pub(super) cluster: Option<Arc<Cluster>>,
    /// This instance's id, recorded on the generations it runs.
    pub(super) instance: Uuid,
    /// Told of a page a refine gave a new version, before its `completed` event: the cache of
    /// served pages forgets the old one (set once, by the application).
    page_changed: OnceLock<PageChanged>,
}

/// What is told of a page that changed.
struct PageChanged(Box<dyn Fn(Uuid) + Send + Sync>);

impl std::fmt::Debug for PageChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageChanged(…)")
    }
}

impl Pipeline {
    pub fn new(
        store: Store,
        upstream: UpstreamClient,
        sanitizer: SanitizerPool,
        settings: GenerationConfig,
        urls: Urls,
        metrics: GenerationMetrics,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        Self {
            instance: cluster.as_ref().map_or_else(Uuid::new_v4, |c| c.instance()),
            cluster,
            queue: Queue::new(
                settings.max_concurrent as usize,
                settings.max_queued as usize,
            ),
            store,
            upstream,
            sanitizer,
            settings,
            urls,
            metrics,
            page_changed: OnceLock::new(),
        }
    }

    /// Has `changed` told of every page a refine gives a new version, before the refine's
    /// `completed` event. Only the first call counts.
    pub fn on_page_changed(&self, changed: impl Fn(Uuid) + Send + Sync + 'static) {
        let _ = self.page_changed.set(PageChanged(Box::new(changed)));
    }

    /// A refine saved a new version of page `id`: the caches here forget it, and so do the
    /// other instances' (through Redis; PostgreSQL announced it in the saving transaction).
    pub(super) async fn announce_page_changed(&self, id: Uuid) {
        if let Some(changed) = self.page_changed.get() {
            (changed.0)(id);
        }
        if let Some(cluster) = &self.cluster
            && let Err(err) = cluster.notify(Notice::PageChanged(id)).await
        {
            tracing::warn!(error = %err, page_id = %id, "could not tell the other instances through Redis that a page changed");
        }
    }
}
