//! `POST /api/generate` and the generation resources under `/api/generations/{id}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, JsonBody, Query};
use super::sse;
use crate::domain::{GenerateBody, GenerationRequest};
use crate::generation::event::{Completed, Failed, Started};
use crate::generation::{Entry, ErrorCode, Event, IdempotencyKey, Stage, StartError};
use crate::store::{GenerationRecord, GenerationStatus as Status, StoreError};

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// How often a stream that follows a generation through the database (because another
/// instance runs it, or its log has expired) checks whether it has finished.
const DATABASE_POLL: Duration = Duration::from_secs(1);
/// How a cancel made through another instance looks for the generation to have stopped: the
/// instance running it stops it and records that within milliseconds, so the first look comes
/// soon and the later ones back off.
const REMOTE_CANCEL_FIRST_POLL: Duration = Duration::from_millis(25);
const REMOTE_CANCEL_MAX_POLL: Duration = Duration::from_millis(500);
const REMOTE_CANCEL_WAIT: Duration = Duration::from_secs(5);

/// `POST /api/generate`: validates, starts the generation and answers with its event stream.
/// Bad input is refused here, before any SSE byte.
pub async fn generate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GenerateBody>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let request = GenerationRequest::parse(&body, &config.model, &config.allowed_models())?;
    let previews = request.preview;
    let key = idempotency_key(&headers)?.map(|key| IdempotencyKey { key, body });

    // A repeat of an earlier request attaches to its generation: no new work, no new budget.
    let existing = match &key {
        Some(key) => state.generations.find_by_key(key).map_err(start_error)?,
        None => None,
    };
    let generation = match existing {
        Some(generation) => generation,
        None => {
            let ip = state.limits.client_ip(peer, &headers);
            state
                .limits
                .check(ip, request.email.as_str())
                .await
                .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
            state.generations.start(request, key).map_err(start_error)?
        }
    };
    Ok(sse::response(
        generation.log.subscribe(0),
        state.stream_options(previews),
    ))
}

fn start_error(err: StartError) -> ApiError {
    match err {
        StartError::QueueFull => ApiError::QueueFull {
            retry_after: Duration::from_secs(10),
        },
        StartError::ShuttingDown => ApiError::ShuttingDown,
        StartError::KeyReused => ApiError::IdempotencyKeyReused,
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::InvalidParameter {
            field: "Idempotency-Key",
            message: format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ),
        });
    }
    Ok(Some(key.to_owned()))
}

#[derive(Debug, Deserialize)]
pub struct EventsParams {
    last_event_id: Option<String>,
    #[serde(default)]
    preview: bool,
}

/// `GET /api/generations/{id}/events`: the stream from the start, or after `Last-Event-ID`
/// (header) or `?last_event_id=`. A generation whose log is no longer in this instance's memory
/// is followed through the database and summed up as `started` and its terminal event.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "generation")?;
    let after = last_event_id(&headers, params.last_event_id.as_deref())?;
    let options = state.stream_options(params.preview);
    if let Some(generation) = state.generations.get(id) {
        return Ok(sse::response(generation.log.subscribe(after), options));
    }
    let record = state.store.generation(id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::NotFound("generation"),
        other => other.into(),
    })?;
    Ok(sse::response(summary(state, record, after), options))
}

fn last_event_id(headers: &HeaderMap, query: Option<&str>) -> Result<u64, ApiError> {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    match header.or(query).map(str::trim) {
        None | Some("") => Ok(0),
        Some(raw) => raw.parse::<u64>().map_err(|_| ApiError::InvalidParameter {
            field: "last_event_id",
            message: "Last-Event-ID must be a non-negative integer".into(),
        }),
    }
}

/// `started` (unless the client saw it) then, once the stored generation has finished, its
/// `completed` or `error`. The terminal event's id follows the client's last one, so a client
/// resuming with `Last-Event-ID` accepts it.
fn summary(
    state: AppState,
    record: GenerationRecord,
    after: u64,
) -> impl Stream<Item = Arc<Entry>> + Send + 'static {
    async_stream::stream! {
        let settings = state.generations.settings();
        if after == 0 {
            yield Arc::new(Entry {
                seq: 1,
                event: Event::Started(Started {
                    generation_id: record.id,
                    model: record.model.clone(),
                    events_url: settings.events_url(record.id),
                    status_url: settings.status_url(record.id),
                    created_at: record.created_at,
                }),
            });
        }
        let deadline = given_up_at(&state, &record);
        let mut record = record;
        while record.status == Status::Running && time::OffsetDateTime::now_utc() < deadline {
            tokio::time::sleep(DATABASE_POLL).await;
            match state.store.generation(record.id).await {
                Ok(latest) => record = latest,
                Err(err) => tracing::warn!(error = %err, "following a generation through the database"),
            }
        }
        yield Arc::new(Entry { seq: after.max(1) + 1, event: terminal_event(&state, &record).await });
    }
}

/// When a generation the database still shows running can no longer be: its instance would
/// have ended it at its timeout, so one still running by then was left by an instance that
/// stopped.
fn given_up_at(state: &AppState, record: &GenerationRecord) -> time::OffsetDateTime {
    record.created_at + state.config.generation_timeout + DATABASE_POLL * 30
}

/// The terminal event a stored generation ended with.
async fn terminal_event(state: &AppState, record: &GenerationRecord) -> Event {
    let settings = state.generations.settings();
    match (record.status, record.page_id) {
        (Status::Completed, Some(page_id)) => {
            let page = state.store.page(page_id).await.ok();
            Event::Completed(Completed {
                page_id,
                live_url: settings.live_url(page_id),
                title: page.as_ref().map(|p| p.title.clone()).unwrap_or_default(),
                usage: record.usage.unwrap_or_default(),
                fallback: page.is_some_and(|p| p.meta_data["fallback"] == true),
                duration_ms: record
                    .duration_ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .unwrap_or_default(),
            })
        }
        (Status::Running, _) => Event::Error(Failed {
            code: ErrorCode::GenerationTimeout,
            message: "the generation did not finish in time".into(),
            retryable: true,
        }),
        _ => {
            let code = record
                .error_code
                .as_deref()
                .and_then(ErrorCode::parse)
                .unwrap_or(ErrorCode::Internal);
            Event::Error(Failed {
                code,
                message: record
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "the generation failed".into()),
                retryable: code.is_retryable(),
            })
        }
    }
}

/// `POST /api/generations/{id}/cancel`: stops a running generation and answers once it has
/// stopped. 409 when it had already finished.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GenerationView>, ApiError> {
    let id = parse_id(&id, "generation")?;
    let Some(generation) = state.generations.get(id) else {
        // Not in memory: finished long ago, or running on another instance.
        let record = state.store.generation(id).await.map_err(|err| match err {
            StoreError::NotFound => ApiError::NotFound("generation"),
            other => other.into(),
        })?;
        return match record.status {
            Status::Running => cancel_elsewhere(&state, &record).await,
            _ => Err(ApiError::Conflict("the generation has already finished")),
        };
    };
    if !generation.cancel(ErrorCode::Cancelled) {
        return Err(ApiError::Conflict("the generation has already finished"));
    }
    // The task records the cancellation before it closes the log.
    generation.log.closed().await;
    let cancelled = generation.log.terminal().is_some_and(
        |entry| matches!(&entry.event, Event::Error(failed) if failed.code == ErrorCode::Cancelled),
    );
    if !cancelled {
        return Err(ApiError::Conflict("the generation has already finished"));
    }
    Ok(Json(view(&state, id).await?))
}

/// Asks the other instances to cancel a generation the database shows running (the one
/// running it acts on it) and answers once the database shows it cancelled.
async fn cancel_elsewhere(
    state: &AppState,
    record: &GenerationRecord,
) -> Result<Json<GenerationView>, ApiError> {
    // Past its deadline a generation still marked running was left so by an instance that
    // stopped without finishing it: there is nobody to ask.
    if given_up_at(state, record) < time::OffsetDateTime::now_utc() {
        return Err(ApiError::Conflict(
            "the instance that ran the generation stopped before finishing it",
        ));
    }
    if !state.store.request_cancel(record.id).await? {
        return Err(ApiError::Conflict(
            "the generation is not running on this server",
        ));
    }
    let deadline = tokio::time::Instant::now() + REMOTE_CANCEL_WAIT;
    let mut pause = REMOTE_CANCEL_FIRST_POLL;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(REMOTE_CANCEL_MAX_POLL);
        let unavailable = match state.store.generation(record.id).await {
            Ok(latest) => match latest.status {
                Status::Running => None,
                Status::Cancelled
                    if latest.error_code.as_deref() == Some(ErrorCode::Cancelled.as_str()) =>
                {
                    return Ok(Json(view_of(state, latest)));
                }
                _ => return Err(ApiError::Conflict("the generation has already finished")),
            },
            // The request has gone out; the database may be back by the next look.
            Err(err @ StoreError::Unavailable(_)) => Some(err),
            Err(err) => return Err(err.into()),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(match unavailable {
                Some(err) => ApiError::StorageUnavailable(err),
                None => ApiError::Conflict("no running instance answered for this generation"),
            });
        }
    }
}

/// A generation as `GET /api/generations/{id}` shows it.
#[derive(Debug, Serialize)]
pub struct GenerationView {
    #[serde(flatten)]
    record: GenerationRecord,
    /// The current stage while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<Stage>,
    live_url: Option<String>,
    events_url: String,
}

/// `GET /api/generations/{id}`.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GenerationView>, ApiError> {
    let id = parse_id(&id, "generation")?;
    Ok(Json(view(&state, id).await?))
}

async fn view(state: &AppState, id: Uuid) -> Result<GenerationView, ApiError> {
    let record = state.store.generation(id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::NotFound("generation"),
        other => other.into(),
    })?;
    Ok(view_of(state, record))
}

/// How `GET /api/generations/{id}` shows a generation already read from the database.
fn view_of(state: &AppState, record: GenerationRecord) -> GenerationView {
    let id = record.id;
    let settings = state.generations.settings();
    let stage = state
        .generations
        .get(id)
        .filter(|g| !g.is_finished())
        .and_then(|g| {
            g.log.latest(|event| match event {
                Event::Progress(progress) => Some(progress.stage),
                _ => None,
            })
        });
    GenerationView {
        live_url: record.page_id.map(|page_id| settings.live_url(page_id)),
        events_url: settings.events_url(id),
        stage,
        record,
    }
}

pub(super) fn parse_id(raw: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound(what))
}
