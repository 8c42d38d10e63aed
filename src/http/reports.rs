//! `POST /api/pages/{id}/reports`: a visitor reports a page (the form behind every page's
//! "Report" link, at `/report?page={id}` in the web UI). Reports wait in the admin's queue
//! (`admin::reports`) until resolved.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, JsonBody};
use crate::domain::{Report, ReportBody};
use crate::store::{NewReport, StoreError};

#[derive(Debug, Serialize)]
pub struct Filed {
    report_id: Uuid,
}

/// `POST /api/pages/{id}/reports` with `{"reason", "details"?, "contact"?}`: `202` with the
/// report's id; `422` for an unknown reason or text too long, `404` unless the page is
/// published, `429` past the per-IP budget (`LIVEPAGE_RATE_LIMIT_REPORTS_PER_IP`).
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
    match state.store.insert_report(&filed).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("page")),
        Err(err) => return Err(err.into()),
    }
    tracing::info!(%report_id, %page_id, reason = report.reason.as_str(), "page reported");
    Ok((StatusCode::ACCEPTED, Json(Filed { report_id })))
}
