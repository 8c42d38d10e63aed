//! Health checks and the API's 404 (the web UI is in `ui`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;

/// The body of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// The body of `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (Redis does not answer) or `unavailable` (the database does not).
    status: &'static str,
    /// `ok` or `unreachable`.
    database: &'static str,
    /// `ok` or `unreachable`; only with `REDIS_URL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<&'static str>,
    /// No API key: pages are written by the built-in demo model.
    demo_mode: bool,
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process is up", body = Health),
    )
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: ready to serve when the database answers. With Redis, its state is reported
/// too; an instance whose Redis does not answer still serves (its own generations, pages,
/// summaries from the database), so it says `degraded` rather than taking itself out of a load
/// balancer that would then take every instance out at once.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready (or `degraded`: Redis does not answer, the instance still serves)", body = Readiness),
        (status = 503, description = "The database does not answer", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let demo_mode = state.config.upstream.demo_mode();
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
    let body = Readiness {
        status,
        database: if database.is_ok() {
            "ok"
        } else {
            "unreachable"
        },
        redis,
        demo_mode,
    };
    (code, Json(body)).into_response()
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}
