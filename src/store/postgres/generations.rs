//! Generation rows: one per generation, written when it starts and when it ends.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{PgStore, Transaction};
use crate::domain::{ErrorCode, Usage};
use crate::store::{
    Abandoned, GenerationRecord, GenerationStatus, NewGeneration, Outcome, StoreError, found,
    parse_error_code, parse_status, saturating_i64,
};

impl PgStore {
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
}

/// Marks the generation completed with its page. The output is the page now, so no partial
/// output is kept. Returns whether the generation existed.
pub(super) async fn complete_generation(
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
