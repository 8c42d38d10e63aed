//! Pages: saving a generated one, serving it, publishing, deleting and taking it down, the
//! lists of an owner's and an email's pages, and view counts.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::generations::complete_generation;
use super::notices::announce_page;
use super::{PgStore, Transaction};
use crate::domain::OwnerHash;
use crate::store::{
    NewPage, Outcome, PageMeta, PageRecord, PageStatus, ServedPage, StoreError, found, owner_hash,
    saturating_i64,
};

/// The columns of a [`PageRecord`].
const PAGE_COLUMNS: &str = "id, email, prompt, page_type, theme, title, is_public, view_count, \
    created_at, meta_data, owner_key_hash, removed_at, deleted_at, version";

impl PgStore {
    /// In one transaction: the page (copying owner and prompt from its generation), then the
    /// generation marked completed. A missing generation rolls everything back.
    pub async fn save_page(
        &self,
        generation_id: Uuid,
        page: &NewPage<'_>,
        outcome: &Outcome<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let saved = insert_page(&mut tx, generation_id, page).await?
            && complete_generation(&mut tx, generation_id, page.id, outcome).await?;
        if !saved {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn page(&self, id: Uuid) -> Result<PageRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {PAGE_COLUMNS} FROM pages WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(page_from_row(&row)?)
    }

    /// The HTML is read only when the page is published: a gone page's may be large (a removed
    /// one keeps it).
    pub async fn served_page(&self, id: Uuid) -> Result<ServedPage, StoreError> {
        let row: Option<(Option<String>, bool, bool, bool, i64)> = sqlx::query_as(
            "SELECT CASE WHEN is_public AND removed_at IS NULL AND deleted_at IS NULL
                         THEN html_content END,
                    is_public, removed_at IS NOT NULL, deleted_at IS NOT NULL, version
             FROM pages WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        served(row)
    }

    pub async fn set_public(&self, id: Uuid, public: bool) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE pages SET is_public = $1
             WHERE id = $2 AND removed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(public)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        found(updated.rows_affected())?;
        announce_page(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_page(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "UPDATE pages
             SET html_content = '', title = '', prompt = '', is_public = FALSE, deleted_at = now()
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        found(deleted.rows_affected())?;
        sqlx::query("UPDATE generations SET prompt = '' WHERE page_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Every version's document goes with the page.
        sqlx::query("DELETE FROM page_versions WHERE page_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        announce_page(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn take_down(&self, id: Uuid, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        take_down(&mut tx, id, reason).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Newest first by UUIDv7 id; without a cursor, "before the largest possible id".
    pub async fn owner_history(
        &self,
        owner: &OwnerHash,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<PageRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAGE_COLUMNS} FROM pages
             WHERE owner_key_hash = $1 AND deleted_at IS NULL AND id < $2
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(owner.as_bytes().as_slice())
        .bind(before.unwrap_or(Uuid::max()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(page_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn history(
        &self,
        email: &str,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<PageRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAGE_COLUMNS} FROM pages
             WHERE email = $1 AND id < $2
               AND is_public AND removed_at IS NULL AND deleted_at IS NULL
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(email)
        .bind(before.unwrap_or(Uuid::max()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(page_from_row).collect::<Result<_, _>>()?)
    }

    /// Atomic increments in one transaction; views of pages that no longer exist are dropped.
    pub async fn add_views(&self, views: &[(Uuid, u64)]) -> Result<(), StoreError> {
        if views.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for &(page_id, count) in views {
            sqlx::query("UPDATE pages SET view_count = view_count + $1 WHERE id = $2")
                .bind(saturating_i64(count))
                .bind(page_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Marks the page removed (keeping the first removal's time and reason), resolves its open
/// reports as taken down, and announces the change. `NotFound` for an unknown page.
pub(super) async fn take_down(
    tx: &mut Transaction,
    id: Uuid,
    reason: &str,
) -> Result<(), StoreError> {
    let removed = sqlx::query(
        "UPDATE pages
         SET is_public = FALSE, removed_at = COALESCE(removed_at, now()),
             removal_reason = COALESCE(removal_reason, $1)
         WHERE id = $2",
    )
    .bind(reason)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    found(removed.rows_affected())?;
    sqlx::query(
        "UPDATE reports SET resolved_at = now(), resolution = 'takedown'
         WHERE page_id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    announce_page(tx, id).await
}

/// Inserts the page, taking email, prompt, page type and theme from its generation row, so the
/// insert itself checks that the generation exists. Returns whether it did.
async fn insert_page(
    tx: &mut Transaction,
    generation_id: Uuid,
    page: &NewPage<'_>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO pages
             (id, email, prompt, page_type, theme, title, html_content, is_public, created_at,
              meta_data, owner_key_hash)
         SELECT $1, email, prompt, page_type, theme, $2, $3, TRUE, $4, $5, owner_key_hash
         FROM generations WHERE id = $6",
    )
    .bind(page.id)
    .bind(page.html.title())
    .bind(page.html.as_str())
    .bind(page.created_at)
    .bind(Json(page.meta_data))
    .bind(generation_id)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO page_versions
             (page_id, version, kind, title, html_content, prompt, model, usage, generation_id,
              created_at)
         SELECT p.id, 1, 'created', p.title, p.html_content, p.prompt, g.model, $1, g.id,
                p.created_at
         FROM pages p JOIN generations g ON g.id = $2 WHERE p.id = $3",
    )
    .bind(page.meta_data.usage.map(Json))
    .bind(generation_id)
    .bind(page.id)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// What `/p/{id}` serves, from `(html if published, is_public, removed, deleted, version)`.
pub(super) fn served(
    row: Option<(Option<String>, bool, bool, bool, i64)>,
) -> Result<ServedPage, StoreError> {
    let (html, is_public, removed, deleted, version) = row.ok_or(StoreError::NotFound)?;
    match (PageStatus::of(is_public, removed, deleted), html) {
        (PageStatus::Published, Some(html)) => Ok(ServedPage::Live { html, version }),
        (status @ (PageStatus::Removed | PageStatus::Deleted), _) => Ok(ServedPage::Gone(status)),
        _ => Err(StoreError::NotFound),
    }
}

fn page_from_row(row: &PgRow) -> Result<PageRecord, sqlx::Error> {
    let is_public = row.try_get("is_public")?;
    let removed_at: Option<OffsetDateTime> = row.try_get("removed_at")?;
    let deleted_at: Option<OffsetDateTime> = row.try_get("deleted_at")?;
    Ok(PageRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        prompt: row.try_get("prompt")?,
        page_type: row.try_get("page_type")?,
        theme: row.try_get("theme")?,
        title: row.try_get("title")?,
        is_public,
        status: PageStatus::of(is_public, removed_at.is_some(), deleted_at.is_some()),
        view_count: row.try_get("view_count")?,
        created_at: row.try_get("created_at")?,
        meta_data: row.try_get::<Json<PageMeta>, _>("meta_data")?.0,
        owner: owner_hash(row.try_get("owner_key_hash")?)?,
        removed_at,
        version: row.try_get("version")?,
    })
}
