//! Health checks and the API's 404 (the web UI is in `ui`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::ApiError;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: ready to serve when the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let demo_mode = state.config.demo_mode();
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "database": "ok", "demo_mode": demo_mode }))
            .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            let body = json!({ "status": "unavailable", "database": "unreachable", "demo_mode": demo_mode });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}
