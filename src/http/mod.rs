//! The HTTP layer: one route table, the shared [`AppState`], and the handlers by resource.
//!
//! Handlers parse input into domain types, call the generation registry or the store, and map
//! results to responses; errors go through [`error::ApiError`].

pub mod error;
mod generations;
pub mod limits;
mod pages;
pub mod sse;
mod system;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::generation::Generations;
use crate::store::Store;
use crate::views::ViewCounter;

/// The largest `POST /api/generate` body: a maximal prompt in multi-byte characters plus the
/// other fields fits with room to spare.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// Everything handlers share; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub generations: Arc<Generations>,
    pub views: Arc<ViewCounter>,
    pub limits: Arc<limits::RateLimits>,
}

impl AppState {
    fn stream_options(&self, previews: bool) -> sse::StreamOptions {
        sse::StreamOptions {
            previews,
            keepalive: self.config.keepalive,
            retry: self.config.sse_retry,
        }
    }
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(system::index))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route(
            "/api/generate",
            post(generations::generate).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/api/generations/{id}", get(generations::status))
        .route("/api/generations/{id}/events", get(generations::events))
        .route("/api/generations/{id}/cancel", post(generations::cancel))
        .route("/api/pages/{id}", get(pages::page))
        .route("/api/history", get(pages::history))
        .route("/p/{id}", get(pages::live_page))
        .fallback(system::not_found)
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}
