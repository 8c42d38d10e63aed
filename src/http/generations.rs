//! `POST /api/generate` and the generation resources under `/api/generations/{id}`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, JsonBody, Query};
use super::sse;
use crate::domain::{GenerateBody, GenerationRequest};
use crate::generation::{Event, StartError};
use crate::store::{GenerationRecord, StoreError};

/// `POST /api/generate`: validates, starts the generation and answers with its event stream.
/// Bad input is refused here, before any SSE byte.
pub async fn generate(State(state): State<AppState>, JsonBody(body): JsonBody<GenerateBody>) -> Result<Response, ApiError> {
    let config = &state.config;
    let request = GenerationRequest::parse(&body, &config.model, &config.allowed_models())?;
    let previews = request.preview;
    let generation = state.generations.start(request).map_err(|err| match err {
        StartError::QueueFull => ApiError::QueueFull { retry_after: Duration::from_secs(10) },
        StartError::ShuttingDown => ApiError::ShuttingDown,
    })?;
    Ok(sse::response(generation.log.subscribe(0), state.stream_options(previews)))
}

#[derive(Debug, Deserialize)]
pub struct EventsParams {
    last_event_id: Option<String>,
    #[serde(default)]
    preview: bool,
}

/// `GET /api/generations/{id}/events`: the stream from the start, or after `Last-Event-ID`.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "generation")?;
    let generation = state.generations.get(id).ok_or(ApiError::NotFound("generation"))?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(params.last_event_id);
    let after = match last_event_id.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(raw) => raw.parse::<u64>().map_err(|_| ApiError::InvalidParameter {
            field: "last_event_id",
            message: "Last-Event-ID must be a non-negative integer".into(),
        })?,
    };
    Ok(sse::response(generation.log.subscribe(after), state.stream_options(params.preview)))
}

/// A generation as `GET /api/generations/{id}` shows it.
#[derive(Debug, Serialize)]
pub struct GenerationStatus {
    #[serde(flatten)]
    record: GenerationRecord,
    /// The current stage while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<crate::generation::Stage>,
    live_url: Option<String>,
    events_url: String,
}

/// `GET /api/generations/{id}`.
pub async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<GenerationStatus>, ApiError> {
    let id = parse_id(&id, "generation")?;
    let record = state.store.generation(id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::NotFound("generation"),
        other => other.into(),
    })?;
    let settings = state.generations.settings();
    let stage = state
        .generations
        .get(id)
        .filter(|g| !g.is_finished())
        .and_then(|g| g.log.latest(|event| match event {
            Event::Progress(progress) => Some(progress.stage),
            _ => None,
        }));
    Ok(Json(GenerationStatus {
        live_url: record.page_id.map(|page_id| settings.live_url(page_id)),
        events_url: settings.events_url(id),
        stage,
        record,
    }))
}

pub(super) fn parse_id(raw: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound(what))
}
