//! Published pages: the live page at `/p/{id}`, its metadata, and an email's history.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Query};
use crate::domain::Email;
use crate::store::{PageRecord, StoreError};

/// The most history entries one request may ask for.
pub const MAX_HISTORY_LIMIT: u32 = 100;
const DEFAULT_HISTORY_LIMIT: u32 = 20;

/// `GET /p/{id}`: the stored, sanitized document under headers that contain whatever might
/// still slip through. Unknown, malformed and non-public ids all get the same 404 page.
pub async fn live_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(id) = Uuid::try_parse(&id) else {
        return not_found_page();
    };
    let page = match state.pages.get(id, &state.store).await {
        Ok(page) => page,
        Err(StoreError::NotFound) => return not_found_page(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    state.views.record(id);
    state.metrics.page_views.inc();
    // Stored pages never change, so the id is a strong validator.
    let etag = format!("\"{id}\"");
    let page_headers = page_headers(page.policy.clone(), &etag);
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if revalidated {
        return (StatusCode::NOT_MODIFIED, page_headers).into_response();
    }
    (page_headers, Html(page.html.clone())).into_response()
}

/// The security headers of DESIGN §6 for a served page. The Content-Security-Policy follows
/// how the stored document was built, not the current style setting (see [`super::security::page_policy`]);
/// it is computed once per page, by the page cache.
fn page_headers(policy: HeaderValue, etag: &str) -> [(header::HeaderName, HeaderValue); 5] {
    [
        (header::CONTENT_SECURITY_POLICY, policy),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=0, must-revalidate"),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(etag).expect("a quoted uuid is a valid header"),
        ),
    ]
}

fn not_found_page() -> Response {
    const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Page not found · LivePage</title>
<style>body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;color:#1e293b;background:#f8fafc}main{text-align:center;padding:2rem}h1{font-size:1.5rem}a{color:#4f46e5}</style>
</head>
<body><main><h1>This page does not exist</h1><p>It may have been removed, or the link is mistyped.</p><p><a href="/">Make a page with LivePage</a></p></main></body>
</html>"#;
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        Html(PAGE),
    )
        .into_response()
}

/// Page metadata as the API shows it.
#[derive(Debug, Serialize)]
pub struct PageView {
    #[serde(flatten)]
    record: PageRecord,
    live_url: String,
}

impl PageView {
    fn new(state: &AppState, mut record: PageRecord) -> Self {
        record.view_count += i64::try_from(state.views.pending_for(record.id)).unwrap_or(i64::MAX);
        let live_url = state.generations.settings().live_url(record.id);
        Self { record, live_url }
    }
}

/// `GET /api/pages/{id}`: metadata, no HTML.
pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PageView>, ApiError> {
    let id = super::generations::parse_id(&id, "page")?;
    let _consistent_counts = state.views.read_lock().await;
    let record = state.store.page(id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::NotFound("page"),
        other => other.into(),
    })?;
    Ok(Json(PageView::new(&state, record)))
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    email: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pages: Vec<HistoryItem>,
    /// Pass as `before` to get the next (older) batch; `null` at the end.
    next_before: Option<Uuid>,
}

/// One page in a history listing: metadata only.
#[derive(Debug, Serialize)]
pub struct HistoryItem {
    id: Uuid,
    title: String,
    prompt: String,
    page_type: String,
    theme: String,
    view_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    live_url: String,
    fallback: bool,
}

/// `GET /api/history?email=…&limit=…&before=…`: the email's pages, newest first.
pub async fn history(
    State(state): State<AppState>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let email = Email::parse(params.email.as_deref().unwrap_or_default())?;
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_HISTORY_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_HISTORY_LIMIT).contains(n))
            .ok_or_else(|| ApiError::InvalidParameter {
                field: "limit",
                message: format!("limit must be a whole number from 1 to {MAX_HISTORY_LIMIT}"),
            })?,
    };
    let before = match params.before.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            Uuid::try_parse(raw).map_err(|_| ApiError::InvalidParameter {
                field: "before",
                message: "before must be a page id from a previous response's next_before".into(),
            })?,
        ),
    };
    let _consistent_counts = state.views.read_lock().await;
    let records = state.store.history(email.as_str(), limit, before).await?;
    let next_before = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let pages = records
        .into_iter()
        .map(|record| {
            let view = PageView::new(&state, record);
            let record = view.record;
            HistoryItem {
                fallback: record
                    .meta_data
                    .get("fallback")
                    .and_then(|f| f.as_bool())
                    .unwrap_or(false),
                id: record.id,
                title: record.title,
                prompt: record.prompt,
                page_type: record.page_type,
                theme: record.theme,
                view_count: record.view_count,
                created_at: record.created_at,
                live_url: view.live_url,
            }
        })
        .collect();
    Ok(Json(History { pages, next_before }))
}
