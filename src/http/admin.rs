//! The admin API, for the people who run the service: `GET /api/admin/stats` (what the
//! service did and what it cost), and moderation: the queue of reports
//! (`GET /api/admin/reports`, `POST /api/admin/reports/{id}/resolve`) and taking a page down
//! (`POST /api/admin/pages/{id}/takedown`).
//!
//! The admin API exists only when `ADMIN_TOKEN` is set: without it, its routes answer 404 like
//! any unknown route. With it, a request needs `Authorization: Bearer <token>`; the comparison
//! is of the SHA-256 digests of both, in constant time, so response times reveal neither how
//! much of a guess was right nor the token's length.
//!
//! The numbers come from the database (see `store::stats`), so they cover every instance that
//! shares it; the metrics at `/metrics` are this instance's since it started.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::cursor::Cursor;
use super::error::{ApiError, ErrorBody, JsonBody, Query};
use super::generations::parse_id;
use crate::domain::Invalid;
use crate::store::{
    ModerationTotals, PageStatus, ReportRecord, Resolution, Resolved, TopPage, WindowStats,
};

/// How many of the most viewed pages the stats list.
const TOP_PAGES: u32 = 10;

/// The body of `GET /api/admin/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminStats {
    #[serde(with = "time::serde::rfc3339")]
    generated_at: OffsetDateTime,
    /// Since the beginning.
    totals: WindowStats,
    /// Generations and pages created in the last 24 hours.
    last_24h: WindowStats,
    /// … in the last 7 days.
    last_7d: WindowStats,
    /// The most viewed public pages, most viewed first.
    top_pages: Vec<TopPageView>,
    /// Reports and takedowns, since the beginning.
    moderation: ModerationTotals,
}

#[derive(Debug, Serialize, ToSchema)]
struct TopPageView {
    id: Uuid,
    title: String,
    views: i64,
    live_url: String,
}

/// `GET /api/admin/stats`.
#[utoipa::path(
    get,
    path = "/api/admin/stats",
    operation_id = "admin_stats",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "What the service did and what it cost", body = AdminStats),
        (status = 401, description = "Not the admin token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "The admin API is off (no `ADMIN_TOKEN`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AdminStats>, ApiError> {
    authorize(state.config.server.admin_token.as_ref(), &headers)?;
    // Views are counted in memory and written in batches: write them now, so that the numbers
    // include every view this instance has served.
    state.views.flush(&state.store).await?;
    let now = OffsetDateTime::now_utc();
    let store = &state.store;
    let (totals, last_24h, last_7d, top, moderation) = tokio::try_join!(
        store.window_stats(OffsetDateTime::UNIX_EPOCH),
        store.window_stats(now - Duration::days(1)),
        store.window_stats(now - Duration::days(7)),
        store.most_viewed_pages(TOP_PAGES),
        store.moderation_totals(),
    )?;
    let urls = state.generations.urls();
    let top_pages = top
        .into_iter()
        .map(|TopPage { id, title, views }| TopPageView {
            live_url: urls.live_url(id),
            id,
            title,
            views,
        })
        .collect();
    Ok(Json(AdminStats {
        generated_at: now,
        totals,
        last_24h,
        last_7d,
        top_pages,
        moderation,
    }))
}

/// The most reports one request may ask for, and how many it gets by default.
const MAX_REPORTS_LIMIT: u32 = 100;
const DEFAULT_REPORTS_LIMIT: u32 = 50;
/// The longest takedown reason, in characters.
const MAX_TAKEDOWN_REASON_CHARS: usize = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportsParams {
    /// `open` (the default) or `resolved`.
    #[param(example = "open")]
    status: Option<String>,
    /// How many, from 1 to 100 (50 by default).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_before` of the previous batch.
    #[param(value_type = Option<Uuid>)]
    before: Option<String>,
}

/// The body of `GET /api/admin/reports`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reports {
    reports: Vec<ReportView>,
    /// Pass as `before` to get the next (older) batch; `null` at the end.
    next_before: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ReportView {
    #[serde(flatten)]
    record: ReportRecord,
    live_url: String,
}

/// `GET /api/admin/reports?status=open|resolved&limit=…&before=…`: reports, newest first
/// (`open` by default), each with its page's title, live URL, status and number of reports.
#[utoipa::path(
    get,
    path = "/api/admin/reports",
    operation_id = "list_reports",
    tag = "admin",
    params(ReportsParams),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Reports, newest first", body = Reports),
        (status = 400, description = "A query parameter is malformed (`invalid_parameter`)", body = ErrorBody),
        (status = 401, description = "Not the admin token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "The admin API is off (no `ADMIN_TOKEN`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn reports(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ReportsParams>,
) -> Result<Json<Reports>, ApiError> {
    authorize(state.config.server.admin_token.as_ref(), &headers)?;
    let open = match params.status.as_deref() {
        None | Some("" | "open") => true,
        Some("resolved") => false,
        Some(_) => {
            return Err(ApiError::InvalidParameter {
                field: "status",
                message: "status must be open or resolved".into(),
            });
        }
    };
    let cursor = Cursor::parse(
        params.limit.as_deref(),
        params.before.as_deref(),
        (DEFAULT_REPORTS_LIMIT, MAX_REPORTS_LIMIT),
        "report",
    )?;
    let records = state
        .store
        .reports(open, cursor.limit, cursor.before)
        .await?;
    let next_before = cursor.next_before(&records, |r| r.id);
    let urls = state.generations.urls();
    let reports = records
        .into_iter()
        .map(|record| ReportView {
            live_url: urls.live_url(record.page_id),
            record,
        })
        .collect();
    Ok(Json(Reports {
        reports,
        next_before,
    }))
}

/// The body of `POST /api/admin/reports/{id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveBody {
    action: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedReport {
    report_id: Uuid,
    page_id: Uuid,
    resolution: Resolution,
    page_status: PageStatus,
}

/// `POST /api/admin/reports/{id}/resolve` with `{"action": "dismiss"|"takedown"}`: a takedown
/// removes the page everywhere (as `take_down` does) and resolves all its open reports. `404`
/// for an unknown report, `409` for one resolved already, `422` for another action.
#[utoipa::path(
    post,
    path = "/api/admin/reports/{id}/resolve",
    operation_id = "resolve_report",
    tag = "admin",
    params(("id" = String, Path, description = "The report id (a UUID)")),
    request_body = ResolveBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Resolved", body = ResolvedReport),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Not the admin token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such report, or the admin API is off", body = ErrorBody),
        (status = 409, description = "Resolved already (`conflict`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "`action` is not `dismiss` or `takedown`", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Json<ResolvedReport>, ApiError> {
    authorize(state.config.server.admin_token.as_ref(), &headers)?;
    let id = parse_id(&id, "report")?;
    let resolution = match body.action.as_deref().map(str::trim) {
        Some("dismiss") => Resolution::Dismiss,
        Some("takedown") => Resolution::Takedown,
        _ => {
            return Err(ApiError::Invalid(Invalid {
                code: "invalid_action",
                field: "action",
                message: "action must be one of: dismiss, takedown".into(),
            }));
        }
    };
    let resolved = state
        .store
        .resolve_report(id, resolution)
        .await
        .map_err(ApiError::unless_found("report"))?;
    let Resolved::Now { page_id } = resolved else {
        return Err(ApiError::Conflict("this report is resolved already"));
    };
    if resolution == Resolution::Takedown {
        state.page_changed(page_id).await;
        tracing::warn!(%page_id, report_id = %id, "page taken down on a report");
    }
    let page = state.store.page(page_id).await?;
    Ok(Json(ResolvedReport {
        report_id: id,
        page_id,
        resolution,
        page_status: page.status,
    }))
}

/// The body of `POST /api/admin/pages/{id}/takedown`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TakedownBody {
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TakenDown {
    page_id: Uuid,
    status: PageStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    removed_at: Option<OffsetDateTime>,
    live_url: String,
}

/// `POST /api/admin/pages/{id}/takedown` with `{"reason": "…"}`: the page answers `410 Gone`
/// on every instance within moments, its owner cannot publish it again, and its open reports
/// are resolved. Taking a removed page down again changes nothing. `404` for an unknown page,
/// `422` without a reason.
#[utoipa::path(
    post,
    path = "/api/admin/pages/{id}/takedown",
    operation_id = "take_down_page",
    tag = "admin",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    request_body = TakedownBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Taken down everywhere", body = TakenDown),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
        (status = 401, description = "Not the admin token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such page, or the admin API is off", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "`reason` is missing or too long (`invalid_reason`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn take_down(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TakedownBody>,
) -> Result<Json<TakenDown>, ApiError> {
    authorize(state.config.server.admin_token.as_ref(), &headers)?;
    let id = parse_id(&id, "page")?;
    let reason = body.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > MAX_TAKEDOWN_REASON_CHARS {
        return Err(ApiError::Invalid(Invalid {
            code: "invalid_reason",
            field: "reason",
            message: format!("reason is required, at most {MAX_TAKEDOWN_REASON_CHARS} characters"),
        }));
    }
    state
        .store
        .take_down(id, reason)
        .await
        .map_err(ApiError::unless_found("page"))?;
    state.page_changed(id).await;
    tracing::warn!(page_id = %id, reason, "page taken down");
    let page = state.store.page(id).await?;
    Ok(Json(TakenDown {
        page_id: id,
        status: page.status,
        removed_at: page.removed_at,
        live_url: state.generations.urls().live_url(id),
    }))
}

/// `Ok` for the configured bearer token; 404 when none is configured, 401 otherwise.
pub(super) fn authorize(token: Option<&SecretString>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::NotFound("route"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_credentials)
        .unwrap_or_default();
    if is_admin_token(Some(token), presented) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Whether `presented` is the configured admin token. The comparison is of equal-length
/// digests: `ct_eq` on the raw values would return early on a length mismatch.
pub(super) fn is_admin_token(token: Option<&SecretString>, presented: &str) -> bool {
    token.is_some_and(|token| {
        let expected = Sha256::digest(token.expose_secret().as_bytes());
        let presented = Sha256::digest(presented.as_bytes());
        bool::from(presented.as_slice().ct_eq(expected.as_slice()))
    })
}

/// The credentials of a `Bearer` authorization (the scheme is case-insensitive, RFC 9110 §11.1).
pub(super) fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    fn code(result: Result<(), ApiError>) -> &'static str {
        result.map_or_else(|err| err.code(), |()| "ok")
    }

    #[test]
    fn only_the_configured_bearer_token_is_let_in() {
        let token = SecretString::from("s3cret-token");
        let token = Some(&token);
        assert_eq!(
            code(authorize(token, &headers("Bearer s3cret-token"))),
            "ok"
        );
        assert_eq!(
            code(authorize(token, &headers("bearer  s3cret-token "))),
            "ok"
        );
        assert_eq!(code(authorize(token, &HeaderMap::new())), "unauthorized");
        for wrong in [
            "Bearer s3cret-tokeN",
            "Bearer s3cret-token-and-more",
            "Bearer ",
            "Basic s3cret-token",
            "s3cret-token",
        ] {
            assert_eq!(
                code(authorize(token, &headers(wrong))),
                "unauthorized",
                "{wrong}"
            );
        }
    }

    #[test]
    fn without_a_configured_token_the_admin_api_does_not_exist() {
        let result = authorize(None, &headers("Bearer anything"));
        assert_eq!(code(result), "not_found");
    }
}
