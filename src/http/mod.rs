//! The HTTP layer: one route table, the shared [`AppState`], and the handlers by resource.
//!
//! Handlers parse input into domain types, call the generation registry or the store, and map
//! results to responses; errors go through [`error::ApiError`].

mod admin;
mod cursor;
pub mod error;
mod fonts;
mod generations;
pub mod limits;
mod openapi;
mod options;
mod owner;
pub mod page_cache;
mod pages;
mod refine;
mod reports;
mod security;
pub mod server;
pub mod sse;
mod system;
mod telemetry;
mod ui;
mod versions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

use crate::cluster::{Cluster, Notice};
use crate::config::Config;
use crate::generation::Generations;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::views::ViewCounter;

/// The largest `POST /api/generate` body: a maximal prompt in multi-byte characters plus the
/// other fields fits with room to spare.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// Everything handlers share, behind one reference count.
///
/// axum clones the state into every request; with a count per field, those clones and drops
/// (atomic operations on cache lines both cores write) took 14% of the server's CPU serving
/// `/p/{id}` under load.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub generations: Arc<Generations>,
    pub views: Arc<ViewCounter>,
    pub limits: Arc<limits::RateLimits>,
    pub metrics: Arc<Metrics>,
    /// Published pages for `/p/{id}`, kept in memory until they change, for up to a minute
    /// (see `page_cache`).
    pub pages: page_cache::PageCache,
    /// With `REDIS_URL`: the other instances (see `cluster`).
    pub cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// After page `id` changed (published, unpublished, deleted, taken down): forgets it here
    /// at once, and tells the other instances through Redis when there is one. (The store
    /// announced it on PostgreSQL already, in the transaction that changed it.)
    async fn page_changed(&self, id: Uuid) {
        self.pages.invalidate(id);
        if let Some(cluster) = &self.cluster
            && let Err(err) = cluster.notify(Notice::PageChanged(id)).await
        {
            tracing::warn!(error = %err, page_id = %id, "could not tell the other instances through Redis that a page changed");
        }
    }

    fn stream_options(&self, previews: bool) -> sse::StreamOptions {
        sse::StreamOptions {
            previews,
            keepalive: self.config.server.keepalive,
            retry: self.config.server.sse_retry,
            subscribers: self.metrics.sse_subscribers.clone(),
        }
    }
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let metrics = Arc::clone(&state.metrics);
    let policies = security::Policies::new(&state.config);
    Router::new()
        .route("/", get(ui::index))
        .route("/assets/{name}", get(ui::asset))
        .route("/fonts/{name}", get(fonts::font))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route(
            "/api/generate",
            post(generations::generate).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/api/generations/{id}", get(generations::status))
        .route("/api/generations/{id}/events", get(generations::events))
        .route("/api/generations/{id}/cancel", post(generations::cancel))
        .route(
            "/api/pages/{id}",
            get(pages::page).patch(pages::change).delete(pages::delete),
        )
        .route("/api/pages/{id}/reports", post(reports::report))
        .route(
            "/api/pages/{id}/refine",
            post(refine::refine).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/api/pages/{id}/versions", get(versions::versions))
        .route(
            "/api/pages/{id}/versions/{n}/restore",
            post(versions::restore),
        )
        .route("/api/history", get(pages::history))
        .route("/api/options", get(options::options))
        .route("/api/openapi.json", get(openapi::document))
        .route("/p/{id}", get(pages::live_page))
        .route("/p/{id}/download", get(versions::download))
        .route("/p/{id}/v/{n}", get(versions::version_page))
        .route("/p/{id}/v/{n}/download", get(versions::version_download))
        .route("/report", get(ui::report))
        .route("/api/admin/stats", get(admin::stats))
        .route("/api/admin/reports", get(admin::reports))
        .route("/api/admin/reports/{id}/resolve", post(admin::resolve))
        .route("/api/admin/pages/{id}/takedown", post(admin::take_down))
        .merge(public_metrics(&state.config))
        .fallback(system::not_found)
        .with_state(state)
        // One `layer` call with the whole stack, outermost first: axum wraps every route in
        // each layer given to it and boxes the result, and a request clones the route with
        // all of its boxes; seven separate calls made that a third of the CPU of serving
        // `/p/{id}`.
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(telemetry::trace_layer())
                .layer(middleware::from_fn_with_state(
                    metrics,
                    telemetry::count_request,
                ))
                // Outside the panic catcher, so that its 500s get the headers too.
                .layer(middleware::from_fn_with_state(
                    policies,
                    security::add_headers,
                ))
                .layer(CatchPanicLayer::new())
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                )),
        )
}

/// `GET /metrics` on the main listener, unless `LIVEPAGE_METRICS_ADDR` gives it its own.
fn public_metrics(config: &Config) -> Router<AppState> {
    match config.server.metrics_addr {
        None => Router::new().route("/metrics", get(telemetry::metrics)),
        Some(_) => Router::new(),
    }
}

/// The routes of the private metrics listener (`LIVEPAGE_METRICS_ADDR`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(telemetry::metrics))
        .fallback(system::not_found)
        .with_state(state)
}
