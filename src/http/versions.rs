//! A page's versions (docs/ARCHITECTURE.md, "Refining a page"): the list, one version at
//! `/p/{id}/v/{n}`, restoring one as a new version, and any version as a download.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::generations::parse_id;
use super::owner::Caller;
use super::pages::{gone_page, not_found_page, page_headers, page_to_change, visible_page};
use crate::domain::Usage;
use crate::store::{PageStatus, ServedPage, StoreError, VersionKind, VersionRecord};

/// The longest file name a download gets, before `.html`.
const MAX_FILE_STEM: usize = 60;

/// One version as the API shows it (without its document: that is at `url`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Version)]
pub struct VersionView {
    version: i64,
    kind: VersionKind,
    title: String,
    /// The follow-up prompt of a refine, the page's prompt for version 1, empty for a restore;
    /// left out as on the page (only its owner and the admin see it unless it is published).
    prompt: String,
    /// The model that wrote it; `null` for a restore.
    model: Option<String>,
    /// What writing it cost (a refine's includes an attempt whose edits failed).
    usage: Option<Usage>,
    /// The version a restore copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    restored_from: Option<i64>,
    /// The generation (or refine) that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Where this version stays: `/p/{id}/v/{n}`.
    url: String,
}

/// The body of `GET /api/pages/{id}/versions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Versions {
    page_id: Uuid,
    /// The version `/p/{id}` serves.
    current: i64,
    /// Newest first.
    versions: Vec<VersionView>,
}

/// `GET /api/pages/{id}/versions`: every version, newest first. Visible as the page is (an
/// unpublished page only to its owner and the admin); prompts, as on the page, only to them
/// unless the page is published.
#[utoipa::path(
    get,
    path = "/api/pages/{id}/versions",
    operation_id = "list_versions",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    security((), ("owner_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "Every version, newest first", body = Versions),
        (status = 400, description = "The Authorization header holds no valid owner key (`invalid_owner_key`)", body = ErrorBody),
        (status = 404, description = "No such page, or unpublished and not the caller's (`not_found`)", body = ErrorBody),
        (status = 410, description = "The page was deleted (`gone`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Versions>, ApiError> {
    let id = parse_id(&id, "page")?;
    let caller = Caller::of(state.config.server.admin_token.as_ref(), &headers)?;
    let page = visible_page(&state, id, &caller).await?;
    let show_prompts = page.status == PageStatus::Published || caller.owns(&page);
    let versions = state
        .store
        .versions(id)
        .await?
        .into_iter()
        .map(|mut record| {
            if !show_prompts {
                record.prompt.clear();
            }
            view(&state, id, record)
        })
        .collect();
    Ok(Json(Versions {
        page_id: id,
        current: page.version,
        versions,
    }))
}

fn view(state: &AppState, id: Uuid, record: VersionRecord) -> VersionView {
    VersionView {
        url: state.generations.urls().version_url(id, record.version),
        version: record.version,
        kind: record.kind,
        title: record.title,
        prompt: record.prompt,
        model: record.model,
        usage: record.usage,
        restored_from: record.restored_from,
        generation_id: record.generation_id,
        created_at: record.created_at,
    }
}

/// `POST /api/pages/{id}/versions/{n}/restore`: the owner (or the admin) makes version `n`'s
/// document the page's next version; history is never rewritten. `201` with the new version;
/// `401`/`403`/`404` as for any change, `404` for an unknown version, `409` for a page taken
/// down or being refined, `410` for a deleted one.
#[utoipa::path(
    post,
    path = "/api/pages/{id}/versions/{n}/restore",
    operation_id = "restore_version",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page"), ("n" = String, Path, description = "A version number, from 1")),
    security(("owner_key" = []), ("admin_token" = [])),
    responses(
        (status = 201, description = "The new version, with version n's document", body = VersionView),
        (status = 400, description = "The Authorization header holds no valid owner key (`invalid_owner_key`)", body = ErrorBody),
        (status = 401, description = "No owner key (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another owner's page (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such page or version (`not_found`)", body = ErrorBody),
        (status = 409, description = "Taken down, or being refined (`conflict`)", body = ErrorBody),
        (status = 410, description = "The page was deleted (`gone`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "page")?;
    let n = parse_version(&n).ok_or(ApiError::NotFound("version"))?;
    let (_, page) = page_to_change(&state, id, &headers).await?;
    if page.status == PageStatus::Removed {
        return Err(ApiError::Conflict(
            "this page was taken down by the admin and cannot be changed",
        ));
    }
    if state.generations.is_refining(id) {
        return Err(ApiError::Conflict(
            "this page is being refined; restore a version once that has finished",
        ));
    }
    let record = match state
        .store
        .restore_version(id, n, OffsetDateTime::now_utc())
        .await
    {
        Ok(record) => record,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("version")),
        Err(err) => return Err(err.into()),
    };
    state.page_changed(id).await;
    Ok((StatusCode::CREATED, Json(view(&state, id, record))).into_response())
}

/// A version number from a path: a whole number from 1.
fn parse_version(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|&n| n >= 1)
}

/// `GET /p/{id}/v/{n}`: version `n` of a published page, under the same headers and
/// Content-Security-Policy as `/p/{id}` (and the same report link). 404 and 410 pages as
/// there; an unknown version is a 404 too.
#[utoipa::path(
    get,
    path = "/p/{id}/v/{n}",
    operation_id = "version_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page"), ("n" = String, Path, description = "A version number, from 1")),
    responses(
        (status = 200, description = "Version n, under the page's Content-Security-Policy", body = String, content_type = "text/html"),
        (status = 404, description = "No such page or version, or unpublished", body = String, content_type = "text/html"),
        (status = 410, description = "Deleted by its owner or taken down", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn version_page(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    let (Ok(id), Some(n)) = (Uuid::try_parse(&id), parse_version(&n)) else {
        return not_found_page();
    };
    serve(state.store.served_version(id, n).await, |html| {
        let page = state.pages.prepare(id, html, n);
        (
            page_headers(page.policy, page.etag),
            axum::response::Html(page.html),
        )
            .into_response()
    })
}

/// `GET /p/{id}/download`: the current version as a file.
#[utoipa::path(
    get,
    path = "/p/{id}/download",
    operation_id = "download_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page")),
    responses(
        (status = 200, description = "The current version as an attachment named after its title", body = String, content_type = "text/html"),
        (status = 404, description = "No such page or version, or unpublished", body = String, content_type = "text/html"),
        (status = 410, description = "Deleted by its owner or taken down", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn download(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::try_parse(&id) else {
        return not_found_page();
    };
    serve(state.store.served_page(id).await, attachment)
}

/// `GET /p/{id}/v/{n}/download`: version `n` as a file.
#[utoipa::path(
    get,
    path = "/p/{id}/v/{n}/download",
    operation_id = "download_version",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page"), ("n" = String, Path, description = "A version number, from 1")),
    responses(
        (status = 200, description = "Version n as an attachment named after its title", body = String, content_type = "text/html"),
        (status = 404, description = "No such page or version, or unpublished", body = String, content_type = "text/html"),
        (status = 410, description = "Deleted by its owner or taken down", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn version_download(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    let (Ok(id), Some(n)) = (Uuid::try_parse(&id), parse_version(&n)) else {
        return not_found_page();
    };
    serve(state.store.served_version(id, n).await, attachment)
}

/// A stored document as `live` answers it, or the page every `/p/…` URL answers instead: the
/// 404 page for an unknown page or version, the 410 page for one that is gone.
fn serve(
    stored: Result<ServedPage, StoreError>,
    live: impl FnOnce(String) -> Response,
) -> Response {
    match stored {
        Ok(ServedPage::Live { html, .. }) => live(html),
        Ok(ServedPage::Gone(status)) => gone_page(status),
        Err(StoreError::NotFound) => not_found_page(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The stored document as an attachment named after its title (`harbor-bakery.html`), under
/// the page's own policy in case a browser shows it anyway.
fn attachment(html: String) -> Response {
    let name = format!("{}.html", file_stem(&title_of(&html)));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"page.html\""));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_SECURITY_POLICY,
                super::security::page_policy(&html),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        html,
    )
        .into_response()
}

/// The text of a sanitized document's `<title>` (the sanitizer writes exactly one, escaped).
fn title_of(html: &str) -> String {
    let title = html
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map_or("", |(title, _)| title);
    html_escape::decode_html_entities(title).into_owned()
}

/// A file name from a title: lower-case ASCII letters and digits, runs of anything else as
/// one `-`; `page` when nothing is left.
fn file_stem(title: &str) -> String {
    let mut stem = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if stem.len() >= MAX_FILE_STEM {
                break;
            }
            stem.push(c);
        } else if !stem.is_empty() && !stem.ends_with('-') {
            stem.push('-');
        }
    }
    let stem = stem.trim_end_matches('-');
    if stem.is_empty() {
        "page".to_owned()
    } else {
        stem.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_named_after_the_title() {
        assert_eq!(file_stem("Harbor Bakery"), "harbor-bakery");
        assert_eq!(file_stem("  Café & Co. — Menu!  "), "caf-co-menu");
        assert_eq!(file_stem("☕☕"), "page");
        assert_eq!(
            title_of("<head><title>Harbor &amp; Bakery</title></head>"),
            "Harbor & Bakery"
        );
        assert!(file_stem(&"a".repeat(500)).len() <= MAX_FILE_STEM);
    }

    #[test]
    fn version_numbers_are_whole_numbers_from_one() {
        assert_eq!(parse_version("3"), Some(3));
        assert_eq!(parse_version("0"), None);
        assert_eq!(parse_version("-1"), None);
        assert_eq!(parse_version("x"), None);
    }
}
