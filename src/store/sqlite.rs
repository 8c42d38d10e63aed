//! The SQLite backend of [`Store`](super::Store): the embedded default (`sqlite://livepage.db`),
//! so that `cargo run` needs nothing installed.
//!
//! It owns the connection settings that make SQLite a good server database (WAL, a busy timeout,
//! foreign keys), the migrations in `migrations/sqlite`, and the mapping between the store's
//! types and SQLite's few storage classes: UUIDs as hyphenated text, timestamps as fixed-width
//! RFC 3339 text (see [`format_timestamp`] and the migration for why), JSON as text.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row, Sqlite};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::{
    Abandoned, GenerationGroup, GenerationRecord, GenerationStatus, LatencyRow, ModerationTotals,
    NewGeneration, NewPage, NewReport, NewVersion, Outcome, PageMeta, PageRecord, PageStatus,
    PageTotals, Percentiles, ReportRecord, Resolution, Resolved, ServedPage, StoreError,
    StoreOptions, TopPage, VersionKind, VersionRecord, column_decode_error, found, owner_hash,
    parse_error_code, parse_resolution, parse_status, saturating_i64,
};
use crate::domain::{ErrorCode, GenerationRequest, OwnerHash, Usage};

/// The columns of a [`PageRecord`].
const PAGE_COLUMNS: &str = "id, email, prompt, page_type, theme, title, is_public, view_count, \
    created_at, meta_data, owner_key_hash, removed_at, deleted_at, version";

/// The columns of a [`VersionRecord`].
const VERSION_COLUMNS: &str =
    "version, kind, title, prompt, model, usage, restored_from, generation_id, created_at";

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How timestamps are stored: UTC, always six fractional digits, so that text order is time
/// order and the value round-trips with the same precision as PostgreSQL's `timestamptz`.
const TIMESTAMP_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Pages and generations in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Taken by every write, before it gets a connection. SQLite has one writer; without this,
    /// concurrent writers would each hold a pooled connection and wait for the lock in SQLite's
    /// busy handler, which sleeps in growing steps (up to 100 ms) — under a burst of thousands
    /// of generations, writes then crawl and time out. Queued here, they run back to back.
    /// (The busy timeout still covers writers in other processes.)
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Generation rows on their way to the database, written a batch at a time by one task
    /// (see [`write_starts`]).
    starts: mpsc::Sender<QueuedStart>,
}

/// How many generation rows one statement writes at most: 11 parameters each, well under
/// SQLite's limit of 32,766 per statement.
const MAX_START_BATCH: usize = 256;

/// A generation row waiting for the next batch, and who waits for it.
struct QueuedStart {
    id: Uuid,
    request: GenerationRequest,
    created_at: OffsetDateTime,
    instance_id: Uuid,
    written: oneshot::Sender<Result<(), StoreError>>,
}

impl SqliteStore {
    /// Opens the database at `url` (creating the file if needed) and applies pending migrations.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let pool = pool_options(url, options)
            .connect_with(connect_options(url, options)?)
            .await?;
        migrate(&pool).await?;
        let writer = Arc::default();
        let (starts, queue) = mpsc::channel(MAX_START_BATCH * 4);
        tokio::spawn(write_starts(pool.clone(), Arc::clone(&writer), queue));
        Ok(Self {
            pool,
            writer,
            starts,
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records a generation as it starts. Rows that arrive together — a thousand clients
    /// starting at once — are written together, in one statement and one commit: each write
    /// waits for SQLite's one writer and a round trip to its thread, which one row at a time
    /// made the thousandth generation wait for all the others before it could ask the model
    /// (docs/ARCHITECTURE.md, "Storage").
    pub async fn insert_generation(
        &self,
        generation: &NewGeneration<'_>,
    ) -> Result<(), StoreError> {
        let (written, outcome) = oneshot::channel();
        let queued = QueuedStart {
            id: generation.id,
            request: generation.request.clone(),
            created_at: generation.created_at,
            instance_id: generation.instance_id,
            written,
        };
        self.starts
            .send(queued)
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolClosed))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolClosed))?
    }

    /// In one write transaction (SQLite's one writer, so the number read is the number
    /// written): the page's next version, the page's current document, and the refine
    /// marked completed.
    pub async fn save_version(
        &self,
        generation_id: Uuid,
        version: &NewVersion<'_>,
        outcome: &Outcome<'_>,
    ) -> Result<i64, StoreError> {
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n = next_version(&mut tx, version.page_id, version.html).await?;
        if n != version.base_version + 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict);
        }
        let inserted = sqlx::query(
            "INSERT INTO page_versions
                 (page_id, version, kind, title, html_content, prompt, model, usage,
                  generation_id, created_at)
             SELECT ?, ?, 'refined', ?, ?, prompt, model, ?, id, ? FROM generations WHERE id = ?",
        )
        .bind(version.page_id.hyphenated())
        .bind(n)
        .bind(version.html.title())
        .bind(version.html.as_str())
        .bind(outcome.usage.map(Json))
        .bind(format_timestamp(version.created_at)?)
        .bind(generation_id.hyphenated())
        .execute(&mut *tx)
        .await?;
        let saved = inserted.rows_affected() == 1
            && complete_generation(&mut tx, generation_id, version.page_id, outcome).await?;
        if !saved {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE generations SET version = ? WHERE id = ?")
            .bind(n)
            .bind(generation_id.hyphenated())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    pub async fn restore_version(
        &self,
        id: Uuid,
        n: i64,
        created_at: OffsetDateTime,
    ) -> Result<VersionRecord, StoreError> {
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (title, html): (String, String) = sqlx::query_as(
            "SELECT title, html_content FROM page_versions WHERE page_id = ? AND version = ?",
        )
        .bind(id.hyphenated())
        .bind(n)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let next = sqlx::query_scalar::<_, i64>(
            "UPDATE pages SET version = version + 1, html_content = ?, title = ?
             WHERE id = ? AND removed_at IS NULL AND deleted_at IS NULL
             RETURNING version",
        )
        .bind(&html)
        .bind(&title)
        .bind(id.hyphenated())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO page_versions
                 (page_id, version, kind, title, html_content, prompt, restored_from, created_at)
             VALUES (?, ?, 'restored', ?, ?, '', ?, ?)",
        )
        .bind(id.hyphenated())
        .bind(next)
        .bind(&title)
        .bind(&html)
        .bind(n)
        .bind(format_timestamp(created_at)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(VersionRecord {
            version: next,
            kind: VersionKind::Restored,
            title,
            prompt: String::new(),
            model: None,
            usage: None,
            restored_from: Some(n),
            generation_id: None,
            created_at: parse_timestamp("created_at", &format_timestamp(created_at)?)?,
        })
    }

    pub async fn current_document(&self, id: Uuid) -> Result<(String, i64), StoreError> {
        sqlx::query_as(
            "SELECT html_content, version FROM pages
             WHERE id = ? AND removed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(id.hyphenated())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn versions(&self, id: Uuid) -> Result<Vec<VersionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM page_versions WHERE page_id = ? ORDER BY version DESC"
        ))
        .bind(id.hyphenated())
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
             FROM pages p LEFT JOIN page_versions v ON v.page_id = p.id AND v.version = ?
             WHERE p.id = ?",
        )
        .bind(n)
        .bind(id.hyphenated())
        .fetch_optional(&self.pool)
        .await?;
        served(row.map(|(html, public, removed, deleted)| (html, public, removed, deleted, n)))
    }

    /// In one write transaction: the page (copying owner and prompt from its generation), then
    /// the generation marked completed. A missing generation rolls everything back.
    pub async fn save_page(
        &self,
        generation_id: Uuid,
        page: &NewPage<'_>,
        outcome: &Outcome<'_>,
    ) -> Result<(), StoreError> {
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let saved = insert_page(&mut tx, generation_id, page).await?
            && complete_generation(&mut tx, generation_id, page.id, outcome).await?;
        if !saved {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn finish_generation(
        &self,
        generation_id: Uuid,
        outcome: &Outcome<'_>,
    ) -> Result<(), StoreError> {
        let _write = self.writer.lock().await;
        let updated = sqlx::query(
            "UPDATE generations
             SET status = ?, error_code = ?, error_message = ?, usage = ?, first_token_ms = ?,
                 duration_ms = ?, partial_output = ?, finished_at = ?, final_seq = ?, segments = ?
             WHERE id = ?",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.error_code.map(ErrorCode::as_str))
        .bind(outcome.error_message)
        .bind(outcome.usage.map(Json))
        .bind(outcome.first_token_ms.map(saturating_i64))
        .bind(saturating_i64(outcome.duration_ms))
        .bind(outcome.partial_output)
        .bind(format_timestamp(outcome.finished_at)?)
        .bind(outcome.final_seq.map(saturating_i64))
        .bind(i64::from(outcome.segments))
        .bind(generation_id.hyphenated())
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected())
    }

    /// Marks generation `id` failed if it is still running; returns whether it was. A row
    /// already failed the same way without a final seq (a sweep got there first) gets it.
    pub async fn fail_running(
        &self,
        id: Uuid,
        failure: &Abandoned<'_>,
    ) -> Result<bool, StoreError> {
        let _write = self.writer.lock().await;
        let updated = sqlx::query(
            "UPDATE generations
             SET status = 'failed', error_code = ?1, error_message = ?2, final_seq = ?3,
                 finished_at = COALESCE(finished_at, ?4)
             WHERE id = ?5
               AND (status = 'running' OR (error_code = ?1 AND final_seq IS NULL))",
        )
        .bind(failure.code.as_str())
        .bind(failure.message)
        .bind(failure.final_seq.map(saturating_i64))
        .bind(format_timestamp(OffsetDateTime::now_utc())?)
        .bind(id.hyphenated())
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Marks failed every generation still running; returns how many there were.
    pub async fn fail_all_running(&self, failure: &Abandoned<'_>) -> Result<u64, StoreError> {
        let _write = self.writer.lock().await;
        let updated = sqlx::query(
            "UPDATE generations
             SET status = 'failed', error_code = ?, error_message = ?, finished_at = ?
             WHERE status = 'running'",
        )
        .bind(failure.code.as_str())
        .bind(failure.message)
        .bind(format_timestamp(OffsetDateTime::now_utc())?)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected())
    }

    /// The running generations and the instances that run them, by the database.
    pub async fn running_generations(&self) -> Result<Vec<(Uuid, Option<Uuid>)>, StoreError> {
        let rows: Vec<(Hyphenated, Option<Hyphenated>)> =
            sqlx::query_as("SELECT id, instance_id FROM generations WHERE status = 'running'")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, instance)| (id.into_uuid(), instance.map(Hyphenated::into_uuid)))
            .collect())
    }

    pub async fn page(&self, id: Uuid) -> Result<PageRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {PAGE_COLUMNS} FROM pages WHERE id = ?"))
            .bind(id.hyphenated())
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
             FROM pages WHERE id = ?",
        )
        .bind(id.hyphenated())
        .fetch_optional(&self.pool)
        .await?;
        served(row)
    }

    pub async fn set_public(&self, id: Uuid, public: bool) -> Result<(), StoreError> {
        let _write = self.writer.lock().await;
        let updated = sqlx::query(
            "UPDATE pages SET is_public = ?
             WHERE id = ? AND removed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(public)
        .bind(id.hyphenated())
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected())
    }

    pub async fn delete_page(&self, id: Uuid) -> Result<(), StoreError> {
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let deleted = sqlx::query(
            "UPDATE pages
             SET html_content = '', title = '', prompt = '', is_public = FALSE, deleted_at = ?
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(format_timestamp(OffsetDateTime::now_utc())?)
        .bind(id.hyphenated())
        .execute(&mut *tx)
        .await?;
        found(deleted.rows_affected())?;
        sqlx::query("UPDATE generations SET prompt = '' WHERE page_id = ?")
            .bind(id.hyphenated())
            .execute(&mut *tx)
            .await?;
        // Every version's document goes with the page.
        sqlx::query("DELETE FROM page_versions WHERE page_id = ?")
            .bind(id.hyphenated())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn take_down(&self, id: Uuid, reason: &str) -> Result<(), StoreError> {
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        take_down(&mut tx, id, reason).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_report(&self, report: &NewReport<'_>) -> Result<(), StoreError> {
        let _write = self.writer.lock().await;
        let inserted = sqlx::query(
            "INSERT INTO reports (id, page_id, reason, details, contact, created_at)
             SELECT ?, id, ?, ?, ?, ? FROM pages
             WHERE id = ? AND is_public AND removed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(report.id.hyphenated())
        .bind(report.report.reason.as_str())
        .bind(report.report.details.as_deref())
        .bind(report.report.contact.as_deref())
        .bind(format_timestamp(report.created_at)?)
        .bind(report.page_id.hyphenated())
        .execute(&self.pool)
        .await?;
        found(inserted.rows_affected())
    }

    pub async fn reports(
        &self,
        open: bool,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.page_id, p.title, p.is_public, p.removed_at IS NOT NULL AS removed,
                    p.deleted_at IS NOT NULL AS deleted, r.reason, r.details, r.contact,
                    r.created_at, r.resolved_at, r.resolution,
                    (SELECT COUNT(*) FROM reports c WHERE c.page_id = r.page_id) AS page_reports
             FROM reports r JOIN pages p ON p.id = r.page_id
             WHERE (r.resolved_at IS NULL) = ? AND r.id < ?
             ORDER BY r.id DESC LIMIT ?",
        )
        .bind(open)
        .bind(before.unwrap_or(Uuid::max()).hyphenated())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(report_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn resolve_report(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> Result<Resolved, StoreError> {
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (page_id, reason, resolved): (Hyphenated, String, bool) = sqlx::query_as(
            "SELECT page_id, reason, resolved_at IS NOT NULL FROM reports WHERE id = ?",
        )
        .bind(id.hyphenated())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if resolved {
            return Ok(Resolved::Already);
        }
        let page_id = page_id.into_uuid();
        sqlx::query("UPDATE reports SET resolved_at = ?, resolution = ? WHERE id = ?")
            .bind(format_timestamp(OffsetDateTime::now_utc())?)
            .bind(resolution.as_str())
            .bind(id.hyphenated())
            .execute(&mut *tx)
            .await?;
        if resolution == Resolution::Takedown {
            take_down(&mut tx, page_id, &format!("report {id}: {reason}")).await?;
        }
        tx.commit().await?;
        Ok(Resolved::Now { page_id })
    }

    pub async fn moderation_totals(&self) -> Result<ModerationTotals, StoreError> {
        let (open_reports, resolved_reports, takedowns) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL),
                    (SELECT COUNT(*) FROM reports WHERE resolved_at IS NOT NULL),
                    (SELECT COUNT(*) FROM pages WHERE removed_at IS NOT NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ModerationTotals {
            open_reports,
            resolved_reports,
            takedowns,
        })
    }

    pub async fn generation(&self, id: Uuid) -> Result<GenerationRecord, StoreError> {
        let row = sqlx::query(
            "SELECT id, page_id, email, prompt, page_type, theme, model, status, error_code,
                    error_message, usage, first_token_ms, duration_ms, partial_output, created_at,
                    finished_at, instance_id, final_seq, segments, refines, version
             FROM generations WHERE id = ?",
        )
        .bind(id.hyphenated())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(generation_from_row(&row)?)
    }

    pub async fn owner_history(
        &self,
        owner: &OwnerHash,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<PageRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAGE_COLUMNS} FROM pages
             WHERE owner_key_hash = ? AND deleted_at IS NULL AND id < ?
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(owner.as_bytes().as_slice())
        .bind(before.unwrap_or(Uuid::max()).hyphenated())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(page_from_row).collect::<Result<_, _>>()?)
    }

    /// Newest first by UUIDv7 id; without a cursor, "before the largest possible id".
    pub async fn history(
        &self,
        email: &str,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<PageRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAGE_COLUMNS} FROM pages
             WHERE email = ? AND id < ?
               AND is_public AND removed_at IS NULL AND deleted_at IS NULL
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(email)
        .bind(before.unwrap_or(Uuid::max()).hyphenated())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(page_from_row).collect::<Result<_, _>>()?)
    }

    /// Atomic increments in one write transaction; views of pages that no longer exist are dropped.
    pub async fn add_views(&self, views: &[(Uuid, u64)]) -> Result<(), StoreError> {
        if views.is_empty() {
            return Ok(());
        }
        let _write = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for &(page_id, count) in views {
            sqlx::query("UPDATE pages SET view_count = view_count + ? WHERE id = ?")
                .bind(saturating_i64(count))
                .bind(page_id.hyphenated())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn generation_groups(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<GenerationGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT model, status, error_code, refines IS NOT NULL AS refine,
                    COUNT(*) AS generations,
                    COALESCE(SUM(json_extract(usage, '$.prompt_tokens')), 0) AS prompt_tokens,
                    COALESCE(SUM(json_extract(usage, '$.completion_tokens')), 0)
                        AS completion_tokens,
                    TOTAL(json_extract(usage, '$.cost')) AS cost
             FROM generations WHERE created_at >= ?
             GROUP BY model, status, error_code, refines IS NOT NULL
             ORDER BY model, status, error_code, refines IS NOT NULL",
        )
        .bind(format_timestamp(since)?)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(generation_group_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// SQLite has no `percentile_cont`, so this computes it: `ROW_NUMBER()` and `COUNT(*)` over
    /// each (model, metric) partition give every sample its 0-based rank and the last rank;
    /// the percentile p lies at position `p * last`, between the samples ranked at its floor and
    /// the next, and is interpolated with PostgreSQL's arithmetic (`lo + frac * (hi - lo)`).
    /// Each sample appears twice, once under its model and once under `NULL` (all models).
    pub async fn latency_percentiles(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<LatencyRow>, StoreError> {
        let rows = sqlx::query(
            "WITH completed AS (
                 SELECT model, first_token_ms, duration_ms FROM generations
                 WHERE status = 'completed' AND created_at >= ?
             ),
             samples (model, metric, value) AS (
                 SELECT model, 'first_token', first_token_ms FROM completed
                 WHERE first_token_ms IS NOT NULL
                 UNION ALL
                 SELECT NULL, 'first_token', first_token_ms FROM completed
                 WHERE first_token_ms IS NOT NULL
                 UNION ALL
                 SELECT model, 'duration', duration_ms FROM completed
                 WHERE duration_ms IS NOT NULL
                 UNION ALL
                 SELECT NULL, 'duration', duration_ms FROM completed
                 WHERE duration_ms IS NOT NULL
             ),
             ranked AS (
                 SELECT model, metric, value,
                        ROW_NUMBER() OVER (PARTITION BY model, metric ORDER BY value) - 1 AS rank,
                        COUNT(*) OVER (PARTITION BY model, metric) - 1 AS last
                 FROM samples
             ),
             bounds AS (
                 SELECT model, metric,
                        MAX(0.5 * last) AS pos50,
                        MAX(CASE WHEN rank = CAST(0.5 * last AS INTEGER) THEN value END) AS lo50,
                        MAX(CASE WHEN rank = CAST(0.5 * last AS INTEGER) + 1 THEN value END)
                            AS hi50,
                        MAX(0.95 * last) AS pos95,
                        MAX(CASE WHEN rank = CAST(0.95 * last AS INTEGER) THEN value END) AS lo95,
                        MAX(CASE WHEN rank = CAST(0.95 * last AS INTEGER) + 1 THEN value END)
                            AS hi95
                 FROM ranked GROUP BY model, metric
             ),
             percentiles AS (
                 SELECT model, metric,
                        lo50 + (pos50 - CAST(pos50 AS INTEGER)) * (COALESCE(hi50, lo50) - lo50)
                            AS p50,
                        lo95 + (pos95 - CAST(pos95 AS INTEGER)) * (COALESCE(hi95, lo95) - lo95)
                            AS p95
                 FROM bounds
             )
             SELECT model,
                    MAX(CASE WHEN metric = 'first_token' THEN p50 END) AS first_token_p50,
                    MAX(CASE WHEN metric = 'first_token' THEN p95 END) AS first_token_p95,
                    MAX(CASE WHEN metric = 'duration' THEN p50 END) AS duration_p50,
                    MAX(CASE WHEN metric = 'duration' THEN p95 END) AS duration_p95
             FROM percentiles GROUP BY model",
        )
        .bind(format_timestamp(since)?)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(latency_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn page_totals(&self, since: OffsetDateTime) -> Result<PageTotals, StoreError> {
        let since = format_timestamp(since)?;
        let (pages, views, versions) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(view_count), 0),
                    (SELECT COUNT(*) FROM page_versions WHERE version > 1 AND created_at >= ?1)
             FROM pages WHERE created_at >= ?1",
        )
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(PageTotals {
            pages,
            views,
            versions,
        })
    }

    pub async fn most_viewed_pages(&self, limit: u32) -> Result<Vec<TopPage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, title, view_count FROM pages WHERE is_public
             ORDER BY view_count DESC, id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let page = |row: &SqliteRow| {
            Ok::<_, sqlx::Error>(TopPage {
                id: uuid(row, "id")?,
                title: row.try_get("title")?,
                views: row.try_get("view_count")?,
            })
        };
        Ok(rows.iter().map(page).collect::<Result<_, _>>()?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

type Transaction = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Marks the page removed (keeping the first removal's time and reason) and resolves its open
/// reports as taken down. `NotFound` for an unknown page.
async fn take_down(tx: &mut Transaction, id: Uuid, reason: &str) -> Result<(), StoreError> {
    let now = format_timestamp(OffsetDateTime::now_utc())?;
    let removed = sqlx::query(
        "UPDATE pages
         SET is_public = FALSE, removed_at = COALESCE(removed_at, ?),
             removal_reason = COALESCE(removal_reason, ?)
         WHERE id = ?",
    )
    .bind(&now)
    .bind(reason)
    .bind(id.hyphenated())
    .execute(&mut **tx)
    .await?;
    found(removed.rows_affected())?;
    sqlx::query(
        "UPDATE reports SET resolved_at = ?, resolution = 'takedown'
         WHERE page_id = ? AND resolved_at IS NULL",
    )
    .bind(&now)
    .bind(id.hyphenated())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What `/p/{id}` serves, from `(html if published, is_public, removed, deleted, version)`.
fn served(row: Option<(Option<String>, bool, bool, bool, i64)>) -> Result<ServedPage, StoreError> {
    let (html, is_public, removed, deleted, version) = row.ok_or(StoreError::NotFound)?;
    match (PageStatus::of(is_public, removed, deleted), html) {
        (PageStatus::Published, Some(html)) => Ok(ServedPage::Live { html, version }),
        (status @ (PageStatus::Removed | PageStatus::Deleted), _) => Ok(ServedPage::Gone(status)),
        _ => Err(StoreError::NotFound),
    }
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
         SELECT ?, email, prompt, page_type, theme, ?, ?, TRUE, ?, ?, owner_key_hash
         FROM generations WHERE id = ?",
    )
    .bind(page.id.hyphenated())
    .bind(page.html.title())
    .bind(page.html.as_str())
    .bind(format_timestamp(page.created_at)?)
    .bind(Json(page.meta_data))
    .bind(generation_id.hyphenated())
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO page_versions
             (page_id, version, kind, title, html_content, prompt, model, usage, generation_id,
              created_at)
         SELECT p.id, 1, 'created', p.title, p.html_content, p.prompt, g.model, ?, g.id,
                p.created_at
         FROM pages p JOIN generations g ON g.id = ? WHERE p.id = ?",
    )
    .bind(page.meta_data.usage.map(Json))
    .bind(generation_id.hyphenated())
    .bind(page.id.hyphenated())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Makes `html` page `id`'s current document under the next version number, which it returns.
/// `NotFound` when the page cannot be changed (unknown, removed, deleted).
async fn next_version(
    tx: &mut Transaction,
    id: Uuid,
    html: &crate::sanitize::SanitizedHtml,
) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>(
        "UPDATE pages SET version = version + 1, html_content = ?, title = ?
         WHERE id = ? AND removed_at IS NULL AND deleted_at IS NULL
         RETURNING version",
    )
    .bind(html.as_str())
    .bind(html.title())
    .bind(id.hyphenated())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Marks the generation completed with its page. The output is the page now, so no partial
/// output is kept. Returns whether the generation existed.
async fn complete_generation(
    tx: &mut Transaction,
    generation_id: Uuid,
    page_id: Uuid,
    outcome: &Outcome<'_>,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE generations
         SET status = 'completed', page_id = ?, error_code = ?, error_message = ?, usage = ?,
             first_token_ms = ?, duration_ms = ?, partial_output = NULL, finished_at = ?,
             final_seq = ?, segments = ?
         WHERE id = ?",
    )
    .bind(page_id.hyphenated())
    .bind(outcome.error_code.map(ErrorCode::as_str))
    .bind(outcome.error_message)
    .bind(outcome.usage.map(Json))
    .bind(outcome.first_token_ms.map(saturating_i64))
    .bind(saturating_i64(outcome.duration_ms))
    .bind(format_timestamp(outcome.finished_at)?)
    .bind(outcome.final_seq.map(saturating_i64))
    .bind(i64::from(outcome.segments))
    .bind(generation_id.hyphenated())
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Writes the queued generation rows, each batch (what has queued up while the last one was
/// written) in one `INSERT`. Should a batch fail, its rows are written one by one, so that a
/// row's error is its own. Ends when the store is dropped.
async fn write_starts(
    pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
    mut queue: mpsc::Receiver<QueuedStart>,
) {
    let mut batch = Vec::with_capacity(MAX_START_BATCH);
    while queue.recv_many(&mut batch, MAX_START_BATCH).await > 0 {
        let written = {
            let _write = writer.lock().await;
            insert_generations(&pool, &batch).await
        };
        match written {
            Ok(()) => {
                for start in batch.drain(..) {
                    let _ = start.written.send(Ok(()));
                }
            }
            Err(err) if batch.len() == 1 => {
                let start = batch.pop().expect("a batch of one");
                let _ = start.written.send(Err(err.into()));
            }
            Err(_) => {
                for start in batch.drain(..) {
                    let written = {
                        let _write = writer.lock().await;
                        insert_generations(&pool, std::slice::from_ref(&start)).await
                    };
                    let _ = start.written.send(written.map_err(StoreError::from));
                }
            }
        }
    }
}

async fn insert_generations(pool: &SqlitePool, rows: &[QueuedStart]) -> Result<(), sqlx::Error> {
    let mut created = Vec::with_capacity(rows.len());
    for row in rows {
        created.push(format_timestamp(row.created_at)?);
    }
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO generations
             (id, email, prompt, page_type, theme, model, status, created_at, instance_id,
              owner_key_hash, refines) ",
    );
    insert.push_values(rows.iter().zip(created), |mut values, (row, created_at)| {
        let request = &row.request;
        values
            .push_bind(row.id.hyphenated())
            .push_bind(request.email.as_str())
            .push_bind(request.prompt.as_str())
            .push_bind(request.page_type.as_str())
            .push_bind(request.theme.as_str())
            .push_bind(request.model.as_str())
            .push_bind(GenerationStatus::Running.as_str())
            .push_bind(created_at)
            .push_bind(row.instance_id.hyphenated())
            .push_bind(
                request
                    .owner
                    .as_ref()
                    .map(|owner| owner.as_bytes().as_slice()),
            )
            .push_bind(request.refine.as_ref().map(|r| r.page_id.hyphenated()));
    });
    insert.build().execute(pool).await?;
    Ok(())
}

/// The pool: as many connections as configured for a file (WAL lets readers run alongside the
/// one writer); exactly one, kept forever, for an in-memory database, which lives only as long
/// as a connection to it and is private to that connection.
fn pool_options(url: &str, options: &StoreOptions) -> SqlitePoolOptions {
    let pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
    if is_in_memory(url) {
        pool.max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        pool.max_connections(options.max_connections)
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn connect_options(url: &str, options: &StoreOptions) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // Readers never block the writer nor each other, so page views keep being served while
        // a page is saved.
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL loses no committed data on an application crash (only, at worst, the
        // last transactions on power loss) and saves an fsync per commit.
        .synchronous(SqliteSynchronous::Normal)
        // SQLite has a single writer: a writer waits this long for the lock rather than failing
        // at once with "database is locked".
        .busy_timeout(options.statement_timeout)
        // Off by default in SQLite; the schema relies on them (generations.page_id).
        .foreign_keys(true)
        // SQLite's advice for long-lived connections: refresh the planner's statistics as a
        // connection closes, scanning at most a few hundred rows per index so closing stays quick.
        .optimize_on_close(true, 400))
}

/// Applies pending migrations while holding SQLite's write lock.
///
/// sqlx's migrator takes an advisory lock on PostgreSQL but none on SQLite, so two processes
/// starting on a fresh file would both find nothing applied and race to create the tables.
/// `BEGIN IMMEDIATE` takes the database's single write lock up front: a second migrator waits
/// (busy timeout), then finds every migration recorded. The migrator's own per-migration
/// transactions become savepoints inside this one.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    MIGRATOR.run(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

fn page_from_row(row: &SqliteRow) -> Result<PageRecord, sqlx::Error> {
    let is_public = row.try_get("is_public")?;
    let removed_at = optional_timestamp(row, "removed_at")?;
    let deleted = row.try_get::<Option<&str>, _>("deleted_at")?.is_some();
    Ok(PageRecord {
        id: uuid(row, "id")?,
        email: row.try_get("email")?,
        prompt: row.try_get("prompt")?,
        page_type: row.try_get("page_type")?,
        theme: row.try_get("theme")?,
        title: row.try_get("title")?,
        is_public,
        status: PageStatus::of(is_public, removed_at.is_some(), deleted),
        view_count: row.try_get("view_count")?,
        created_at: timestamp(row, "created_at")?,
        meta_data: row.try_get::<Json<PageMeta>, _>("meta_data")?.0,
        owner: owner_hash(row.try_get("owner_key_hash")?)?,
        removed_at,
        version: row.try_get("version")?,
    })
}

fn version_from_row(row: &SqliteRow) -> Result<VersionRecord, sqlx::Error> {
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
        generation_id: row
            .try_get::<Option<Hyphenated>, _>("generation_id")?
            .map(Hyphenated::into_uuid),
        created_at: timestamp(row, "created_at")?,
    })
}

fn report_from_row(row: &SqliteRow) -> Result<ReportRecord, sqlx::Error> {
    Ok(ReportRecord {
        id: uuid(row, "id")?,
        page_id: uuid(row, "page_id")?,
        title: row.try_get("title")?,
        page_status: PageStatus::of(
            row.try_get("is_public")?,
            row.try_get("removed")?,
            row.try_get("deleted")?,
        ),
        reason: row.try_get("reason")?,
        details: row.try_get("details")?,
        contact: row.try_get("contact")?,
        created_at: timestamp(row, "created_at")?,
        resolved_at: optional_timestamp(row, "resolved_at")?,
        resolution: parse_resolution(row.try_get("resolution")?)?,
        page_reports: row.try_get("page_reports")?,
    })
}

fn optional_timestamp(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    row.try_get::<Option<&str>, _>(column)?
        .map(|text| parse_timestamp(column, text))
        .transpose()
}

fn generation_from_row(row: &SqliteRow) -> Result<GenerationRecord, sqlx::Error> {
    Ok(GenerationRecord {
        id: uuid(row, "id")?,
        page_id: row
            .try_get::<Option<Hyphenated>, _>("page_id")?
            .map(Hyphenated::into_uuid),
        email: row.try_get("email")?,
        prompt: row.try_get("prompt")?,
        page_type: row.try_get("page_type")?,
        theme: row.try_get("theme")?,
        model: row.try_get("model")?,
        status: parse_status(row.try_get("status")?)?,
        error_code: parse_error_code(row.try_get("error_code")?)?,
        error_message: row.try_get("error_message")?,
        usage: row
            .try_get::<Option<Json<Usage>>, _>("usage")?
            .map(|usage| usage.0),
        first_token_ms: row.try_get("first_token_ms")?,
        duration_ms: row.try_get("duration_ms")?,
        partial_output: row.try_get("partial_output")?,
        created_at: timestamp(row, "created_at")?,
        instance_id: row
            .try_get::<Option<Hyphenated>, _>("instance_id")?
            .map(Hyphenated::into_uuid),
        final_seq: row.try_get("final_seq")?,
        segments: row.try_get("segments")?,
        refines: row
            .try_get::<Option<Hyphenated>, _>("refines")?
            .map(Hyphenated::into_uuid),
        version: row.try_get("version")?,
        finished_at: row
            .try_get::<Option<&str>, _>("finished_at")?
            .map(|text| parse_timestamp("finished_at", text))
            .transpose()?,
    })
}

fn generation_group_from_row(row: &SqliteRow) -> Result<GenerationGroup, sqlx::Error> {
    Ok(GenerationGroup {
        model: row.try_get("model")?,
        status: parse_status(row.try_get("status")?)?,
        error_code: row.try_get("error_code")?,
        refine: row.try_get("refine")?,
        generations: row.try_get("generations")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        cost: row.try_get("cost")?,
    })
}

fn latency_from_row(row: &SqliteRow) -> Result<LatencyRow, sqlx::Error> {
    Ok(LatencyRow {
        model: row.try_get("model")?,
        first_token_ms: Percentiles {
            p50: row.try_get("first_token_p50")?,
            p95: row.try_get("first_token_p95")?,
        },
        duration_ms: Percentiles {
            p50: row.try_get("duration_p50")?,
            p95: row.try_get("duration_p95")?,
        },
    })
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, sqlx::Error> {
    Ok(row.try_get::<Hyphenated, _>(column)?.into_uuid())
}

fn timestamp(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, sqlx::Error> {
    parse_timestamp(column, row.try_get(column)?)
}

/// The stored form of an instant (see [`TIMESTAMP_FORMAT`]); sub-microsecond digits are dropped.
fn format_timestamp(at: OffsetDateTime) -> Result<String, sqlx::Error> {
    at.to_offset(UtcOffset::UTC)
        .format(TIMESTAMP_FORMAT)
        .map_err(|err| sqlx::Error::Encode(err.into()))
}

fn parse_timestamp(column: &str, text: &str) -> Result<OffsetDateTime, sqlx::Error> {
    PrimitiveDateTime::parse(text, TIMESTAMP_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|err| column_decode_error(column, err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_fixed_width_utc_text_that_sorts_like_time() {
        let at = datetime!(2025-01-31 10:05:00.1234567 +01:00);
        let text = format_timestamp(at).unwrap();
        assert_eq!(text, "2025-01-31T09:05:00.123456Z");
        assert_eq!(
            parse_timestamp("t", &text).unwrap(),
            datetime!(2025-01-31 09:05:00.123456 UTC)
        );
        let whole_second = format_timestamp(datetime!(2025-01-31 09:05:01 UTC)).unwrap();
        assert_eq!(whole_second, "2025-01-31T09:05:01.000000Z");
        assert!(text < whole_second);
    }

    #[test]
    fn in_memory_urls_are_recognised() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://app.db?mode=memory"));
        assert!(!is_in_memory("sqlite://livepage.db"));
    }
}
