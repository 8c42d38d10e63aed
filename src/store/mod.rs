//! Persistence of pages and generations, behind one interface with a backend per database.
//!
//! [`Store`] is chosen from the scheme of `DATABASE_URL` and dispatches to the SQLite or the
//! PostgreSQL implementation; each has its own migrations folder (`migrations/sqlite`,
//! `migrations/postgres`). The store only accepts [`SanitizedHtml`] as page content, so "nothing
//! unsanitized is stored" is checked by the compiler.
//!
//! [`testing`] gives every test a fresh database on each available backend, so the same test
//! cases prove both implementations.

mod postgres;
mod sqlite;
mod stats;
pub mod testing;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{ErrorCode, GenerationRequest, OwnerHash, Report, Usage};
use crate::metrics::DbLatency;
use crate::sanitize::{SanitizedHtml, Styles};

pub use postgres::{Notice, Notices, PgStore, SharedBudgets};
pub use sqlite::SqliteStore;
pub use stats::{
    GenerationGroup, GenerationTotals, LatencyRow, ModelStats, PageTotals, Percentiles,
    RefineTotals, StatusCounts, TokenTotals, TopPage, WindowStats,
};

/// What can go wrong in storage, independent of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The database could not be reached (pool timeout, refused connection, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bad query, a constraint, a decoding failure.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    /// The row changed since it was read: a page refined from an older version than its
    /// current one.
    #[error("conflict: the row changed meanwhile")]
    Conflict,
    /// `DATABASE_URL` has a scheme no backend serves.
    #[error(
        "unsupported database URL scheme {0:?} (expected sqlite://, postgres:// or postgresql://)"
    )]
    UnsupportedScheme(String),
    /// Migrations failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            other => Self::Other(other),
        }
    }
}

/// Tuning of the connection pool.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a generation stands; stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GenerationStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl GenerationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A generation as it starts: inserted with status `running`.
#[derive(Debug, Clone, Copy)]
pub struct NewGeneration<'a> {
    pub id: Uuid,
    pub request: &'a GenerationRequest,
    pub created_at: OffsetDateTime,
    /// The instance that runs it (see [`GenerationRecord::instance_id`]).
    pub instance_id: Uuid,
}

/// The page a successful generation produced.
#[derive(Debug, Clone, Copy)]
pub struct NewPage<'a> {
    pub id: Uuid,
    pub html: &'a SanitizedHtml,
    /// Free-form facts about the page (model, fallback, usage, generation id…).
    pub meta_data: &'a PageMeta,
    pub created_at: OffsetDateTime,
}

/// How a generation ended, success or not.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    pub status: GenerationStatus,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<&'a str>,
    pub usage: Option<Usage>,
    pub first_token_ms: Option<u64>,
    pub duration_ms: u64,
    /// The raw model output of a failed generation, kept for diagnosis.
    pub partial_output: Option<&'a str>,
    pub finished_at: OffsetDateTime,
    /// The seq of the terminal event (see [`GenerationRecord::final_seq`]).
    pub final_seq: Option<u64>,
    /// See [`GenerationRecord::segments`].
    pub segments: u32,
}

/// Why a generation whose instance stopped without finishing it is marked failed.
#[derive(Debug, Clone, Copy)]
pub struct Abandoned<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
    /// The seq of the terminal event that says so, when one was published.
    pub final_seq: Option<u64>,
}

/// Where a page stands (docs/ARCHITECTURE.md, "Owners and moderation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PageStatus {
    /// Served at `/p/{id}`.
    Published,
    /// Unpublished by its owner (or the admin): answers the same 404 as an unknown page, until
    /// published again.
    Unpublished,
    /// Taken down by the admin: `410 Gone`, for good; the owner cannot publish it again.
    Removed,
    /// Deleted by its owner (or the admin): its HTML is gone, `/p/{id}` answers `410 Gone`.
    Deleted,
}

impl PageStatus {
    /// From the row's columns. A removal outranks a deletion: the page was taken down first or
    /// not, either way the moderation is what `/p/{id}` should say.
    fn of(is_public: bool, removed: bool, deleted: bool) -> Self {
        match (removed, deleted, is_public) {
            (true, _, _) => Self::Removed,
            (false, true, _) => Self::Deleted,
            (false, false, true) => Self::Published,
            (false, false, false) => Self::Unpublished,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Unpublished => "unpublished",
            Self::Removed => "removed",
            Self::Deleted => "deleted",
        }
    }
}

/// How a page was made, as it is stored with it (the `meta_data` column, JSON). Every field has
/// a default, so rows from before a field existed read the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PageMeta {
    /// The generation that wrote it.
    pub generation_id: Option<Uuid>,
    /// The model that wrote it.
    pub model: Option<String>,
    /// It is the fallback page, written when the model failed before its first token.
    pub fallback: bool,
    /// What writing it cost.
    pub usage: Option<Usage>,
    /// How the page gets its styles; its Content-Security-Policy follows the document.
    pub styles: Option<Styles>,
}

/// Page metadata (everything but the HTML).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageRecord {
    pub id: Uuid,
    /// Never shown by the API: page and generation links get shared, and the email would go
    /// with them. A history is asked for by email, so its caller knows it already.
    #[serde(skip_serializing)]
    pub email: String,
    /// Empty once the page is deleted; the API leaves it out then, and for strangers.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    pub page_type: String,
    pub theme: String,
    pub title: String,
    pub is_public: bool,
    pub status: PageStatus,
    pub view_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub meta_data: PageMeta,
    /// Whose page it is (see [`OwnerHash`]); never shown.
    #[serde(skip)]
    pub owner: Option<OwnerHash>,
    /// When the admin took it down.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub removed_at: Option<OffsetDateTime>,
    /// The version `/p/{id}` serves: 1 for a new page, raised by one by each refine and
    /// restore.
    pub version: i64,
}

/// How a version of a page came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    /// The page's first document.
    Created,
    /// A refine's result.
    Refined,
    /// A copy of an earlier version's document.
    Restored,
}

impl VersionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Refined => "refined",
            Self::Restored => "restored",
        }
    }

    fn parse(raw: &str) -> Result<Self, sqlx::Error> {
        [Self::Created, Self::Refined, Self::Restored]
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or_else(|| column_decode_error("kind", format!("unknown version kind {raw:?}")))
    }
}

/// One version of a page, without its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionRecord {
    pub version: i64,
    pub kind: VersionKind,
    pub title: String,
    /// The follow-up prompt of a refine, the page's prompt for version 1, empty for a restore.
    pub prompt: String,
    /// The model that wrote it; `None` for a restore.
    pub model: Option<String>,
    /// What writing it cost (a refine's includes an attempt whose edits failed).
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The version a successful refine made of its page.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub page_id: Uuid,
    /// The version the refine edited: the save is refused ([`StoreError::Conflict`]) when the
    /// page has moved on since, rather than silently dropping what came in between.
    pub base_version: i64,
    pub html: &'a SanitizedHtml,
    pub created_at: OffsetDateTime,
}

/// What `/p/{id}` has to serve for a page that exists and is not merely unpublished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedPage {
    /// The stored document of a published page, and its version.
    Live { html: String, version: i64 },
    /// A page that was there and is gone for good: [`PageStatus::Removed`] or
    /// [`PageStatus::Deleted`].
    Gone(PageStatus),
}

/// A visitor's report as it is filed.
#[derive(Debug, Clone, Copy)]
pub struct NewReport<'a> {
    pub id: Uuid,
    pub page_id: Uuid,
    pub report: &'a Report,
    pub created_at: OffsetDateTime,
}

/// How the admin resolves a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Nothing wrong with the page.
    Dismiss,
    /// The page is taken down (and every open report of it resolved the same way).
    Takedown,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dismiss => "dismiss",
            Self::Takedown => "takedown",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Self::Dismiss, Self::Takedown]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// What became of a request to resolve a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Resolved now; the page it is about.
    Now { page_id: Uuid },
    /// It had been resolved already: nothing changed.
    Already,
}

/// A report as the admin's queue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportRecord {
    #[serde(rename = "report_id")]
    pub id: Uuid,
    pub page_id: Uuid,
    /// The page's title (empty once it is deleted).
    pub title: String,
    pub page_status: PageStatus,
    pub reason: String,
    pub details: Option<String>,
    pub contact: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub resolution: Option<Resolution>,
    /// How many reports the page has, open or resolved.
    pub page_reports: i64,
}

/// The moderation counts of the admin stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModerationTotals {
    pub open_reports: i64,
    pub resolved_reports: i64,
    /// Pages taken down.
    pub takedowns: i64,
}

/// A generation row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationRecord {
    pub id: Uuid,
    pub page_id: Option<Uuid>,
    /// Never shown by the API: page and generation links get shared, and the email would go
    /// with them. A history is asked for by email, so its caller knows it already.
    #[serde(skip_serializing)]
    pub email: String,
    pub prompt: String,
    pub page_type: String,
    pub theme: String,
    pub model: String,
    pub status: GenerationStatus,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub usage: Option<Usage>,
    pub first_token_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    #[serde(skip)]
    pub partial_output: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The instance that runs (or ran) it; `None` for rows from before instances had ids.
    #[serde(skip)]
    pub instance_id: Option<Uuid>,
    /// The seq (SSE id) of its terminal event, once it has ended; `None` for rows from before.
    #[serde(skip)]
    pub final_seq: Option<i64>,
    /// How many model responses its output took, once it has ended: 1, plus one per
    /// continuation after the model stopped at its length limit (0 for the fallback page);
    /// `None` while running, and for rows from before.
    pub segments: Option<i64>,
    /// For a refine: the page it refines, from the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refines: Option<Uuid>,
    /// For a refine that completed: the version it saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// The database behind LivePage.
#[derive(Debug, Clone)]
pub struct Store {
    engine: Engine,
    /// Where each call's latency goes; `None` until [`Store::instrument`] (tests, tools).
    latency: Option<DbLatency>,
}

/// The backend a [`Store`] talks to.
#[derive(Debug, Clone)]
enum Engine {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Calls the same method on whichever backend this store is, timing it by method name.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {{
        let started = std::time::Instant::now();
        let result = match &$self.engine {
            Engine::Sqlite(store) => store.$method($($arg),*).await,
            Engine::Postgres(store) => store.$method($($arg),*).await,
        };
        if let Some(latency) = &$self.latency {
            latency.observe(stringify!($method), started.elapsed());
        }
        result
    }};
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    ///
    /// Errors never contain `url`, so a password in it does not reach the logs.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        let engine = match scheme {
            "sqlite" => Engine::Sqlite(SqliteStore::connect(url, options).await?),
            "postgres" | "postgresql" => Engine::Postgres(PgStore::connect(url, options).await?),
            // Only the scheme is echoed: the rest of the URL may hold a password.
            other => return Err(StoreError::UnsupportedScheme(other.to_owned())),
        };
        Ok(Self {
            engine,
            latency: None,
        })
    }

    /// Records the latency of every call from now on, by operation.
    pub fn instrument(mut self, latency: DbLatency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }

    pub async fn insert_generation(
        &self,
        generation: &NewGeneration<'_>,
    ) -> Result<(), StoreError> {
        dispatch!(self.insert_generation(generation))
    }

    /// In one transaction: inserts the page and marks its generation completed with `outcome`.
    pub async fn save_page(
        &self,
        generation_id: Uuid,
        page: &NewPage<'_>,
        outcome: &Outcome<'_>,
    ) -> Result<(), StoreError> {
        dispatch!(self.save_page(generation_id, page, outcome))
    }

    /// In one transaction: the refined document becomes the page's next version (its number
    /// returned), and the refine is marked completed with `outcome`. `Conflict` when the page
    /// is no longer at `version.base_version`; `NotFound` when it cannot be changed (removed,
    /// deleted) or the generation is unknown.
    pub async fn save_version(
        &self,
        generation_id: Uuid,
        version: &NewVersion<'_>,
        outcome: &Outcome<'_>,
    ) -> Result<i64, StoreError> {
        dispatch!(self.save_version(generation_id, version, outcome))
    }

    /// Makes a new version of page `id` with version `n`'s document. `NotFound` for an
    /// unknown version, or a page that cannot be changed (removed, deleted).
    pub async fn restore_version(
        &self,
        id: Uuid,
        n: i64,
        created_at: OffsetDateTime,
    ) -> Result<VersionRecord, StoreError> {
        dispatch!(self.restore_version(id, n, created_at))
    }

    /// Page `id`'s current document and its version, published or not. `NotFound` for an
    /// unknown page, or one that cannot be changed (removed, deleted).
    pub async fn current_document(&self, id: Uuid) -> Result<(String, i64), StoreError> {
        dispatch!(self.current_document(id))
    }

    /// Page `id`'s versions, newest first.
    pub async fn versions(&self, id: Uuid) -> Result<Vec<VersionRecord>, StoreError> {
        dispatch!(self.versions(id))
    }

    /// What `/p/{id}/v/{n}` serves: version `n`'s document when the page is published.
    /// `NotFound` for an unknown or unpublished page, or an unknown version.
    pub async fn served_version(&self, id: Uuid, n: i64) -> Result<ServedPage, StoreError> {
        dispatch!(self.served_version(id, n))
    }

    /// Records how a generation that produced no page ended.
    pub async fn finish_generation(
        &self,
        generation_id: Uuid,
        outcome: &Outcome<'_>,
    ) -> Result<(), StoreError> {
        dispatch!(self.finish_generation(generation_id, outcome))
    }

    /// Marks generation `id` failed if it is still running (its instance stopped without
    /// finishing it); returns whether it was. A row the same failure was recorded on without a
    /// final seq gets that seq.
    pub async fn fail_running(
        &self,
        id: Uuid,
        failure: &Abandoned<'_>,
    ) -> Result<bool, StoreError> {
        dispatch!(self.fail_running(id, failure))
    }

    /// Marks failed every generation still running; returns how many there were. For a
    /// database of one instance, at its start.
    pub async fn fail_all_running(&self, failure: &Abandoned<'_>) -> Result<u64, StoreError> {
        dispatch!(self.fail_all_running(failure))
    }

    /// The running generations, each with the instance that runs it (`None` for rows from
    /// before instances had ids).
    pub async fn running_generations(&self) -> Result<Vec<(Uuid, Option<Uuid>)>, StoreError> {
        dispatch!(self.running_generations())
    }

    /// Whether only one instance can use this database (SQLite), so that a generation left
    /// running by an earlier start can only have been abandoned.
    pub fn is_single_instance(&self) -> bool {
        matches!(self.engine, Engine::Sqlite(_))
    }

    pub async fn page(&self, id: Uuid) -> Result<PageRecord, StoreError> {
        dispatch!(self.page(id))
    }

    /// What `/p/{id}` serves: the document of a published page, or that it is gone.
    /// `NotFound` for an unknown or unpublished page.
    pub async fn served_page(&self, id: Uuid) -> Result<ServedPage, StoreError> {
        dispatch!(self.served_page(id))
    }

    /// Publishes or unpublishes page `id`. `NotFound` when there is no such page that can be:
    /// unknown, removed or deleted (the caller tells them apart). On PostgreSQL every instance
    /// hears of the change (see [`Store::notices`]).
    pub async fn set_public(&self, id: Uuid, public: bool) -> Result<(), StoreError> {
        dispatch!(self.set_public(id, public))
    }

    /// Deletes page `id`: its HTML, title and prompt (the generation's too) are blanked and it
    /// is marked deleted. `NotFound` when there is no such page, or it was deleted already.
    pub async fn delete_page(&self, id: Uuid) -> Result<(), StoreError> {
        dispatch!(self.delete_page(id))
    }

    /// Takes page `id` down for `reason` and resolves its open reports as `takedown`. Taking
    /// down a removed page again changes nothing. `NotFound` for an unknown page.
    pub async fn take_down(&self, id: Uuid, reason: &str) -> Result<(), StoreError> {
        dispatch!(self.take_down(id, reason))
    }

    /// Files a report. `NotFound` unless its page is published.
    pub async fn insert_report(&self, report: &NewReport<'_>) -> Result<(), StoreError> {
        dispatch!(self.insert_report(report))
    }

    /// Open (or resolved) reports, newest first, strictly older than report `before` when given.
    pub async fn reports(
        &self,
        open: bool,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        dispatch!(self.reports(open, limit, before))
    }

    /// Resolves report `id`; a takedown takes its page down (see [`Store::take_down`]).
    /// `NotFound` for an unknown report.
    pub async fn resolve_report(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> Result<Resolved, StoreError> {
        dispatch!(self.resolve_report(id, resolution))
    }

    /// Open and resolved reports, and pages taken down, since the beginning.
    pub async fn moderation_totals(&self) -> Result<ModerationTotals, StoreError> {
        dispatch!(self.moderation_totals())
    }

    pub async fn generation(&self, id: Uuid) -> Result<GenerationRecord, StoreError> {
        dispatch!(self.generation(id))
    }

    /// The owner's pages (published or not, deleted ones left out), newest first, strictly
    /// older than the page `before` when given.
    pub async fn owner_history(
        &self,
        owner: &OwnerHash,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<PageRecord>, StoreError> {
        dispatch!(self.owner_history(owner, limit, before))
    }

    /// The email's published pages, newest first, strictly older than the page `before` when
    /// given.
    pub async fn history(
        &self,
        email: &str,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<PageRecord>, StoreError> {
        dispatch!(self.history(email, limit, before))
    }

    /// Adds counted views, `(page id, views)`, in one transaction.
    pub async fn add_views(&self, views: &[(Uuid, u64)]) -> Result<(), StoreError> {
        dispatch!(self.add_views(views))
    }

    /// Generations started at or after `since`, grouped by model, status and error code, with
    /// their tokens and cost.
    pub async fn generation_groups(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<GenerationGroup>, StoreError> {
        dispatch!(self.generation_groups(since))
    }

    /// Median and p95 latency of the completed generations started at or after `since`: one
    /// row per model, and one (`model: None`) for all of them.
    pub async fn latency_percentiles(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<LatencyRow>, StoreError> {
        dispatch!(self.latency_percentiles(since))
    }

    /// Pages created at or after `since`, and their views.
    pub async fn page_totals(&self, since: OffsetDateTime) -> Result<PageTotals, StoreError> {
        dispatch!(self.page_totals(since))
    }

    /// The `limit` most viewed public pages, most viewed first (ties: newest first).
    pub async fn most_viewed_pages(&self, limit: u32) -> Result<Vec<TopPage>, StoreError> {
        dispatch!(self.most_viewed_pages(limit))
    }

    pub async fn close(&self) {
        dispatch!(self.close())
    }

    /// Asks the instance running generation `id` to cancel it. `false` when this backend has no
    /// other instances to ask: a SQLite database belongs to one.
    pub async fn request_cancel(&self, id: Uuid) -> Result<bool, StoreError> {
        match &self.engine {
            Engine::Sqlite(_) => Ok(false),
            Engine::Postgres(store) => store.request_cancel(id).await.map(|()| true),
        }
    }

    /// Rate-limit budgets for every instance on this database; `None` on SQLite, whose one
    /// instance keeps them in memory.
    pub fn shared_budgets(&self) -> Option<SharedBudgets> {
        match &self.engine {
            Engine::Sqlite(_) => None,
            Engine::Postgres(store) => Some(store.shared_budgets()),
        }
    }

    /// What other instances on this database say, as it comes: page changes, and with
    /// `cancels` cancel requests too; `None` on SQLite, which has no other instances.
    pub async fn notices(&self, cancels: bool) -> Result<Option<Notices>, StoreError> {
        match &self.engine {
            Engine::Sqlite(_) => Ok(None),
            Engine::Postgres(store) => store.notices(cancels).await.map(Some),
        }
    }
}

/// Milliseconds and counts are `u64` in Rust and signed 64-bit in both databases; nothing real
/// reaches `i64::MAX`, so saturate rather than fail.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `NotFound` when an `UPDATE … WHERE id = ?` matched no row.
fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn parse_resolution(raw: Option<&str>) -> Result<Option<Resolution>, sqlx::Error> {
    raw.map(|raw| {
        Resolution::parse(raw)
            .ok_or_else(|| column_decode_error("resolution", format!("unknown resolution {raw:?}")))
    })
    .transpose()
}

fn owner_hash(raw: Option<Vec<u8>>) -> Result<Option<OwnerHash>, sqlx::Error> {
    raw.map(|bytes| {
        OwnerHash::from_slice(&bytes)
            .ok_or_else(|| column_decode_error("owner_key_hash", "not a SHA-256 digest"))
    })
    .transpose()
}

/// Reads a stored error code. Codes are only ever added, so an unknown one was written by a
/// newer instance sharing the database.
fn parse_error_code(raw: Option<String>) -> Result<Option<ErrorCode>, sqlx::Error> {
    raw.map(|raw| {
        ErrorCode::parse(&raw)
            .ok_or_else(|| column_decode_error("error_code", format!("unknown error code {raw:?}")))
    })
    .transpose()
}

/// Reads a stored status; the schema's CHECK makes an unknown one a corrupted row.
fn parse_status(raw: &str) -> Result<GenerationStatus, sqlx::Error> {
    GenerationStatus::parse(raw)
        .ok_or_else(|| column_decode_error("status", format!("unknown generation status {raw:?}")))
}

fn column_decode_error(
    column: &str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: source.into(),
    }
}
