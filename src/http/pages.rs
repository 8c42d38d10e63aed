//! Pages: the live page at `/p/{id}`, its metadata, what its owner may do with it (publish,
//! unpublish, delete), and histories by owner key or by email.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::cursor::Cursor;
use super::error::{ApiError, ErrorBody, JsonBody, Query};
use super::owner::Caller;
use super::page_cache::Served;
use crate::domain::Email;
use crate::domain::{PageType, Theme};
use crate::store::{PageMeta, PageRecord, PageStatus, StoreError};

/// The most history entries one request may ask for.
pub const MAX_HISTORY_LIMIT: u32 = 100;
const DEFAULT_HISTORY_LIMIT: u32 = 20;

/// `GET /p/{id}`: the stored, sanitized document under headers that contain whatever might
/// still slip through. Unknown, malformed and unpublished ids all get the same 404 page;
/// deleted and removed pages a `410 Gone` page.
#[utoipa::path(
    get,
    path = "/p/{id}",
    operation_id = "live_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page"), ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a copy the client has")),
    responses(
        (status = 200, description = "The page, under its Content-Security-Policy", body = String, content_type = "text/html"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such page, or unpublished", body = String, content_type = "text/html"),
        (status = 410, description = "Deleted by its owner or taken down", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
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

/// The security headers of a served page (docs/ARCHITECTURE.md, "Serving a page"). The
/// Content-Security-Policy follows how the stored document was built, not the current style
/// setting (see [`super::security::page_policy`]); it is computed once per page, by the page
/// cache.
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

/// A page's metadata as the API shows it: no HTML, no email, no owner.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Page)]
pub struct PageView {
    id: Uuid,
    /// Left out for strangers unless the page is published, and once it is deleted.
    #[serde(skip_serializing_if = "String::is_empty")]
    prompt: String,
    #[schema(value_type = PageType)]
    page_type: String,
    #[schema(value_type = Theme)]
    theme: String,
    title: String,
    /// Whether its owner publishes it (a page taken down stays down either way).
    is_public: bool,
    status: PageStatus,
    /// Visits of `/p/{id}`, on every instance.
    view_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    meta_data: PageMeta,
    /// The version `/p/{id}` serves: 1 for a new page, one more for each refine and restore.
    version: i64,
    /// When the admin took it down.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    removed_at: Option<OffsetDateTime>,
    live_url: String,
}

impl PageView {
    /// The page as `caller` may see it: the prompt only for its owner and the admin, unless
    /// the page is published (the prompt of a public page is no secret: it comes with it).
    fn new(state: &AppState, record: PageRecord, caller: &Caller) -> Self {
        let pending = i64::try_from(state.views.pending_for(record.id)).unwrap_or(i64::MAX);
        let shows_prompt = record.status == PageStatus::Published || caller.owns(&record);
        Self {
            live_url: state.generations.urls().live_url(record.id),
            id: record.id,
            prompt: if shows_prompt {
                record.prompt
            } else {
                String::new()
            },
            page_type: record.page_type,
            theme: record.theme,
            title: record.title,
            is_public: record.is_public,
            status: record.status,
            view_count: record.view_count.saturating_add(pending),
            created_at: record.created_at,
            meta_data: record.meta_data,
            version: record.version,
            removed_at: record.removed_at,
        }
    }
}

/// Page `id`, as `caller` may see it: `404` for an unknown page and, except to its owner and
/// the admin, for an unpublished one (as at `/p/{id}`); `410` for a deleted one.
pub(super) async fn visible_page(
    state: &AppState,
    id: Uuid,
    caller: &Caller,
) -> Result<PageRecord, ApiError> {
    let record = state
        .store
        .page(id)
        .await
        .map_err(ApiError::unless_found("page"))?;
    match record.status {
        PageStatus::Deleted => Err(ApiError::Gone("page")),
        PageStatus::Unpublished if !caller.owns(&record) => Err(ApiError::NotFound("page")),
        _ => Ok(record),
    }
}

/// `GET /api/pages/{id}`: metadata, no HTML, with `status` (`published`, `unpublished`,
/// `removed`). The owner key or the admin token shows unpublished pages too.
#[utoipa::path(
    get,
    path = "/api/pages/{id}",
    operation_id = "get_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    security((), ("owner_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The page's metadata", body = PageView),
        (status = 400, description = "The Authorization header holds no valid owner key (`invalid_owner_key`)", body = ErrorBody),
        (status = 404, description = "No such page, or unpublished and not the caller's (`not_found`)", body = ErrorBody),
        (status = 410, description = "The page was deleted (`gone`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PageView>, ApiError> {
    let id = super::generations::parse_id(&id, "page")?;
    let caller = Caller::of(state.config.server.admin_token.as_ref(), &headers)?;
    let _consistent_counts = state.views.read_lock().await;
    let record = visible_page(&state, id, &caller).await?;
    Ok(Json(PageView::new(&state, record, &caller)))
}

/// The body of `PATCH /api/pages/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PageChange {
    is_public: bool,
}

/// `PATCH /api/pages/{id}` with `{"is_public": false|true}`: the owner (or the admin)
/// unpublishes or republishes the page, on every instance within moments. `401` without a
/// key, `403` with another's, `404` unknown, `409` for a page taken down, `410` deleted.
#[utoipa::path(
    patch,
    path = "/api/pages/{id}",
    operation_id = "update_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    request_body = PageChange,
    security(("owner_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The page as it is now", body = PageView),
        (status = 400, description = "Malformed JSON or owner key", body = ErrorBody),
        (status = 401, description = "No owner key (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another owner's page (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such page (`not_found`)", body = ErrorBody),
        (status = 409, description = "Taken down by the admin, or changed meanwhile (`conflict`)", body = ErrorBody),
        (status = 410, description = "The page was deleted (`gone`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The body has the wrong shape (`invalid_body`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    delete,
    path = "/api/pages/{id}",
    operation_id = "delete_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    security(("owner_key" = []), ("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted everywhere"),
        (status = 400, description = "The Authorization header holds no valid owner key (`invalid_owner_key`)", body = ErrorBody),
        (status = 401, description = "No owner key (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another owner's page (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such page (`not_found`)", body = ErrorBody),
        (status = 410, description = "Deleted already (`gone`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
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
    let caller = Caller::of(state.config.server.admin_token.as_ref(), headers)?;
    if caller == Caller::Anyone {
        return Err(ApiError::Unauthorized);
    }
    let record = state
        .store
        .page(id)
        .await
        .map_err(ApiError::unless_found("page"))?;
    caller.may_change(&record)?;
    if record.status == PageStatus::Deleted {
        return Err(ApiError::Gone("page"));
    }
    Ok((caller, record))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Whose published pages (required without an owner key).
    email: Option<String>,
    /// How many, from 1 to 100 (20 by default).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_before` of the previous batch.
    #[param(value_type = Option<Uuid>)]
    before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pages: Vec<HistoryItem>,
    /// Pass as `before` to get the next (older) batch; `null` at the end.
    next_before: Option<Uuid>,
}

/// One page in a history listing: metadata only. By email, only what a public link shows
/// (id, title, URL, date); by owner key, everything.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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
#[utoipa::path(
    get,
    path = "/api/history",
    operation_id = "history",
    tag = "pages",
    params(HistoryParams),
    security((), ("owner_key" = [])),
    responses(
        (status = 200, description = "Pages, newest first", body = History),
        (status = 400, description = "A query parameter or the owner key is malformed", body = ErrorBody),
        (status = 422, description = "Without an owner key, `email` is missing or invalid (`invalid_email`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let caller = Caller::of(state.config.server.admin_token.as_ref(), &headers)?;
    let whose = match caller {
        Caller::Owner(owner) => Whose::Owner(owner),
        Caller::Admin | Caller::Anyone => {
            Whose::Email(Email::parse(params.email.as_deref().unwrap_or_default())?)
        }
    };
    let cursor = Cursor::parse(
        params.limit.as_deref(),
        params.before.as_deref(),
        (DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT),
        "page",
    )?;
    let _consistent_counts = state.views.read_lock().await;
    let records = match &whose {
        Whose::Owner(owner) => {
            state
                .store
                .owner_history(owner, cursor.limit, cursor.before)
                .await?
        }
        Whose::Email(email) => {
            state
                .store
                .history(email.as_str(), cursor.limit, cursor.before)
                .await?
        }
    };
    let by_owner = matches!(whose, Whose::Owner(_));
    let next_before = cursor.next_before(&records, |r| r.id);
    let pages = records
        .into_iter()
        .map(|record| {
            let page = PageView::new(&state, record, &caller);
            let owned = by_owner.then_some(OwnedItem {
                fallback: page.meta_data.fallback,
                prompt: page.prompt,
                page_type: page.page_type,
                theme: page.theme,
                status: page.status,
                is_public: page.is_public,
                view_count: page.view_count,
            });
            HistoryItem {
                id: page.id,
                title: page.title,
                created_at: page.created_at,
                live_url: page.live_url,
                owned,
            }
        })
        .collect();
    Ok(Json(History { pages, next_before }))
}
