//! Reports of pages, their resolution (a takedown among them), and the moderation totals
//! (docs/ARCHITECTURE.md, "Owners and moderation").

use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::PgStore;
use super::pages::take_down;
use crate::store::{
    ModerationTotals, NewReport, PageStatus, ReportRecord, Resolution, Resolved, StoreError, found,
    parse_resolution,
};

impl PgStore {
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
