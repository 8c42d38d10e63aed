//! `GET /fonts/{name}`: the icon fonts that pages' stylesheets name (see `sanitize::icons`).
//!
//! Pages are sandboxed documents with an opaque origin, so their font loads are cross-origin
//! requests: the answer allows any origin (`Access-Control-Allow-Origin: *`, and a
//! cross-origin resource policy). A font's bytes only change with LivePage's version, hence a
//! strong `ETag` and a day of caching.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorBody};
use crate::sanitize::icons::FONTS;

/// The ETag of each of [`FONTS`], in the same order.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    FONTS
        .iter()
        .map(|font| super::ui::etag(font.bytes))
        .collect()
});

#[utoipa::path(
    get,
    path = "/fonts/{name}",
    operation_id = "font",
    tag = "web",
    params(("name" = String, Path, description = "A font file pages may use")),
    responses(
        (status = 200, description = "The font", body = String, content_type = "font/woff2"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such font (`not_found`)", body = ErrorBody),
    )
)]
pub async fn font(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let index = FONTS
        .iter()
        .position(|font| font.name == name)
        .ok_or(ApiError::NotFound("font"))?;
    let etag = ETAGS[index].clone();
    let shared = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        ),
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
    ];
    if super::ui::is_fresh(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, shared).into_response());
    }
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static("font/woff2"))];
    Ok((content_type, shared, FONTS[index].bytes).into_response())
}
