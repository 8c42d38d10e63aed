//! An in-memory cache of published pages for `GET /p/{id}`.
//!
//! A page is never changed or unpublished once saved (its id is its ETag), so a cached page can
//! never be stale, and serving a popular page needs neither a database query nor recomputing
//! its Content-Security-Policy (which hashes the page's inline styles). Only found pages are
//! cached: a page that is not there yet may be saved the next moment. The cache is bounded by
//! the bytes of the documents it holds, least recently and least frequently used going first.

use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use moka::sync::Cache;
use uuid::Uuid;

use super::security::page_policy;
use crate::store::{Store, StoreError};

/// What the cache holds for a document beyond its bytes: room for the key, the policy and the
/// cache's own bookkeeping.
const ENTRY_OVERHEAD: u32 = 512;

/// A published page, ready to serve.
#[derive(Debug)]
pub struct CachedPage {
    pub html: Bytes,
    /// The page's Content-Security-Policy (see [`page_policy`]).
    pub policy: HeaderValue,
}

/// Published pages by id, up to a total size.
#[derive(Clone)]
pub struct PageCache {
    pages: Cache<Uuid, Arc<CachedPage>>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("pages", &self.pages.entry_count())
            .finish()
    }
}

impl PageCache {
    /// A cache holding documents of at most `max_bytes` in total.
    pub fn new(max_bytes: u64) -> Self {
        let pages = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, page: &Arc<CachedPage>| {
                u32::try_from(page.html.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .build();
        Self { pages }
    }

    /// The public page `id`, from the cache or else from the store.
    pub async fn get(&self, id: Uuid, store: &Store) -> Result<Arc<CachedPage>, StoreError> {
        if let Some(page) = self.pages.get(&id) {
            return Ok(page);
        }
        let html = store.public_page_html(id).await?;
        let page = Arc::new(CachedPage {
            policy: page_policy(&html),
            html: Bytes::from(html),
        });
        self.pages.insert(id, Arc::clone(&page));
        Ok(page)
    }
}
