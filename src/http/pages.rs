//! Pages: the live page at `/p/{id}`, its metadata, what its owner may do with it (publish,
//! unpublish, delete), and histories by owner key or by email.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, JsonBody, Query};
use super::owner::Caller;
use super::page_cache::Served;
use crate::domain::Email;
use crate::store::{PageRecord, PageStatus, StoreError};

/// The most history entries one request may ask for.
pub const MAX_HISTORY_LIMIT: u32 = 100;
const DEFAULT_HISTORY_LIMIT: u32 = 20;

/// `GET /p/{id}`: the stored, sanitized document under headers that contain whatever might
/// still slip through. Unknown, malformed and unpublished ids all get the same 404 page;
/// deleted and removed pages a `410 Gone` page.
pub async fn live_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(id) = Uuid::try_parse(&id) else {
        return not_found_page();
    };
    let served = match state.pages.get(id, &state.store).await {
        Ok(served) => served,
        Err(StoreError::NotFound) => return not_found_page(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let page = match served.as_ref() {
        Served::Live(page) => page,
        Served::Gone(status) => return gone_page(*status),
    };
    state.views.record(id);
    state.metrics.page_views.inc();
    let page_headers = page_headers(page.policy.clone(), page.etag.clone());
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == page.etag || tag.trim() == "*")
        });
    if revalidated {
        return (StatusCode::NOT_MODIFIED, page_headers).into_response();
    }
    (page_headers, Html(page.html.clone())).into_response()
}

/// The security headers of DESIGN §6 for a served page. The Content-Security-Policy follows
/// how the stored document was built, not the current style setting (see [`super::security::page_policy`]);
/// it is computed once per page, by the page cache.
pub(super) fn page_headers(
    policy: HeaderValue,
    etag: HeaderValue,
) -> [(header::HeaderName, HeaderValue); 5] {
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
        (header::ETAG, etag),
    ]
}

/// The plain page of a page that is gone: `410 Gone`, never stored by a cache (were the page
/// ever to come back, it must show at once).
pub(super) fn gone_page(status: PageStatus) -> Response {
    let (title, explanation) = match status {
        PageStatus::Removed => (
            "This page was removed",
            "It was taken down for breaking LivePage's rules.",
        ),
        _ => ("This page was deleted", "Its owner deleted it."),
    };
    let page = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · LivePage</title>
<style>{PLAIN_STYLE}</style>
</head>
<body><main><h1>{title}</h1><p>{explanation}</p><p><a href="/">Make a page with LivePage</a></p></main></body>
</html>"#
    );
    (
        StatusCode::GONE,
        [
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PLAIN_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Html(page),
    )
        .into_response()
}

/// The look and the policy of LivePage's own plain pages (404, 410).
const PLAIN_STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;color:#1e293b;background:#f8fafc}main{text-align:center;padding:2rem}h1{font-size:1.5rem}a{color:#4f46e5}";
const PLAIN_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

pub(super) fn not_found_page() -> Response {
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
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PLAIN_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // An unpublished page answers this too, and must show the moment it is republished.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
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
    /// The page as `caller` may see it: the prompt only for its owner and the admin, unless
    /// the page is published (the prompt of a public page is no secret: it comes with it).
    fn new(state: &AppState, mut record: PageRecord, caller: &Caller) -> Self {
        record.view_count += i64::try_from(state.views.pending_for(record.id)).unwrap_or(i64::MAX);
        if record.status != PageStatus::Published && !caller.owns(&record) {
            record.prompt.clear();
        }
        let live_url = state.generations.settings().live_url(record.id);
        Self { record, live_url }
    }
}

/// Page `id`, as `caller` may see it: `404` for an unknown page and, except to its owner and
/// the admin, for an unpublished one (as at `/p/{id}`); `410` for a deleted one.
pub(super) async fn visible_page(
    state: &AppState,
    id: Uuid,
    caller: &Caller,
) -> Result<PageRecord, ApiError> {
    let record = state.store.page(id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::NotFound("page"),
        other => other.into(),
    })?;
    match record.status {
        PageStatus::Deleted => Err(ApiError::Gone("page")),
        PageStatus::Unpublished if !caller.owns(&record) => Err(ApiError::NotFound("page")),
        _ => Ok(record),
    }
}

/// `GET /api/pages/{id}`: metadata, no HTML, with `status` (`published`, `unpublished`,
/// `removed`). The owner key or the admin token shows unpublished pages too.
pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PageView>, ApiError> {
    let id = super::generations::parse_id(&id, "page")?;
    let caller = Caller::of(state.config.admin_token.as_ref(), &headers)?;
    let _consistent_counts = state.views.read_lock().await;
    let record = visible_page(&state, id, &caller).await?;
    Ok(Json(PageView::new(&state, record, &caller)))
}

/// The body of `PATCH /api/pages/{id}`.
#[derive(Debug, Deserialize)]
pub struct PageChange {
    is_public: bool,
}

/// `PATCH /api/pages/{id}` with `{"is_public": false|true}`: the owner (or the admin)
/// unpublishes or republishes the page, on every instance within moments. `401` without a
/// key, `403` with another's, `404` unknown, `409` for a page taken down, `410` deleted.
pub async fn change(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(change): JsonBody<PageChange>,
) -> Result<Json<PageView>, ApiError> {
    let id = super::generations::parse_id(&id, "page")?;
    let (caller, record) = page_to_change(&state, id, &headers).await?;
    if record.status == PageStatus::Removed {
        return Err(ApiError::Conflict(
            "this page was taken down by the admin and cannot be published or unpublished",
        ));
    }
    match state.store.set_public(id, change.is_public).await {
        Ok(()) => {}
        // Removed or deleted since it was read.
        Err(StoreError::NotFound) => {
            return Err(ApiError::Conflict("this page changed meanwhile; try again"));
        }
        Err(err) => return Err(err.into()),
    }
    state.page_changed(id).await;
    let _consistent_counts = state.views.read_lock().await;
    let record = visible_page(&state, id, &caller).await?;
    Ok(Json(PageView::new(&state, record, &caller)))
}

/// `DELETE /api/pages/{id}`: the owner (or the admin) deletes the page: its HTML, title and
/// prompt are gone from the database and `/p/{id}` answers `410 Gone` everywhere. `204`, or
/// `401`/`403`/`404` as for `PATCH`, `410` when it was deleted already.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = super::generations::parse_id(&id, "page")?;
    page_to_change(&state, id, &headers).await?;
    match state.store.delete_page(id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(ApiError::Gone("page")),
        Err(err) => return Err(err.into()),
    }
    state.page_changed(id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller and page `id`, when the caller may change it (see [`Caller::may_change`]).
pub(super) async fn page_to_change(
    state: &AppState,
    id: Uuid,
    headers: &HeaderMap,
) -> Result<(Caller, PageRecord), ApiError> {
    let caller = Caller::of(state.config.admin_token.as_ref(), headers)?;
    if caller == Caller::Anyone {
        return Err(ApiError::Unauthorized);
    }
    let record = state.store.page(id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::NotFound("page"),
        other => other.into(),
    })?;
    caller.may_change(&record)?;
    if record.status == PageStatus::Deleted {
        return Err(ApiError::Gone("page"));
    }
    Ok((caller, record))
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

/// One page in a history listing: metadata only. By email, only what a public link shows
/// (id, title, URL, date); by owner key, everything.
#[derive(Debug, Serialize)]
pub struct HistoryItem {
    id: Uuid,
    title: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    live_url: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    owned: Option<OwnedItem>,
}

/// What a history by owner key adds to each page.
#[derive(Debug, Serialize)]
struct OwnedItem {
    prompt: String,
    page_type: String,
    theme: String,
    status: PageStatus,
    is_public: bool,
    view_count: i64,
    fallback: bool,
}

/// Whose history is asked for.
enum Whose {
    Owner(crate::domain::OwnerHash),
    Email(Email),
}

/// `GET /api/history?limit=…&before=…`, newest first. With an owner key
/// (`Authorization: Bearer …`): that key's pages, published or not, with their prompts.
/// Otherwise `?email=…` is required, and a stranger gets no more than public links show: the
/// email's published pages, their titles and URLs.
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let caller = Caller::of(state.config.admin_token.as_ref(), &headers)?;
    let whose = match caller {
        Caller::Owner(owner) => Whose::Owner(owner),
        Caller::Admin | Caller::Anyone => {
            Whose::Email(Email::parse(params.email.as_deref().unwrap_or_default())?)
        }
    };
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
    let records = match &whose {
        Whose::Owner(owner) => state.store.owner_history(owner, limit, before).await?,
        Whose::Email(email) => state.store.history(email.as_str(), limit, before).await?,
    };
    let by_owner = matches!(whose, Whose::Owner(_));
    let next_before = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let pages = records
        .into_iter()
        .map(|record| {
            let view = PageView::new(&state, record, &caller);
            let record = view.record;
            let owned = by_owner.then(|| OwnedItem {
                fallback: record
                    .meta_data
                    .get("fallback")
                    .and_then(|f| f.as_bool())
                    .unwrap_or(false),
                prompt: record.prompt,
                page_type: record.page_type,
                theme: record.theme,
                status: record.status,
                is_public: record.is_public,
                view_count: record.view_count,
            });
            HistoryItem {
                id: record.id,
                title: record.title,
                created_at: record.created_at,
                live_url: view.live_url,
                owned,
            }
        })
        .collect();
    Ok(Json(History { pages, next_before }))
}
