//! `GET /api/admin/stats`: what the service did and what it cost, for the people who run it.
//!
//! The admin API exists only when `ADMIN_TOKEN` is set: without it, its routes answer 404 like
//! any unknown route. With it, a request needs `Authorization: Bearer <token>`; the comparison
//! is of the SHA-256 digests of both, in constant time, so response times reveal neither how
//! much of a guess was right nor the token's length.
//!
//! The numbers come from the database (see `store::stats`), so they cover every instance that
//! shares it; the metrics at `/metrics` are this instance's since it started.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::store::{TopPage, WindowStats};

/// How many of the most viewed pages the stats list.
const TOP_PAGES: u32 = 10;

/// The body of `GET /api/admin/stats`.
#[derive(Debug, Serialize)]
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
}

#[derive(Debug, Serialize)]
struct TopPageView {
    id: Uuid,
    title: String,
    views: i64,
    live_url: String,
}

/// `GET /api/admin/stats`.
pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AdminStats>, ApiError> {
    authorize(state.config.admin_token.as_ref(), &headers)?;
    // Views are counted in memory and written in batches: write them now, so that the numbers
    // include every view this instance has served.
    state.views.flush(&state.store).await?;
    let now = OffsetDateTime::now_utc();
    let store = &state.store;
    let (totals, last_24h, last_7d, top) = tokio::try_join!(
        store.window_stats(OffsetDateTime::UNIX_EPOCH),
        store.window_stats(now - Duration::days(1)),
        store.window_stats(now - Duration::days(7)),
        store.most_viewed_pages(TOP_PAGES),
    )?;
    let settings = state.generations.settings();
    let top_pages = top
        .into_iter()
        .map(|TopPage { id, title, views }| TopPageView {
            live_url: settings.live_url(id),
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
    }))
}

/// `Ok` for the configured bearer token; 404 when none is configured, 401 otherwise.
fn authorize(token: Option<&SecretString>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::NotFound("route"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_credentials)
        .unwrap_or_default();
    // Equal-length digests: `ct_eq` on the raw values would return early on a length mismatch.
    let expected = Sha256::digest(token.expose_secret().as_bytes());
    let presented = Sha256::digest(presented.as_bytes());
    if bool::from(presented.as_slice().ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// The credentials of a `Bearer` authorization (the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer_credentials(value: &str) -> Option<&str> {
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
