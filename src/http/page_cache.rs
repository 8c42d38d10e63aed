//! An in-memory cache of published pages for `GET /p/{id}`.
//!
//! A page never changes once saved (its id is its ETag), so serving a popular page from memory
//! needs neither a database query nor recomputing its Content-Security-Policy (which hashes the
//! page's inline styles). A page can still be taken down in the database (`is_public` cleared,
//! or the row deleted) by whoever runs the service, and every instance must notice: so an entry
//! lives for a limited time, after which the next request asks the database again. Only found
//! pages are cached: a page that is not there yet may be saved the next moment. The cache is
//! bounded by the bytes of the documents it holds, least recently and least frequently used
//! going first.

use std::sync::Arc;
use std::time::Duration;

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
    /// The page's Content-Security-Policy (see `security::page_policy`).
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
    /// A cache holding documents of at most `max_bytes` in total, each for at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let pages = Cache::builder()
            .max_capacity(max_bytes)
            .time_to_live(ttl)
            .weigher(|_, page: &Arc<CachedPage>| {
                u32::try_from(page.html.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .build();
        Self { pages }
    }

    /// Forgets page `id`, which has changed: the next request asks the database.
    pub fn invalidate(&self, id: Uuid) {
        self.pages.invalidate(&id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::store::testing::{Backend, FreshDatabase};

    #[tokio::test]
    async fn a_page_taken_down_in_the_database_goes_once_its_entry_expires() {
        let database = FreshDatabase::create(&Backend::Sqlite).await;
        let store = database.connect(&StoreOptions::default()).await;
        let id = Uuid::now_v7();
        database
            .execute(&format!(
                "INSERT INTO pages (id, email, prompt, page_type, theme, title, html_content,
                                    created_at)
                 VALUES ('{id}', 'ann@example.com', 'bread', 'landing', 'modern', 'Bread',
                         '<!DOCTYPE html><p>Bread</p>', '2026-11-24T00:00:00.000000Z')"
            ))
            .await;
        let ttl = Duration::from_millis(300);
        let cache = PageCache::new(1 << 20, ttl);
        assert_eq!(
            cache.get(id, &store).await.unwrap().html,
            "<!DOCTYPE html><p>Bread</p>"
        );

        database
            .execute(&format!(
                "UPDATE pages SET is_public = FALSE WHERE id = '{id}'"
            ))
            .await;
        assert!(
            cache.get(id, &store).await.is_ok(),
            "served from memory until the entry expires"
        );
        // Waiting for time itself to pass: the entry's age is what is under test.
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert!(matches!(
            cache.get(id, &store).await,
            Err(StoreError::NotFound)
        ));
        store.close().await;
        database.cleanup().await;
    }
}
