//! `POST /api/generate` and the generation resources under `/api/generations/{id}`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, JsonBody, Query};
use super::sse;
use crate::domain::{GenerateBody, GenerationRequest};
use crate::generation::{CancelError, Event, Follow, IdempotencyKey, KeyedBody, Stage, StartError};
use crate::store::{GenerationRecord, StoreError};

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `POST /api/generate`: validates, starts the generation and answers with its event stream.
/// Bad input is refused here, before any SSE byte.
pub async fn generate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GenerateBody>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let owner = super::owner::owner_key(&headers)?;
    let request = GenerationRequest::parse(&body, &config.model, &config.allowed_models())?
        .owned_by(owner.as_ref());
    let previews = request.preview;
    let key = idempotency_key(&headers)?.map(|key| IdempotencyKey {
        key,
        body: KeyedBody::Generate(body),
    });

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
                .map_err(|retry_after| ApiError::RateLimited {
                    what: "generations",
                    retry_after,
                })?;
            state.generations.start(request, key).map_err(start_error)?
        }
    };
    Ok(sse::response(
        generation.log.subscribe(0),
        state.stream_options(previews),
    ))
}

pub(super) fn start_error(err: StartError) -> ApiError {
    match err {
        StartError::QueueFull => ApiError::QueueFull {
            retry_after: Duration::from_secs(10),
        },
        StartError::Overloaded => ApiError::Overloaded {
            retry_after: Duration::from_secs(10),
        },
        StartError::ShuttingDown => ApiError::ShuttingDown,
        StartError::KeyReused => ApiError::IdempotencyKeyReused,
        StartError::RefineInProgress => {
            ApiError::Conflict("this page is being refined already; wait for that to finish")
        }
    }
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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
/// (header) or `?last_event_id=`, from whichever instance runs the generation (the registry
/// decides where its events come from). `204 No Content` once the client has seen the
/// terminal event, which stops an EventSource from reconnecting.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "generation")?;
    let after = last_event_id(&headers, params.last_event_id.as_deref())?;
    let options = state.stream_options(params.preview);
    match state.generations.follow(id, after).await {
        Ok(Follow::Events(events)) => Ok(sse::response(events, options)),
        Ok(Follow::Finished) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(StoreError::NotFound) => Err(ApiError::NotFound("generation")),
        Err(err) => Err(err.into()),
    }
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

/// `POST /api/generations/{id}/cancel`: stops a running generation, on whichever instance runs
/// it, and answers once it has stopped. 409 when it had already finished.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GenerationView>, ApiError> {
    let id = parse_id(&id, "generation")?;
    match state.generations.cancel(id).await {
        Ok(record) => Ok(Json(view_of(&state, record))),
        Err(CancelError::NotFound) => Err(ApiError::NotFound("generation")),
        Err(CancelError::Store(err)) => Err(err.into()),
        Err(err) => Err(ApiError::Conflict(
            err.conflict()
                .unwrap_or("the generation cannot be cancelled"),
        )),
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
