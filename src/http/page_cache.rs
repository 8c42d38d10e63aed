//! An in-memory cache of published pages for `GET /p/{id}`.
//!
//! A page's document changes rarely, so serving a popular page from memory needs neither a
//! database query nor recomputing its Content-Security-Policy (which hashes the page's inline
//! styles). What changes is whether it is served, and which version: its owner may unpublish,
//! republish, delete, refine or restore it, the admin may take it down. Whoever changes a page invalidates its
//! entry here at once, and tells the other instances, which do the same (through PostgreSQL's
//! `NOTIFY` and, with Redis, a notice: docs/ARCHITECTURE.md, "Owners and moderation"). An
//! entry also lives for a limited time only, so that a change made behind LivePage's back (in
//! the database by hand) or a notice lost with a connection still ends within that time.
//!
//! Found pages are cached, and so are gone ones (deleted or removed: for good). Unknown and
//! unpublished pages are not: one may be saved or republished the next moment, and must be
//! served at once. The cache is bounded by the bytes of the documents it holds, least recently
//! and least frequently used going first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderValue;
use bytes::Bytes;
use moka::sync::Cache;
use url::Url;
use uuid::Uuid;

use super::security::page_policy;
use crate::store::{PageStatus, ServedPage, Store, StoreError};

/// What the cache holds for a document beyond its bytes: room for the key, the policy and the
/// cache's own bookkeeping.
const ENTRY_OVERHEAD: u32 = 512;

/// A page as `/p/{id}` answers it.
#[derive(Debug)]
pub enum Served {
    /// A published page, ready to serve.
    Live(CachedPage),
    /// A page that is gone for good: [`PageStatus::Removed`] or [`PageStatus::Deleted`].
    Gone(PageStatus),
}

/// A published page, ready to serve.
#[derive(Debug)]
pub struct CachedPage {
    /// The stored document, with the report link when there is one.
    pub html: Bytes,
    /// The page's Content-Security-Policy (see `security::page_policy`).
    pub policy: HeaderValue,
    /// A strong validator: the id and version, which name one document for good, and whether
    /// the report link is in it.
    pub etag: HeaderValue,
}

/// Published pages by id, up to a total size.
#[derive(Clone)]
pub struct PageCache {
    pages: Cache<Uuid, Arc<Served>>,
    /// Counts invalidations, so that a lookup that read the database before a change and
    /// finishes after it does not put the old state back (see [`PageCache::get`]).
    epoch: Arc<AtomicU64>,
    /// The web UI's base URL, for the report link every page gets; `None` without the link.
    report_base: Option<Url>,
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
            .weigher(|_, page: &Arc<Served>| match page.as_ref() {
                Served::Live(page) => u32::try_from(page.html.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD),
                Served::Gone(_) => ENTRY_OVERHEAD,
            })
            .build();
        Self {
            pages,
            epoch: Arc::default(),
            report_base: None,
        }
    }

    /// Pages get a "Report" link to the form at `{base}report?page={id}` (see [`report_link`]).
    pub fn with_report_link(mut self, base: Url) -> Self {
        self.report_base = Some(base);
        self
    }

    /// Forgets page `id`, which has changed: the next request asks the database.
    pub fn invalidate(&self, id: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.pages.invalidate(&id);
    }

    /// Forgets every page: changes may have been missed (a listening connection was lost).
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.pages.invalidate_all();
    }

    /// Page `id` as `/p/{id}` serves it, from the cache or else from the store. `NotFound`
    /// for an unknown or unpublished page.
    pub async fn get(&self, id: Uuid, store: &Store) -> Result<Arc<Served>, StoreError> {
        if let Some(page) = self.pages.get(&id) {
            return Ok(page);
        }
        // A change committed while the database is read invalidates after it: if that happened
        // before the entry went in, it is not put in; if after, it is taken out again.
        let epoch = self.epoch.load(Ordering::SeqCst);
        let page = Arc::new(match store.served_page(id).await? {
            ServedPage::Live { html, version } => Served::Live(self.prepare(id, html, version)),
            ServedPage::Gone(status) => Served::Gone(status),
        });
        if self.epoch.load(Ordering::SeqCst) == epoch {
            self.pages.insert(id, Arc::clone(&page));
            if self.epoch.load(Ordering::SeqCst) != epoch {
                self.pages.invalidate(&id);
            }
        }
        Ok(page)
    }

    /// The stored document as served: its policy (computed before the link goes in, which
    /// adds no style element), the link, the validator.
    pub fn prepare(&self, id: Uuid, html: String, version: i64) -> CachedPage {
        let policy = page_policy(&html);
        let (html, etag) = match &self.report_base {
            Some(base) => (
                with_report_link(html, base, id),
                format!("\"{id}-v{version}-r\""),
            ),
            None => (html, format!("\"{id}-v{version}\"")),
        };
        CachedPage {
            html: Bytes::from(html),
            policy,
            etag: HeaderValue::from_str(&etag).expect("a quoted uuid is a valid header"),
        }
    }
}

/// The server's own "Report" link, put in every served page (unless `LIVEPAGE_REPORT_LINK` is
/// off) as the last thing in its body: outside the sanitized markup, which it follows. It is a
/// plain link, no script (pages may run none), styled only by its `style` attribute, which
/// every page's policy allows (`style-src-attr 'unsafe-inline'`; a `<style>` element would need
/// a hash of its own), with `!important` throughout, so that the page's CSS can neither hide
/// nor restyle it. Fixed in a corner, small and translucent, it covers little of the page.
pub fn report_link(base: &Url, id: Uuid) -> String {
    let href = base
        .join(&format!("report?page={id}"))
        .map(String::from)
        .unwrap_or_else(|_| format!("/report?page={id}"));
    let href = html_escape::encode_double_quoted_attribute(&href);
    format!(
        "<a href=\"{href}\" rel=\"nofollow noopener\" title=\"Report this page to LivePage\" \
         style=\"all:initial !important;position:fixed !important;right:8px !important;\
         bottom:8px !important;z-index:2147483647 !important;display:block !important;\
         visibility:visible !important;opacity:0.85 !important;\
         font:500 12px/1.4 system-ui,sans-serif !important;color:#fff !important;\
         background:rgba(15,23,42,0.8) !important;padding:3px 8px !important;\
         border-radius:6px !important;text-decoration:none !important;\
         cursor:pointer !important\">Report</a>"
    )
}

/// `html` with the report link of page `id` before its closing `</body>` (the last one: the
/// sanitizer writes one, at the end), or at its end when it has none.
fn with_report_link(mut html: String, base: &Url, id: Uuid) -> String {
    let link = report_link(base, id);
    match html.rfind("</body>") {
        Some(at) => html.insert_str(at, &link),
        None => html.push_str(&link),
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::store::testing::{Backend, FreshDatabase};

    #[test]
    fn the_report_link_goes_last_in_the_body_and_is_only_a_styled_link() {
        let base = Url::parse("https://lp.example.com/app/").unwrap();
        let id = Uuid::now_v7();
        let page = with_report_link(
            "<!DOCTYPE html><html><head></head><body><p>&lt;/body&gt;</p></body></html>".into(),
            &base,
            id,
        );
        let link = report_link(&base, id);
        assert_eq!(
            page,
            format!(
                "<!DOCTYPE html><html><head></head><body><p>&lt;/body&gt;</p>{link}</body></html>"
            )
        );
        assert!(link.starts_with(&format!(
            "<a href=\"https://lp.example.com/app/report?page={id}\""
        )));
        assert!(link.ends_with(">Report</a>"));
        for forbidden in ["<script", "<style", "javascript:", " on"] {
            assert!(!link.contains(forbidden), "{forbidden} in {link}");
        }
        // Every declaration wins over the page's own CSS.
        let style = link
            .split("style=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            style
                .split(';')
                .all(|declaration| declaration.ends_with("!important")),
            "{style}"
        );
        assert_eq!(
            with_report_link("<p>no body tag".into(), &base, id),
            format!("<p>no body tag{link}")
        );
    }

    /// A published page straight into the database, as another instance would have saved it.
    async fn insert_page(database: &FreshDatabase, id: Uuid, html: &str) {
        database
            .execute(&format!(
                "INSERT INTO pages (id, email, prompt, page_type, theme, title, html_content,
                                    created_at)
                 VALUES ('{id}', 'ann@example.com', 'bread', 'landing', 'modern', 'Bread',
                         '{html}', '2026-11-24T00:00:00.000000Z')"
            ))
            .await;
    }

    #[tokio::test]
    async fn changes_are_seen_at_once_after_an_invalidation_and_gone_pages_are_kept() {
        let database = FreshDatabase::create(&Backend::Sqlite).await;
        let store = database.connect(&StoreOptions::default()).await;
        let id = Uuid::now_v7();
        insert_page(&database, id, "<!DOCTYPE html><p>Bread</p></body>").await;
        let cache = PageCache::new(1 << 20, Duration::from_secs(60))
            .with_report_link(Url::parse("http://lp.test/").unwrap());
        let served = cache.get(id, &store).await.unwrap();
        let Served::Live(page) = served.as_ref() else {
            panic!("a live page");
        };
        assert!(page.html.ends_with(b">Report</a></body>"));
        assert_eq!(page.etag, format!("\"{id}-v1-r\""));

        let unpublish = format!("UPDATE pages SET is_public = FALSE WHERE id = '{id}'");
        database.execute(&unpublish).await;
        cache.invalidate(id);
        assert!(matches!(
            cache.get(id, &store).await,
            Err(StoreError::NotFound)
        ));
        // Not found is never kept: published again, it is served by the next request.
        database
            .execute(&format!(
                "UPDATE pages SET is_public = TRUE WHERE id = '{id}'"
            ))
            .await;
        assert!(matches!(
            cache.get(id, &store).await.unwrap().as_ref(),
            Served::Live(_)
        ));

        store.take_down(id, "spam").await.unwrap();
        cache.invalidate_all();
        assert!(matches!(
            cache.get(id, &store).await.unwrap().as_ref(),
            Served::Gone(PageStatus::Removed)
        ));
        database
            .execute(&format!(
                "UPDATE pages SET removed_at = NULL WHERE id = '{id}'"
            ))
            .await;
        assert!(
            matches!(
                cache.get(id, &store).await.unwrap().as_ref(),
                Served::Gone(_)
            ),
            "gone pages are kept (a takedown is final)"
        );
        store.close().await;
        database.cleanup().await;
    }

    #[tokio::test]
    async fn a_page_taken_down_in_the_database_goes_once_its_entry_expires() {
        let database = FreshDatabase::create(&Backend::Sqlite).await;
        let store = database.connect(&StoreOptions::default()).await;
        let id = Uuid::now_v7();
        insert_page(&database, id, "<!DOCTYPE html><p>Bread</p>").await;
        let ttl = Duration::from_millis(300);
        let cache = PageCache::new(1 << 20, ttl);
        assert!(matches!(
            cache.get(id, &store).await.unwrap().as_ref(),
            Served::Live(page) if page.html == "<!DOCTYPE html><p>Bread</p>"
        ));

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
