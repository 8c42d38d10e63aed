//! The web UI: the files of `web/`, compiled into the binary so that it runs anywhere.
//!
//! `/` serves `index.html`, `/report` the report form (`report.html`, the target of the
//! "Report" link every served page carries); `/assets/{name}` serves the other files, listed one by one in
//! [`FILES`] (a test checks that the list matches the folder). No build step: plain HTML, CSS
//! and JavaScript modules.
//!
//! Caching: every answer carries a strong `ETag` (a hash of the file's bytes) and
//! `Cache-Control: no-cache`, so a browser revalidates on each use, gets a cheap `304` while the
//! file is unchanged, and picks up a new build at once (names are not hashed, so a long
//! `max-age` would serve stale modules after an upgrade).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorBody};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `web/`.
const FILES: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("report.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("code-view.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("generation.js", JS),
    asset!("history.js", JS),
    asset!("preview.js", JS),
    asset!("preview-frame.js", JS),
    asset!("report.js", JS),
    asset!("sse.js", JS),
];

/// The ETag of each file of [`FILES`], in the same order, computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> =
    LazyLock::new(|| FILES.iter().map(|file| etag(file.bytes)).collect());

/// A strong ETag for a file's bytes.
pub(super) fn etag(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(bytes)))
        .expect("a quoted hex number is a valid header value")
}

/// Whether the request's `If-None-Match` names `etag`: the client's copy is current.
pub(super) fn is_fresh(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
        })
}

/// FNV-1a, 64 bits: stable across builds and platforms, which a `Hasher` is not promised to be.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `GET /`: the UI's page.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "web_ui",
    tag = "web",
    responses(
        (status = 200, description = "The web UI", body = String, content_type = "text/html"),
        (status = 304, description = "The client's copy is current"),
    )
)]
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers).unwrap_or_else(IntoResponse::into_response)
}

/// `GET /report?page={id}`: the form to report a page.
#[utoipa::path(
    get,
    path = "/report",
    operation_id = "report_form",
    tag = "web",
    responses(
        (status = 200, description = "The form to report a page (`?page={id}`)", body = String, content_type = "text/html"),
        (status = 304, description = "The client's copy is current"),
    )
)]
pub async fn report(headers: HeaderMap) -> Response {
    serve("report.html", &headers).unwrap_or_else(IntoResponse::into_response)
}

/// `GET /assets/{name}`: a stylesheet, script module or image of the UI.
#[utoipa::path(
    get,
    path = "/assets/{name}",
    operation_id = "web_asset",
    tag = "web",
    params(("name" = String, Path, description = "A file of the web UI")),
    responses(
        (status = 200, description = "The file", body = String, content_type = "*/*"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such file (`not_found`)", body = ErrorBody),
    )
)]
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers).unwrap_or_else(IntoResponse::into_response)
}

fn serve(name: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let index = FILES
        .iter()
        .position(|file| file.name == name)
        .ok_or(ApiError::NotFound("asset"))?;
    let file = &FILES[index];
    let etag = ETAGS[index].clone();
    let cache = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if is_fresh(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let content_type = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    )];
    Ok((content_type, cache, file.bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_web_folder_is_served_with_its_type() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("web/ exists")
            .map(|entry| entry.expect("readable entry").file_name())
            .map(|name| name.into_string().expect("UTF-8 file name"))
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = FILES.iter().map(|f| f.name.to_owned()).collect();
        served.sort();
        assert_eq!(served, on_disk, "list every file of web/ in FILES");
        for file in FILES {
            let expected = match file.name.rsplit('.').next() {
                Some("html") => "text/html",
                Some("css") => "text/css",
                Some("js") => "text/javascript",
                Some("svg") => "image/svg+xml",
                other => panic!("no content type for {other:?}"),
            };
            assert!(file.content_type.starts_with(expected), "{}", file.name);
        }
    }

    #[test]
    fn an_unchanged_file_is_revalidated_with_a_304() {
        let first = serve("app.js", &HeaderMap::new()).unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = first.headers()[header::ETAG].clone();

        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag.clone());
        let again = serve("app.js", &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], etag);

        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(serve("app.js", &headers).unwrap().status(), StatusCode::OK);
    }

    #[test]
    fn unknown_names_are_not_found() {
        for name in ["nope.js", "../Cargo.toml", ""] {
            assert!(serve(name, &HeaderMap::new()).is_err(), "{name:?}");
        }
    }
}
