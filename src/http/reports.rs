//! `POST /api/pages/{id}/reports`: a visitor reports a page (the form behind every page's
//! "Report" link, at `/report?page={id}` in the web UI). Reports wait in the admin's queue
//! (`admin::reports`) until resolved.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::domain::{Report, ReportBody};
use crate::store::NewReport;

#[derive(Debug, Serialize, ToSchema)]
pub struct Filed {
    report_id: Uuid,
}

/// `POST /api/pages/{id}/reports` with `{"reason", "details"?, "contact"?}`: `202` with the
/// report's id; `422` for an unknown reason or text too long, `404` unless the page is
/// published, `429` past the per-IP budget (`LIVEPAGE_RATE_LIMIT_REPORTS_PER_IP`).
#[utoipa::path(
    post,
    path = "/api/pages/{id}/reports",
    operation_id = "report_page",
    tag = "moderation",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    request_body = ReportBody,
    responses(
        (status = 202, description = "Filed; it waits in the admin's queue", body = Filed),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
        (status = 404, description = "No such published page (`not_found`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Unknown reason, text too long, or wrong shape", body = ErrorBody),
        (status = 429, description = "Too many reports from this client (`rate_limited`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ReportBody>,
) -> Result<(StatusCode, Json<Filed>), ApiError> {
    let page_id = super::generations::parse_id(&id, "page")?;
    let report = Report::parse(&body)?;
    let ip = state.limits.client_ip(peer, &headers);
    state
        .limits
        .check_report(ip)
        .await
        .map_err(|retry_after| ApiError::RateLimited {
            what: "reports",
            retry_after,
        })?;
    let report_id = Uuid::now_v7();
    let filed = NewReport {
        id: report_id,
        page_id,
        report: &report,
        created_at: OffsetDateTime::now_utc(),
    };
    state
        .store
        .insert_report(&filed)
        .await
        .map_err(ApiError::unless_found("page"))?;
    tracing::info!(%report_id, %page_id, reason = report.reason.as_str(), "page reported");
    Ok((StatusCode::ACCEPTED, Json(Filed { report_id })))
}
