//! The PostgreSQL backend of [`Store`](super::Store): the production database
//! (`postgres://…`).
//!
//! It owns the connection settings (a per-connection `statement_timeout`, so a stuck query
//! cannot hold a pooled connection forever), the migrations in `migrations/postgres`, and the
//! mapping to PostgreSQL's native types: `uuid`, `timestamptz`, `jsonb`, `bigint`, `boolean`.
//! Migrations run under sqlx's advisory lock, so several instances may start at once.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Abandoned, GenerationGroup, GenerationRecord, GenerationStatus, LatencyRow, ModerationTotals,
    NewGeneration, NewPage, NewReport, NewVersion, Outcome, PageMeta, PageRecord, PageStatus,
    PageTotals, Percentiles, ReportRecord, Resolution, Resolved, ServedPage, StoreError,
    StoreOptions, TopPage, VersionKind, VersionRecord, found, owner_hash, parse_error_code,
    parse_resolution, parse_status, saturating_i64,
};
use crate::domain::{ErrorCode, OwnerHash, Usage};

/// The channel on which instances ask each other to cancel a generation; the payload is its id.
const CANCEL_CHANNEL: &str = "livepage_cancel";
/// The channel on which every change to a page (published, unpublished, deleted, taken down)
/// is announced, in the transaction that makes it; the payload is the page's id. Each instance
/// drops its cached copy (docs/ARCHITECTURE.md, "Owners and moderation").
const PAGE_CHANNEL: &str = "livepage_page";

/// The columns of a [`PageRecord`].
const PAGE_COLUMNS: &str = "id, email, prompt, page_type, theme, title, is_public, view_count, \
    created_at, meta_data, owner_key_hash, removed_at, deleted_at, version";

/// The columns of a [`VersionRecord`].
const VERSION_COLUMNS: &str =
    "version, kind, title, prompt, model, usage, restored_from, generation_id, created_at";
/// Pages and generations in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// How to open the connection that `LISTEN`s for cancel requests: one of its own, outside
    /// `pool`, whose size is the operator's.
    listen: Arc<ListenOptions>,
}

#[derive(Debug, Clone)]
struct ListenOptions {
    connect: PgConnectOptions,
    acquire_timeout: Duration,
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations.
    ///
    /// Errors never show the URL, so its password cannot leak into logs.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let connect_options = connect_options(url, options)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options.clone())
            .await?;
        let listen = Arc::new(ListenOptions {
            connect: connect_options,
            acquire_timeout: options.acquire_timeout,
        });
        // sqlx's migrator holds a PostgreSQL advisory lock while it runs, so instances that
        // start together apply each migration once; keep its locking on.
        let mut migrator: Migrator = sqlx::migrate!("migrations/postgres");
        // Instances of the previous release run on during a rolling deploy, and one rolled back
        // to must still start: a migration this binary does not know is not an error.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool, listen })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Tells every instance listening (see [`Self::notices`]) to cancel generation `id`
    /// if it runs it.
    pub async fn request_cancel(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CANCEL_CHANNEL)
            .bind(id.hyphenated().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Rate-limit budgets shared by the instances on this database.
    pub fn shared_budgets(&self) -> SharedBudgets {
        SharedBudgets {
            pool: self.pool.clone(),
        }
    }

    /// Page changes, and with `cancels` the cancel requests, of all instances, from a
    /// connection of its own. Fails when the first `LISTEN` does.
    pub async fn notices(&self, cancels: bool) -> Result<Notices, StoreError> {
        let channels: &'static [&'static str] = if cancels {
            &[CANCEL_CHANNEL, PAGE_CHANNEL]
        } else {
            &[PAGE_CHANNEL]
        };
        Ok(Notices {
            listener: Some(listen(&self.listen, channels).await?),
            channels,
            options: Arc::clone(&self.listen),
            quiet_check: LISTEN_QUIET_CHECK,
            check_timeout: LISTEN_CHECK_TIMEOUT,
            lost: false,
        })
    }

    pub async fn insert_generation(
        &self,
        generation: &NewGeneration<'_>,
    ) -> Result<(), StoreError> {
        let request = generation.request;
        sqlx::query(
            "INSERT INTO generations
                 (id, email, prompt, page_type, theme, model, status, created_at, instance_id,
                  owner_key_hash, refines)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(generation.id)
        .bind(request.email.as_str())
        .bind(request.prompt.as_str())
        .bind(request.page_type.as_str())
        .bind(request.theme.as_str())
        .bind(request.model.as_str())
        .bind(GenerationStatus::Running.as_str())
        .bind(generation.created_at)
        .bind(generation.instance_id)
        .bind(
            request
                .owner
                .as_ref()
                .map(|owner| owner.as_bytes().as_slice()),
        )
        .bind(request.refine.as_ref().map(|r| r.page_id))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

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

    pub async fn finish_generation(
        &self,
        generation_id: Uuid,
        outcome: &Outcome<'_>,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE generations
             SET status = $1, error_code = $2, error_message = $3, usage = $4, first_token_ms = $5,
                 duration_ms = $6, partial_output = $7, finished_at = $8, final_seq = $9,
                 segments = $10
             WHERE id = $11",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.error_code.map(ErrorCode::as_str))
        .bind(outcome.error_message)
        .bind(outcome.usage.map(Json))
        .bind(outcome.first_token_ms.map(saturating_i64))
        .bind(saturating_i64(outcome.duration_ms))
        .bind(outcome.partial_output)
        .bind(outcome.finished_at)
        .bind(outcome.final_seq.map(saturating_i64))
        .bind(i64::from(outcome.segments))
        .bind(generation_id)
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
        let updated = sqlx::query(
            "UPDATE generations
             SET status = 'failed', error_code = $1, error_message = $2, final_seq = $3,
                 finished_at = COALESCE(finished_at, now())
             WHERE id = $4
               AND (status = 'running' OR (error_code = $1 AND final_seq IS NULL))",
        )
        .bind(failure.code.as_str())
        .bind(failure.message)
        .bind(failure.final_seq.map(saturating_i64))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Marks failed every generation still running; returns how many there were.
    pub async fn fail_all_running(&self, failure: &Abandoned<'_>) -> Result<u64, StoreError> {
        let updated = sqlx::query(
            "UPDATE generations
             SET status = 'failed', error_code = $1, error_message = $2, finished_at = now()
             WHERE status = 'running'",
        )
        .bind(failure.code.as_str())
        .bind(failure.message)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected())
    }

    /// The running generations and the instances that run them, by the database.
    pub async fn running_generations(&self) -> Result<Vec<(Uuid, Option<Uuid>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, instance_id FROM generations WHERE status = 'running'")
                .fetch_all(&self.pool)
                .await?,
        )
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

    pub async fn insert_report(&self, report: &NewReport<'_>) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO reports (id, page_id, reason, details, contact, created_at)
             SELECT $1, id, $2, $3, $4, $5 FROM pages
             WHERE id = $6 AND is_public AND removed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(report.id)
        .bind(report.report.reason.as_str())
        .bind(report.report.details.as_deref())
        .bind(report.report.contact.as_deref())
        .bind(report.created_at)
        .bind(report.page_id)
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
             WHERE (r.resolved_at IS NULL) = $1 AND r.id < $2
             ORDER BY r.id DESC LIMIT $3",
        )
        .bind(open)
        .bind(before.unwrap_or(Uuid::max()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(report_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn resolve_report(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> Result<Resolved, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Locked, so that two admins resolving it at once do not both act.
        let (page_id, reason, resolved): (Uuid, String, bool) = sqlx::query_as(
            "SELECT page_id, reason, resolved_at IS NOT NULL FROM reports WHERE id = $1
             FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if resolved {
            return Ok(Resolved::Already);
        }
        sqlx::query("UPDATE reports SET resolved_at = now(), resolution = $1 WHERE id = $2")
            .bind(resolution.as_str())
            .bind(id)
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
             FROM generations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(generation_from_row(&row)?)
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

    pub async fn generation_groups(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<GenerationGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT model, status, error_code, refines IS NOT NULL AS refine,
                    COUNT(*) AS generations,
                    COALESCE(SUM((usage->>'prompt_tokens')::bigint), 0)::bigint AS prompt_tokens,
                    COALESCE(SUM((usage->>'completion_tokens')::bigint), 0)::bigint
                        AS completion_tokens,
                    COALESCE(SUM((usage->>'cost')::float8), 0) AS cost
             FROM generations WHERE created_at >= $1
             GROUP BY model, status, error_code, refines IS NOT NULL
             ORDER BY model, status, error_code, refines IS NOT NULL",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(generation_group_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// `GROUPING SETS` gives one row per model and one (model `NULL`) for all of them.
    pub async fn latency_percentiles(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<LatencyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT model,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY first_token_ms)
                        AS first_token_p50,
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY first_token_ms)
                        AS first_token_p95,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS duration_p50,
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS duration_p95
             FROM generations
             WHERE status = 'completed' AND created_at >= $1
             GROUP BY GROUPING SETS ((model), ())",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(latency_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn page_totals(&self, since: OffsetDateTime) -> Result<PageTotals, StoreError> {
        let (pages, views, versions) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(view_count), 0)::bigint,
                    (SELECT COUNT(*) FROM page_versions WHERE version > 1 AND created_at >= $1)
             FROM pages WHERE created_at >= $1",
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
             ORDER BY view_count DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let page = |row: &PgRow| {
            Ok::<_, sqlx::Error>(TopPage {
                id: row.try_get("id")?,
                title: row.try_get("title")?,
                views: row.try_get("view_count")?,
            })
        };
        Ok(rows.iter().map(page).collect::<Result<_, _>>()?)
    }

    /// Closes the pool. The connection of [`Notices`] goes with it (drop it first).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// After this long without a cancel request, the connection is asked whether it is still
/// there: one dropped without a reset (a NAT or proxy timing it out, a failover) would
/// otherwise wait for notifications forever.
const LISTEN_QUIET_CHECK: Duration = Duration::from_secs(60);
const LISTEN_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What another instance (or this one) announced on the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A client asked some instance to cancel this generation (`NOTIFY livepage_cancel`).
    Cancel(Uuid),
    /// This page changed (`NOTIFY livepage_page`).
    PageChanged(Uuid),
    /// Listening again after the connection was lost: whatever was announced meanwhile was
    /// missed.
    Resumed,
}

/// The announcements of all instances on the database, for each to act on: cancel requests for
/// the one running the generation, page changes for every page cache. Dropping it closes its
/// connection.
#[derive(Debug)]
pub struct Notices {
    /// `None` after a failure: listened on afresh, on a new connection, by the next call.
    listener: Option<PgListener>,
    channels: &'static [&'static str],
    options: Arc<ListenOptions>,
    quiet_check: Duration,
    check_timeout: Duration,
    /// Whether the connection was lost since the last [`Notice`], so that the next one is
    /// [`Notice::Resumed`] once listening again.
    lost: bool,
}

impl Notices {
    /// Checks the connection after `quiet` without a notice, giving it `timeout` to answer.
    pub fn check_after(mut self, quiet: Duration, timeout: Duration) -> Self {
        (self.quiet_check, self.check_timeout) = (quiet, timeout);
        self
    }

    /// The next notice.
    ///
    /// After an error the next call listens again on a new connection and, once it does,
    /// answers [`Notice::Resumed`]: a cancel request made while no connection listened is lost
    /// (the instance that made it answers its client with a `409` when no instance acts on it),
    /// and a page cache that may have missed a change should forget what it holds.
    pub async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            let listener = match &mut self.listener {
                Some(listener) => listener,
                None => {
                    let listener = listen(&self.options, self.channels).await?;
                    self.listener = Some(listener);
                    if std::mem::take(&mut self.lost) {
                        return Ok(Notice::Resumed);
                    }
                    continue;
                }
            };
            // `try_recv`, not `recv`: it says when the connection was lost, where `recv` would
            // reconnect without a word and the notices missed meanwhile would go unnoticed.
            match tokio::time::timeout(self.quiet_check, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => {
                    match decode_notice(notification.channel(), notification.payload()) {
                        Some(notice) => return Ok(notice),
                        None => tracing::warn!(
                            channel = notification.channel(),
                            payload = notification.payload(),
                            "ignoring a notice that names nothing"
                        ),
                    }
                }
                Ok(Ok(None)) => {
                    return Err(self.lose(StoreError::Unavailable(sqlx::Error::Io(
                        std::io::ErrorKind::ConnectionReset.into(),
                    ))));
                }
                Ok(Err(err)) => return Err(self.lose(err.into())),
                Err(_quiet) => {
                    let ping = sqlx::query("SELECT 1").execute(&mut *listener);
                    if !matches!(
                        tokio::time::timeout(self.check_timeout, ping).await,
                        Ok(Ok(_))
                    ) {
                        return Err(self.lose(StoreError::Unavailable(sqlx::Error::Io(
                            std::io::ErrorKind::TimedOut.into(),
                        ))));
                    }
                }
            }
        }
    }

    /// Gives the connection up after `err`; the next call listens on a new one.
    fn lose(&mut self, err: StoreError) -> StoreError {
        self.listener = None;
        self.lost = true;
        err
    }
}

fn decode_notice(channel: &str, payload: &str) -> Option<Notice> {
    let id = Uuid::try_parse(payload).ok()?;
    match channel {
        CANCEL_CHANNEL => Some(Notice::Cancel(id)),
        PAGE_CHANNEL => Some(Notice::PageChanged(id)),
        _ => None,
    }
}

/// Rate-limit budgets in the database, shared by every instance on it (GCRA, the algorithm
/// `governor` uses in memory). Times come from the database's clock, so instances whose clocks
/// differ still agree.
#[derive(Debug, Clone)]
pub struct SharedBudgets {
    pool: PgPool,
}

impl SharedBudgets {
    /// Takes one unit from `key`'s budget of `per_minute` a minute (bursts up to that many), or
    /// says how long until one is back.
    pub async fn take(
        &self,
        key: &str,
        per_minute: NonZeroU32,
    ) -> Result<Result<(), Duration>, StoreError> {
        let interval = Duration::from_secs(60) / per_minute.get();
        let burst = interval * (per_minute.get() - 1);
        let (interval_us, burst_us) = (micros(interval), micros(burst));
        let key = Sha256::digest(key.as_bytes()).to_vec();
        let taken = sqlx::query(
            "INSERT INTO rate_limits AS budget (key, tat)
             VALUES ($1, now() + $2 * interval '1 microsecond')
             ON CONFLICT (key) DO UPDATE
             SET tat = greatest(budget.tat, now()) + $2 * interval '1 microsecond'
             WHERE greatest(budget.tat, now()) <= now() + $3 * interval '1 microsecond'
             RETURNING key",
        )
        .bind(&key)
        .bind(interval_us)
        .bind(burst_us)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let wait_us: Option<i64> = sqlx::query_scalar(
            "SELECT (extract(epoch FROM tat - now()) * 1000000)::bigint - $2
             FROM rate_limits WHERE key = $1",
        )
        .bind(&key)
        .bind(burst_us)
        .fetch_optional(&self.pool)
        .await?;
        let wait_us = u64::try_from(wait_us.unwrap_or_default()).unwrap_or_default();
        Ok(Err(Duration::from_micros(wait_us)))
    }

    /// Deletes the budgets that are full again (the same as having none), so the table stays
    /// as small as the set of recent clients.
    pub async fn forget_full(&self) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM rate_limits WHERE tat < now()")
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A connection `LISTEN`ing on `channels`, in a pool of its own: a connection given up on may
/// hold its slot until TCP gives up on it too (dropping a listener sends `UNLISTEN` on it
/// first), so a new one never waits for the old one's place.
async fn listen(options: &ListenOptions, channels: &[&str]) -> Result<PgListener, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(options.connect.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(listener)
}

type Transaction = sqlx::Transaction<'static, sqlx::Postgres>;

/// Tells every instance listening (see [`Notices`]) that page `id` changed, when (and only if)
/// the transaction commits.
async fn announce_page(tx: &mut Transaction, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PAGE_CHANNEL)
        .bind(id.hyphenated().to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks the page removed (keeping the first removal's time and reason), resolves its open
/// reports as taken down, and announces the change. `NotFound` for an unknown page.
async fn take_down(tx: &mut Transaction, id: Uuid, reason: &str) -> Result<(), StoreError> {
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

/// What `/p/{id}` serves, from `(html if published, is_public, removed, deleted, version)`.
fn served(row: Option<(Option<String>, bool, bool, bool, i64)>) -> Result<ServedPage, StoreError> {
    let (html, is_public, removed, deleted, version) = row.ok_or(StoreError::NotFound)?;
    match (PageStatus::of(is_public, removed, deleted), html) {
        (PageStatus::Published, Some(html)) => Ok(ServedPage::Live { html, version }),
        (status @ (PageStatus::Removed | PageStatus::Deleted), _) => Ok(ServedPage::Gone(status)),
        _ => Err(StoreError::NotFound),
    }
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
         SET status = 'completed', page_id = $1, error_code = $2, error_message = $3, usage = $4,
             first_token_ms = $5, duration_ms = $6, partial_output = NULL, finished_at = $7,
             final_seq = $8, segments = $9
         WHERE id = $10",
    )
    .bind(page_id)
    .bind(outcome.error_code.map(ErrorCode::as_str))
    .bind(outcome.error_message)
    .bind(outcome.usage.map(Json))
    .bind(outcome.first_token_ms.map(saturating_i64))
    .bind(saturating_i64(outcome.duration_ms))
    .bind(outcome.finished_at)
    .bind(outcome.final_seq.map(saturating_i64))
    .bind(i64::from(outcome.segments))
    .bind(generation_id)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

fn connect_options(url: &str, options: &StoreOptions) -> Result<PgConnectOptions, StoreError> {
    let statement_timeout = format!("{}ms", options.statement_timeout.as_millis());
    Ok(PgConnectOptions::from_str(url)?
        // Sent at connection start-up, so it holds for every statement on every pooled
        // connection, migrations included, with no extra round trip.
        .options([("statement_timeout", statement_timeout)])
        // Names our sessions in pg_stat_activity.
        .application_name("livepage"))
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

fn report_from_row(row: &PgRow) -> Result<ReportRecord, sqlx::Error> {
    Ok(ReportRecord {
        id: row.try_get("id")?,
        page_id: row.try_get("page_id")?,
        title: row.try_get("title")?,
        page_status: PageStatus::of(
            row.try_get("is_public")?,
            row.try_get("removed")?,
            row.try_get("deleted")?,
        ),
        reason: row.try_get("reason")?,
        details: row.try_get("details")?,
        contact: row.try_get("contact")?,
        created_at: row.try_get("created_at")?,
        resolved_at: row.try_get("resolved_at")?,
        resolution: parse_resolution(row.try_get("resolution")?)?,
        page_reports: row.try_get("page_reports")?,
    })
}

fn generation_from_row(row: &PgRow) -> Result<GenerationRecord, sqlx::Error> {
    Ok(GenerationRecord {
        id: row.try_get("id")?,
        page_id: row.try_get("page_id")?,
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
        created_at: row.try_get("created_at")?,
        instance_id: row.try_get("instance_id")?,
        final_seq: row.try_get("final_seq")?,
        segments: row.try_get("segments")?,
        refines: row.try_get("refines")?,
        version: row.try_get("version")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn generation_group_from_row(row: &PgRow) -> Result<GenerationGroup, sqlx::Error> {
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

fn latency_from_row(row: &PgRow) -> Result<LatencyRow, sqlx::Error> {
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    use super::*;
    use crate::store::testing::{Backend, FreshDatabase};

    /// A TCP proxy whose connections can be frozen: nothing forwarded any more, nothing closed,
    /// as when a NAT or a proxy forgets a connection. Connections made afterwards work.
    struct StallingProxy {
        address: SocketAddr,
        epoch: watch::Sender<u64>,
    }

    impl StallingProxy {
        async fn start(target: SocketAddr) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let (epoch, _) = watch::channel(0);
            let connections = epoch.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let mut stall = connections.subscribe();
                    let born = *stall.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(target).await else {
                            return;
                        };
                        let stalled = async {
                            while stall.changed().await.is_ok() {
                                if *stall.borrow() != born {
                                    return;
                                }
                            }
                            std::future::pending::<()>().await;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            () = stalled => {
                                // Both sockets stay open and silent.
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                }
            });
            Self { address, epoch }
        }

        /// Freezes every connection made so far.
        fn stall(&self) {
            self.epoch.send_modify(|epoch| *epoch += 1);
        }
    }

    /// A listening connection that goes silent without closing is noticed after a quiet spell
    /// and replaced by a new one, which gets the requests made after it.
    #[tokio::test]
    async fn a_silent_listening_connection_is_replaced() {
        let Some(backend) = Backend::postgres() else {
            return;
        };
        let database = FreshDatabase::create(&backend).await;
        let mut url = url::Url::parse(database.url()).unwrap();
        let target = (url.host_str().unwrap(), url.port().unwrap_or(5432));
        let target = tokio::net::lookup_host(target)
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = StallingProxy::start(target).await;
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(proxy.address.port())).unwrap();
        let options = StoreOptions {
            acquire_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        };
        let store = PgStore::connect(url.as_str(), &options).await.unwrap();
        let direct = PgStore::connect(database.url(), &options).await.unwrap();
        let mut requests = store
            .notices(true)
            .await
            .unwrap()
            .check_after(Duration::from_millis(300), Duration::from_millis(300));

        let first = Uuid::now_v7();
        direct.request_cancel(first).await.unwrap();
        assert_eq!(requests.next().await.unwrap(), Notice::Cancel(first));

        proxy.stall();
        let noticed = tokio::time::timeout(Duration::from_secs(10), requests.next()).await;
        assert!(
            matches!(noticed, Ok(Err(StoreError::Unavailable(_)))),
            "the silent connection is given up: {noticed:?}"
        );
        // The next call listens on a new connection and says that notices may have been
        // missed; a request made once it listens arrives.
        let second = Uuid::now_v7();
        let next = tokio::spawn(async move {
            assert_eq!(requests.next().await.unwrap(), Notice::Resumed);
            requests.next().await
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let listening: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND state = 'idle'
                       AND query LIKE 'LISTEN%'",
                )
                .fetch_one(&direct.pool)
                .await
                .unwrap();
                if listening == 2 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("a second connection listens");
        direct.request_cancel(second).await.unwrap();
        let received = tokio::time::timeout(Duration::from_secs(10), next).await;
        assert_eq!(received.unwrap().unwrap().unwrap(), Notice::Cancel(second));

        direct.close().await;
        database.cleanup().await;
    }

    #[tokio::test]
    async fn every_connection_has_the_configured_statement_timeout() {
        let Some(backend) = Backend::postgres() else {
            return;
        };
        let database = FreshDatabase::create(&backend).await;
        let options = StoreOptions {
            statement_timeout: Duration::from_millis(1_500),
            ..StoreOptions::default()
        };
        let store = PgStore::connect(database.url(), &options).await.unwrap();

        let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(timeout, "1500ms");
        let slow = sqlx::query("SELECT pg_sleep(5)").execute(&store.pool).await;
        assert!(matches!(slow, Err(sqlx::Error::Database(_))), "{slow:?}");

        store.close().await;
        database.cleanup().await;
    }
}
