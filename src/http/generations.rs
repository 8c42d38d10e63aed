//! `POST /api/generate` and the generation resources under `/api/generations/{id}`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody, JsonBody, Query};
use super::sse;
use crate::domain::{ErrorCode, GenerateBody, GenerationRequest, PageType, Theme, Usage};
use crate::generation::{CancelError, Event, Follow, IdempotencyKey, KeyedBody, Stage, StartError};
use crate::store::{GenerationRecord, GenerationStatus};

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `POST /api/generate`: validates, starts the generation and answers with its event stream.
/// Bad input is refused here, before any SSE byte.
#[utoipa::path(
    post,
    path = "/api/generate",
    operation_id = "generate",
    tag = "generations",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key (and body) attaches to its generation instead of starting another")),
    request_body(
        content = GenerateBody,
        example = json!({"email": "ada@example.com", "prompt": "a landing page for my bakery", "theme": "playful"}),
    ),
    security((), ("owner_key" = [])),
    responses(
        (status = 200, description = "The event stream (`text/event-stream`). Each event has an `id` (its number in the generation), an `event` type and one `data:` line of JSON: `started` (Started), `progress` (Progress), `delta` (Delta), `preview` (Preview, only with `preview`), then exactly one of `completed` (Completed) or `error` (Failed), after which the stream ends. Comment lines keep the connection alive.", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Malformed JSON, `Idempotency-Key` or owner key", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A field is invalid (`invalid_email`, `invalid_prompt`, …; `field` names it), the body has the wrong shape (`invalid_body`), or the `Idempotency-Key` was used with another body", body = ErrorBody),
        (status = 429, description = "Too many generations from this client or email (`rate_limited`); see `Retry-After`", body = ErrorBody),
        (status = 503, description = "The queue is full (`queue_full`), the server is at its connection limit (`overloaded`), shutting down or without its database; see `Retry-After`", body = ErrorBody),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GenerateBody>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let owner = super::owner::owner_key(&headers)?;
    let request = GenerationRequest::parse(
        &body,
        &config.upstream.model,
        &config.upstream.allowed_models(),
    )?
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
            spend_budget(&state, peer, &headers, request.email.as_str()).await?;
            state.generations.start(request, key).map_err(start_error)?
        }
    };
    Ok(sse::response(
        generation.log.subscribe(0),
        state.stream_options(previews),
    ))
}

/// Spends one generation from the budgets of the client's IP and of `email` (a refine spends
/// from the same ones): `429` once either is used up.
pub(super) async fn spend_budget(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    email: &str,
) -> Result<(), ApiError> {
    let ip = state.limits.client_ip(peer, headers);
    state
        .limits
        .check(ip, email)
        .await
        .map_err(|retry_after| ApiError::RateLimited {
            what: "generations",
            retry_after,
        })
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Resume after this event id (for clients that cannot send `Last-Event-ID`).
    #[param(value_type = Option<u64>)]
    last_event_id: Option<String>,
    /// Ask for `preview` events.
    #[serde(default)]
    preview: bool,
}

/// `GET /api/generations/{id}/events`: the stream from the start, or after `Last-Event-ID`
/// (header) or `?last_event_id=`, from whichever instance runs the generation (the registry
/// decides where its events come from). `204 No Content` once the client has seen the
/// terminal event, which stops an EventSource from reconnecting.
#[utoipa::path(
    get,
    path = "/api/generations/{id}/events",
    operation_id = "generation_events",
    tag = "generations",
    params(("id" = String, Path, description = "The generation id (a UUID); anything else is an unknown generation"), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"), EventsParams),
    responses(
        (status = 200, description = "The event stream (`text/event-stream`). Each event has an `id` (its number in the generation), an `event` type and one `data:` line of JSON: `started` (Started), `progress` (Progress), `delta` (Delta), `preview` (Preview, only with `preview`), then exactly one of `completed` (Completed) or `error` (Failed), after which the stream ends. Comment lines keep the connection alive.", body = String, content_type = "text/event-stream"),
        (status = 204, description = "The client has seen the terminal event already: nothing more will come"),
        (status = 400, description = "`Last-Event-ID` or a query parameter is malformed (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such generation (`not_found`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<EventsParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "generation")?;
    let after = last_event_id(&headers, params.last_event_id.as_deref())?;
    let options = state.stream_options(params.preview);
    let follow = state
        .generations
        .follow(id, after)
        .await
        .map_err(ApiError::unless_found("generation"))?;
    Ok(match follow {
        Follow::Events(events) => sse::response(events, options),
        Follow::Finished => StatusCode::NO_CONTENT.into_response(),
    })
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
#[utoipa::path(
    post,
    path = "/api/generations/{id}/cancel",
    operation_id = "cancel_generation",
    tag = "generations",
    params(("id" = String, Path, description = "The generation id (a UUID); anything else is an unknown generation")),
    responses(
        (status = 200, description = "Cancelled: the generation as it ended", body = GenerationView),
        (status = 404, description = "No such generation (`not_found`)", body = ErrorBody),
        (status = 409, description = "It had finished already (`conflict`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Generation)]
pub struct GenerationView {
    id: Uuid,
    /// The page it made, once completed.
    page_id: Option<Uuid>,
    prompt: String,
    #[schema(value_type = PageType)]
    page_type: String,
    #[schema(value_type = Theme)]
    theme: String,
    model: String,
    status: GenerationStatus,
    /// Why it failed or was cancelled (the `code` of its `error` event).
    error_code: Option<ErrorCode>,
    error_message: Option<String>,
    /// Tokens and cost, once known.
    usage: Option<Usage>,
    /// Milliseconds from the request to the model's first token.
    first_token_ms: Option<i64>,
    duration_ms: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
    /// How many model responses its output took, once it has ended (see `completed`).
    segments: Option<i64>,
    /// The current stage while running on the instance that answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<Stage>,
    /// `/p/{page_id}`, once completed.
    live_url: Option<String>,
    events_url: String,
}

/// `GET /api/generations/{id}`.
#[utoipa::path(
    get,
    path = "/api/generations/{id}",
    operation_id = "get_generation",
    tag = "generations",
    params(("id" = String, Path, description = "The generation id (a UUID); anything else is an unknown generation")),
    responses(
        (status = 200, description = "The generation", body = GenerationView),
        (status = 404, description = "No such generation (`not_found`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable (`storage_unavailable`); `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GenerationView>, ApiError> {
    let id = parse_id(&id, "generation")?;
    Ok(Json(view(&state, id).await?))
}

async fn view(state: &AppState, id: Uuid) -> Result<GenerationView, ApiError> {
    let record = state
        .store
        .generation(id)
        .await
        .map_err(ApiError::unless_found("generation"))?;
    Ok(view_of(state, record))
}

/// How `GET /api/generations/{id}` shows a generation already read from the database.
fn view_of(state: &AppState, record: GenerationRecord) -> GenerationView {
    let id = record.id;
    let urls = state.generations.urls();
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
        live_url: record.page_id.map(|page_id| urls.live_url(page_id)),
        events_url: urls.events_url(id),
        stage,
        id,
        page_id: record.page_id,
        prompt: record.prompt,
        page_type: record.page_type,
        theme: record.theme,
        model: record.model,
        status: record.status,
        error_code: record.error_code,
        error_message: record.error_message,
        usage: record.usage,
        first_token_ms: record.first_token_ms,
        duration_ms: record.duration_ms,
        created_at: record.created_at,
        finished_at: record.finished_at,
        segments: record.segments,
    }
}

pub(super) fn parse_id(raw: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound(what))
}
