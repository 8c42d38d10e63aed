//! `POST /api/pages/{id}/refine`: a follow-up prompt that changes a published page, streamed
//! like a generation and saved as the page's next version (docs/ARCHITECTURE.md, "Refining a
//! page").
//!
//! A refine is a generation of an existing page: it goes through the same registry, so it is
//! queued, resumable (`/api/generations/{id}/events`), cancellable and idempotent like any
//! other, and spends the same rate-limit budget. Only the page's owner (or the admin) may
//! refine it, one refine at a time.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::AppState;
use super::error::{ApiError, ErrorBody, JsonBody};
use super::generations::{idempotency_key, parse_id, spend_budget, start_error};
use super::pages::page_to_change;
use super::sse;
use crate::domain::{
    Email, GenerationRequest, Model, PageType, Prompt, RefineBody, Refinement, Theme,
};
use crate::generation::{IdempotencyKey, KeyedBody};
use crate::store::{PageRecord, PageStatus, StoreError};

/// `POST /api/pages/{id}/refine` with `{"prompt", "model"?, "preview"?}` and the owner key:
/// answers with the refine's event stream, whose `completed` carries the new `version`.
/// `401` without a key, `403` with another's, `404` for an unknown page, `409` for a page
/// taken down or being refined already, `410` for a deleted one; bad input is refused before
/// any SSE byte.
#[utoipa::path(
    post,
    path = "/api/pages/{id}/refine",
    operation_id = "refine_page",
    tag = "pages",
    params(("id" = String, Path, description = "The page id (a UUID); anything else is an unknown page"), ("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key (and body) attaches to its refine")),
    request_body = RefineBody,
    security(("owner_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The refine's event stream, as a generation's: `started`, `progress` (with `edits`, the edit blocks applied so far, and `answer`), `delta`, `preview` (the page with the edits so far, only with `preview`), then `completed` (with `version` and `version_url`) or `error` (`edit_failed` when the edits could not be applied, even to a whole new document).", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Malformed JSON, `Idempotency-Key` or owner key", body = ErrorBody),
        (status = 401, description = "No owner key (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another owner's page (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such page (`not_found`)", body = ErrorBody),
        (status = 409, description = "Taken down, being refined already, or changed meanwhile (`conflict`)", body = ErrorBody),
        (status = 410, description = "The page was deleted (`gone`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A field is invalid (`invalid_prompt`, `invalid_model`; `field` names it) or the body has the wrong shape", body = ErrorBody),
        (status = 429, description = "Too many generations from this client or email (`rate_limited`)", body = ErrorBody),
        (status = 503, description = "The queue is full, the server is at its connection limit, shutting down or without its database; see `Retry-After`", body = ErrorBody),
    )
)]
pub async fn refine(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RefineBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "page")?;
    let (_, record) = page_to_change(&state, id, &headers).await?;
    if record.status == PageStatus::Removed {
        return Err(ApiError::Conflict(
            "this page was taken down by the admin and cannot be refined",
        ));
    }
    let config = &state.config;
    let prompt = Prompt::parse(body.prompt.as_deref().unwrap_or_default())?;
    let model = Model::parse(
        body.model.as_deref(),
        &config.upstream.model,
        &config.upstream.allowed_models(),
    )?;
    let previews = body.preview;
    let key = idempotency_key(&headers)?.map(|key| IdempotencyKey {
        key,
        body: KeyedBody::Refine {
            page_id: id,
            body: body.clone(),
        },
    });

    // A repeat of an earlier request attaches to its refine: no new work, no new budget.
    let existing = match &key {
        Some(key) => state.generations.find_by_key(key).map_err(start_error)?,
        None => None,
    };
    let generation = match existing {
        Some(generation) => generation,
        None => {
            if state.generations.is_refining(id) {
                return Err(start_error(crate::generation::StartError::RefineInProgress));
            }
            spend_budget(&state, peer, &headers, &record.email).await?;
            let (document, version) =
                state
                    .store
                    .current_document(id)
                    .await
                    .map_err(|err| match err {
                        StoreError::NotFound => {
                            ApiError::Conflict("this page changed meanwhile; try again")
                        }
                        other => other.into(),
                    })?;
            let request = refine_request(
                &record,
                prompt,
                model,
                previews,
                Refinement {
                    page_id: id,
                    version,
                    document,
                },
            )?;
            state.generations.start(request, key).map_err(start_error)?
        }
    };
    Ok(sse::response(
        generation.log.subscribe(0),
        state.stream_options(previews),
    ))
}

/// The request of a refine of `page`: the page's email, type, theme and owner, the change
/// asked for as the prompt.
fn refine_request(
    page: &PageRecord,
    prompt: Prompt,
    model: Model,
    preview: bool,
    refinement: Refinement,
) -> Result<GenerationRequest, ApiError> {
    let internal = |what: &str| {
        ApiError::Internal(anyhow::anyhow!(
            "page {} has a stored {what} that does not parse",
            page.id
        ))
    };
    Ok(GenerationRequest {
        email: Email::parse(&page.email).map_err(|_| internal("email"))?,
        prompt,
        page_type: PageType::parse(Some(&page.page_type)).map_err(|_| internal("page type"))?,
        theme: Theme::parse(Some(&page.theme)).map_err(|_| internal("theme"))?,
        model,
        preview,
        owner: page.owner,
        refine: Some(refinement),
    })
}
