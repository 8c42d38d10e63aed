//! The admin statistics' queries (`src/store/stats.rs` turns their rows into the report).

use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use super::PgStore;
use crate::store::{
    GenerationGroup, LatencyRow, PageTotals, Percentiles, StoreError, TopPage, parse_status,
};

impl PgStore {
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
