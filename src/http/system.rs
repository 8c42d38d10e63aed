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

/// `GET /readyz`: ready to serve when the database answers. With Redis, its state is reported
/// too; an instance whose Redis does not answer still serves (its own generations, pages,
/// summaries from the database), so it says `degraded` rather than taking itself out of a load
/// balancer that would then take every instance out at once.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let demo_mode = state.config.demo_mode();
    let (database, redis) = tokio::join!(state.store.ping(), async {
        match &state.cluster {
            Some(cluster) => Some(cluster.ping().await),
            None => None,
        }
    });
    let redis = redis.map(|ping| match ping {
        Ok(()) => "ok",
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: Redis unreachable");
            "unreachable"
        }
    });
    let (status, code) = match (&database, redis) {
        (Err(err), _) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            ("unavailable", StatusCode::SERVICE_UNAVAILABLE)
        }
        (Ok(()), Some("unreachable")) => ("degraded", StatusCode::OK),
        (Ok(()), _) => ("ready", StatusCode::OK),
    };
    let mut body = json!({
        "status": status,
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "demo_mode": demo_mode,
    });
    if let Some(redis) = redis {
        body["redis"] = json!(redis);
    }
    (code, Json(body)).into_response()
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}
