//! Building and running the service: the one place where the parts are wired together.
//!
//! [`Application::build`] takes an already-bound listener, so tests bind `127.0.0.1:0` and read
//! the port back; [`Application::run_until_stopped`] serves until the shutdown future resolves,
//! then drains: new generations are refused, running ones get `LIVEPAGE_SHUTDOWN_GRACE` to
//! finish (their streams keep flowing meanwhile), view counts are flushed and the pool closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytesize::ByteSize;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::cluster::{Cluster, Notice, Retention};
use crate::config::Config;
use crate::descriptors::{self, Budget, Descriptors};
use crate::generation::{Admission, Generations, Pipeline};
use crate::http::limits::RateLimits;
use crate::http::page_cache::PageCache;
use crate::http::server::{self, Timeouts};
use crate::http::{self, AppState, Shared};
use crate::memory::{self, MemoryLimit, MemorySetting};
use crate::metrics::Metrics;
use crate::mock::{MockUpstream, Script};
use crate::sanitize::{Sanitizer, SanitizerPool};
use crate::store::{Notice as StoreNotice, Notices, Store, StoreOptions};
use crate::upstream::{UpstreamClient, UpstreamSettings};
use crate::views::ViewCounter;

/// How much published HTML `/p/{id}` keeps in memory: a few thousand typical pages.
const PAGE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How long `/p/{id}` serves a page from memory before asking the database again. Changes made
/// through LivePage reach every instance's cache at once (see `page_cache`); this bounds how
/// long a change made in the database by hand, or a notice lost with its connection, may go
/// unseen.
const PAGE_CACHE_TTL: Duration = Duration::from_secs(60);

/// How long shutdown waits for the last events of drained generations to reach Redis.
const CLUSTER_FLUSH: Duration = Duration::from_secs(5);

/// How often each instance looks for generations whose instance is gone (with Redis; on
/// SQLite only at start-up).
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// A configured service, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// `/metrics` on a listener of its own (`LIVEPAGE_METRICS_ADDR`), so it is never public.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The descriptor budget: the accept loops count connections in it, the registry
    /// generations.
    descriptors: Arc<Descriptors>,
    /// The in-process demo model, when there is no API key.
    demo_upstream: Option<JoinHandle<()>>,
    /// Stops the background view-count flusher (which flushes once more on its way out).
    stop_flusher: CancellationToken,
    flusher: JoinHandle<()>,
    /// Acts on what other instances announce on PostgreSQL (page changes; cancel requests
    /// without Redis); aborted at shutdown.
    notice_listener: Option<JoinHandle<()>>,
    /// Marks failed the generations of instances that are gone; aborted at shutdown.
    sweeper: JoinHandle<()>,
}

impl Application {
    /// Connects and migrates the database, starts the demo model if needed, and prepares the
    /// routes on `listener`.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let metrics_listener = match config.server.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("LIVEPAGE_METRICS_ADDR: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        let store_options = StoreOptions {
            max_connections: config.storage.db_max_connections,
            acquire_timeout: config.storage.db_acquire_timeout,
            statement_timeout: config.storage.db_statement_timeout,
        };
        let store = Store::connect(&config.storage.database_url, &store_options)
            .await
            .context("DATABASE_URL: could not open the database")?
            .instrument(metrics.db.clone());

        let (base_url, demo_upstream) = if config.upstream.demo_mode() {
            let (url, task) = start_demo_upstream(&config).await?;
            tracing::warn!(
                "demo mode: OPENROUTER_API_KEY is not set, so pages are written by the built-in demo model at {url}"
            );
            (url, Some(task))
        } else {
            (config.upstream.openrouter_base_url.clone(), None)
        };
        let upstream = UpstreamClient::new(UpstreamSettings {
            base_url,
            api_key: config.upstream.openrouter_api_key.clone(),
            referer: config.upstream.openrouter_referer.clone(),
            title: config.upstream.openrouter_title.clone(),
            max_tokens: config.upstream.max_tokens,
            connect_timeout: config.upstream.connect_timeout,
        })
        .context("building the upstream HTTP client")?;

        let sanitizer = SanitizerPool::new(Sanitizer::new(config.pages.styles))
            .context("starting the sanitizer threads")?;
        let limit = descriptors::raise_limit();
        let cluster = match &config.cluster.redis_url {
            Some(url) => {
                let retention = Retention {
                    finished: config.generation.event_retention,
                    running: config.generation.generation_timeout
                        + config.generation.event_retention,
                };
                Some(Cluster::connect(url.expose_secret(), retention).await?)
            }
            None => None,
        };
        let descriptors = descriptor_budget(&config, limit)?;
        let memory = memory_limit(config.server.memory_limit)?;
        let mut pages = PageCache::new(PAGE_CACHE_BYTES, PAGE_CACHE_TTL);
        if config.pages.report_link {
            pages = pages.with_report_link(config.server.public_url());
        }
        let pipeline = Pipeline::new(
            store.clone(),
            upstream,
            sanitizer,
            config.generation.clone(),
            config.server.urls(),
            metrics.generation.clone(),
            cluster.clone(),
        );
        pipeline.on_page_changed({
            let pages = pages.clone();
            move |id| pages.invalidate(id)
        });
        let generations = Generations::new(
            pipeline,
            Admission {
                descriptors: Arc::clone(&descriptors),
                memory,
            },
        );
        // Before any request: on SQLite every row still running was left by an earlier run.
        report_abandoned(generations.fail_abandoned().await);
        let sweeper = tokio::spawn(fail_abandoned(Arc::downgrade(&generations)));
        // A client may ask any instance to cancel a generation another one runs: through
        // Redis when there is one, else through PostgreSQL.
        if let Some(cluster) = &cluster {
            let (generations, pages) = (Arc::downgrade(&generations), pages.clone());
            cluster.listen(move |notice| match notice {
                Notice::Cancel(id) => {
                    if let Some(generations) = generations.upgrade() {
                        generations.cancel_here(id);
                    }
                }
                Notice::PageChanged(id) => pages.invalidate(id),
            });
        }
        // Every instance on one PostgreSQL database hears of changed pages through it, with
        // Redis or without (a second path: a notice lost with one connection still arrives by
        // the other); cancel requests only without Redis, which carries them otherwise.
        let notices = store
            .notices(cluster.is_none())
            .await
            .context("DATABASE_URL: could not listen for notices")?;
        let notice_listener = notices.map(|notices| {
            tokio::spawn(follow_notices(
                notices,
                Arc::downgrade(&generations),
                pages.clone(),
            ))
        });
        let views = Arc::new(ViewCounter::default());
        let stop_flusher = CancellationToken::new();
        let flusher = tokio::spawn({
            let (views, store, stop) = (Arc::clone(&views), store.clone(), stop_flusher.clone());
            let interval = config.storage.view_flush_interval;
            async move { views.run(store, interval, stop).await }
        });

        let limits = Arc::new(
            RateLimits::new(
                config.rate_limits.rate_limit_per_ip,
                config.rate_limits.rate_limit_per_email,
                config.rate_limits.trusted_proxies.clone(),
                store.shared_budgets(),
            )
            .with_reports_per_ip(config.rate_limits.rate_limit_reports_per_ip),
        );
        tokio::spawn(forget_idle_clients(Arc::downgrade(&limits)));

        let state = AppState::new(Shared {
            config: Arc::new(config),
            store,
            generations,
            views,
            limits,
            metrics,
            pages,
            cluster,
        });
        Ok(Self {
            sweeper,
            descriptors,
            listener,
            metrics_listener,
            state,
            demo_upstream,
            stop_flusher,
            flusher,
            notice_listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains and cleans up.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            state,
            descriptors,
            demo_upstream,
            stop_flusher,
            flusher,
            notice_listener,
            sweeper,
        } = self;
        let timeouts = Timeouts {
            header_read: state.config.server.header_read_timeout,
            idle: state.config.server.idle_connection_timeout,
        };
        let generations = Arc::clone(&state.generations);
        let grace = state.config.server.shutdown_grace;
        let router = http::router(state.clone());
        let stop_metrics = CancellationToken::new();
        let metrics_server = match metrics_listener {
            Some(listener) => {
                tracing::info!(addr = %listener.local_addr()?, "serving metrics");
                Some(tokio::spawn(server::serve(
                    listener,
                    http::metrics_router(state.clone()),
                    timeouts,
                    Arc::clone(&descriptors),
                    stop_metrics.clone().cancelled_owned(),
                )))
            }
            None => None,
        };
        tracing::info!(addr = %listener.local_addr()?, "listening");
        server::serve(listener, router, timeouts, descriptors, async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: draining generations"
            );
            // The server keeps serving meanwhile, so running streams reach their end.
            generations.shutdown(grace).await;
        })
        .await;

        // Metrics stayed available through the drain; now they have nothing left to tell.
        stop_metrics.cancel();
        if let Some(server) = metrics_server
            && let Err(err) = server.await
        {
            tracing::error!(error = %err, "the metrics listener task failed");
        }
        stop_flusher.cancel();
        if let Err(err) = flusher.await {
            tracing::error!(error = %err, "the view counter task failed");
        }
        // It only waits for requests; stopping it drops its connection.
        if let Some(task) = notice_listener {
            task.abort();
        }
        sweeper.abort();
        // The drained generations' last events still have to reach the other instances.
        if let Some(cluster) = &state.cluster {
            cluster.shutdown(CLUSTER_FLUSH).await;
        }
        state.store.close().await;
        if let Some(task) = demo_upstream {
            task.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The memory limit, resolved and logged; start-up fails when the process already holds more,
/// since it would then refuse every generation.
fn memory_limit(setting: MemorySetting) -> anyhow::Result<MemoryLimit> {
    let limit = MemoryLimit::resolve(setting);
    let resident = memory::resident();
    if let (Some(bytes), Some(resident)) = (limit.bytes(), resident)
        && resident >= bytes
    {
        anyhow::bail!(
            "LIVEPAGE_MEMORY_LIMIT: {setting} is less than the {} the process holds at start-up, \
             so every generation would be refused",
            ByteSize(resident).display().iec()
        );
    }
    tracing::info!(
        setting = %setting,
        limit = limit.bytes(),
        resident,
        "memory limit for new generations (LIVEPAGE_MEMORY_LIMIT)"
    );
    Ok(limit)
}

/// The descriptor budget under `limit`, from what is open now (the database, Redis, the
/// listeners) and what the pools may still open; start-up fails when the reserve leaves no room
/// for a single stream.
fn descriptor_budget(config: &Config, limit: u64) -> anyhow::Result<Arc<Descriptors>> {
    // Where /proc cannot say, a generous guess at what a started process holds.
    let open = descriptors::count_open().unwrap_or(64);
    let fixed = open
        + u64::from(config.storage.db_max_connections) * descriptors::PER_DATABASE_CONNECTION
        + descriptors::UPSTREAM_IDLE_POOL as u64;
    let budget = Budget {
        limit,
        fixed,
        reserve: u64::from(config.server.fd_reserve),
        max_upstream: u64::from(config.generation.max_concurrent),
        // The demo model is served in this process: both ends of its connections are here.
        per_upstream: if config.upstream.demo_mode() { 2 } else { 1 },
    };
    // One stream: its client connection and its upstream connection.
    let stream = 1 + budget.per_upstream;
    if fixed + budget.reserve + stream > limit {
        anyhow::bail!(
            "LIVEPAGE_FD_RESERVE: {} descriptors in reserve, with the {fixed} the process holds \
             or may open for its database and upstream pools, leave no room for a stream under \
             the open-file limit (RLIMIT_NOFILE) of {limit}",
            budget.reserve
        );
    }
    tracing::info!(
        limit,
        fixed,
        reserve = budget.reserve,
        "descriptor budget: at most about {} streams",
        (limit - fixed - budget.reserve) / stream
    );
    Ok(Descriptors::new(budget))
}

/// Serves the mock upstream on its own loopback port, as the demo model.
async fn start_demo_upstream(config: &Config) -> anyhow::Result<(Url, JoinHandle<()>)> {
    let mock = MockUpstream::new(Script {
        pace: config.upstream.demo_pace,
        ..Script::default()
    });
    // The demo model serves forever: recording its requests would only grow memory.
    mock.set_recording(false);
    mock.spawn().await.context("starting the demo model")
}

/// Acts on what the instances on this PostgreSQL database announce, until the task is aborted:
/// drops changed pages from the cache (all of them after the connection was lost, since changes
/// may have been missed meanwhile), and cancels the generations this instance runs that a
/// client asked another instance to cancel.
async fn follow_notices(
    mut notices: Notices,
    generations: std::sync::Weak<Generations>,
    pages: PageCache,
) {
    loop {
        match notices.next().await {
            Ok(StoreNotice::PageChanged(id)) => pages.invalidate(id),
            Ok(StoreNotice::Resumed) => {
                tracing::info!("listening for notices again; forgetting every cached page");
                pages.invalidate_all();
            }
            Ok(StoreNotice::Cancel(id)) => match generations.upgrade() {
                Some(generations) => generations.cancel_here(id),
                None => return,
            },
            Err(err) => {
                tracing::warn!(error = %err, "listening for notices failed; again in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Marks failed, from time to time while several instances share Redis, the generations left
/// running by instances that are gone. Ends when the registry is dropped.
async fn fail_abandoned(generations: std::sync::Weak<Generations>) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is at once, and start-up has just looked
    loop {
        ticks.tick().await;
        let Some(generations) = generations.upgrade() else {
            return;
        };
        if !generations.is_clustered() {
            return;
        }
        report_abandoned(generations.fail_abandoned().await);
    }
}

fn report_abandoned(result: Result<u64, crate::store::StoreError>) {
    match result {
        Ok(0) => {}
        Ok(count) => tracing::warn!(
            count,
            "marked failed the generations of instances that are gone"
        ),
        Err(err) => tracing::warn!(error = %err, "could not look for abandoned generations"),
    }
}

/// Keeps the rate limiters' memory bounded; ends when the limits are dropped.
async fn forget_idle_clients(limits: std::sync::Weak<RateLimits>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticks.tick().await;
        match limits.upgrade() {
            Some(limits) => limits.forget_idle().await,
            None => return,
        }
    }
}
