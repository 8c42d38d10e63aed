//! A page's versions: a refine's result saved as the next one, an old one restored, the list,
//! and one served by number (docs/ARCHITECTURE.md, "Refining a page").

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::generations::complete_generation;
use super::notices::announce_page;
use super::pages::served;
use super::{PgStore, Transaction};
use crate::domain::Usage;
use crate::store::{NewVersion, Outcome, ServedPage, StoreError, VersionKind, VersionRecord};

/// The columns of a [`VersionRecord`].
const VERSION_COLUMNS: &str =
    "version, kind, title, prompt, model, usage, restored_from, generation_id, created_at";

impl PgStore {
    /// In one transaction: the page's next version (the `UPDATE` locks the page's row, so a
    /// concurrent writer waits and then reads the number committed here), the page's current
    /// document, and the refine marked completed.
    pub async fn save_version(
        &self,
        generation_id: Uuid,
        version: &NewVersion<'_>,
        outcome: &Outcome<'_>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = next_version(&mut tx, version.page_id, version.html).await?;
        if n != version.base_version + 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict);
        }
        let inserted = sqlx::query(
            "INSERT INTO page_versions
                 (page_id, version, kind, title, html_content, prompt, model, usage,
                  generation_id, created_at)
             SELECT $1, $2, 'refined', $3, $4, prompt, model, $5, id, $6
             FROM generations WHERE id = $7",
        )
        .bind(version.page_id)
        .bind(n)
        .bind(version.html.title())
        .bind(version.html.as_str())
        .bind(outcome.usage.map(Json))
        .bind(version.created_at)
        .bind(generation_id)
        .execute(&mut *tx)
        .await?;
        let saved = inserted.rows_affected() == 1
            && complete_generation(&mut tx, generation_id, version.page_id, outcome).await?;
        if !saved {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE generations SET version = $1 WHERE id = $2")
            .bind(n)
            .bind(generation_id)
            .execute(&mut *tx)
            .await?;
        announce_page(&mut tx, version.page_id).await?;
        tx.commit().await?;
        Ok(n)
    }

    pub async fn restore_version(
        &self,
        id: Uuid,
        n: i64,
        created_at: OffsetDateTime,
    ) -> Result<VersionRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (title, html): (String, String) = sqlx::query_as(
            "SELECT title, html_content FROM page_versions WHERE page_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(n)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let next = sqlx::query_scalar::<_, i64>(
            "UPDATE pages SET version = version + 1, html_content = $1, title = $2
             WHERE id = $3 AND removed_at IS NULL AND deleted_at IS NULL
             RETURNING version",
        )
        .bind(&html)
        .bind(&title)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let row = sqlx::query(&format!(
            "INSERT INTO page_versions
                 (page_id, version, kind, title, html_content, prompt, restored_from, created_at)
             VALUES ($1, $2, 'restored', $3, $4, '', $5, $6)
             RETURNING {VERSION_COLUMNS}"
        ))
        .bind(id)
        .bind(next)
        .bind(&title)
        .bind(&html)
        .bind(n)
        .bind(created_at)
        .fetch_one(&mut *tx)
        .await?;
        announce_page(&mut tx, id).await?;
        tx.commit().await?;
        Ok(version_from_row(&row)?)
    }

    pub async fn current_document(&self, id: Uuid) -> Result<(String, i64), StoreError> {
        sqlx::query_as(
            "SELECT html_content, version FROM pages
             WHERE id = $1 AND removed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn versions(&self, id: Uuid) -> Result<Vec<VersionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM page_versions WHERE page_id = $1 ORDER BY version DESC"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(version_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn served_version(&self, id: Uuid, n: i64) -> Result<ServedPage, StoreError> {
        let row: Option<(Option<String>, bool, bool, bool)> = sqlx::query_as(
            "SELECT CASE WHEN p.is_public AND p.removed_at IS NULL AND p.deleted_at IS NULL
                         THEN v.html_content END,
                    p.is_public, p.removed_at IS NOT NULL, p.deleted_at IS NOT NULL
             FROM pages p LEFT JOIN page_versions v ON v.page_id = p.id AND v.version = $1
             WHERE p.id = $2",
        )
        .bind(n)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        served(row.map(|(html, public, removed, deleted)| (html, public, removed, deleted, n)))
    }
}

/// Makes `html` page `id`'s current document under the next version number, which it returns.
/// `NotFound` when the page cannot be changed (unknown, removed, deleted).
async fn next_version(
    tx: &mut Transaction,
    id: Uuid,
    html: &crate::sanitize::SanitizedHtml,
) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>(
        "UPDATE pages SET version = version + 1, html_content = $1, title = $2
         WHERE id = $3 AND removed_at IS NULL AND deleted_at IS NULL
         RETURNING version",
    )
    .bind(html.as_str())
    .bind(html.title())
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)
}

fn version_from_row(row: &PgRow) -> Result<VersionRecord, sqlx::Error> {
    Ok(VersionRecord {
        version: row.try_get("version")?,
        kind: VersionKind::parse(row.try_get("kind")?)?,
        title: row.try_get("title")?,
        prompt: row.try_get("prompt")?,
        model: row.try_get("model")?,
        usage: row
            .try_get::<Option<Json<Usage>>, _>("usage")?
            .map(|usage| usage.0),
        restored_from: row.try_get("restored_from")?,
        generation_id: row.try_get("generation_id")?,
        created_at: row.try_get("created_at")?,
    })
}
