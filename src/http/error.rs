//! The API's one error type and its JSON shape:
//! `{"error": {"code": "invalid_email", "message": "…", "field": "email"}}`.
//!
//! Handlers return `Result<_, ApiError>` and use `?`; the status of each variant is documented
//! on it. 5xx answers carry fixed text: the details go to the log, never to the client.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Invalid;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: a field failed validation.
    #[error("{}", .0.message)]
    Invalid(Invalid),
    /// 400: the body is not JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 422: the JSON does not have the expected shape (e.g. a number where a string belongs).
    #[error("the request body has the wrong shape: {0}")]
    InvalidBody(String),
    /// 400: a query parameter is malformed.
    #[error("{message}")]
    InvalidParameter {
        field: &'static str,
        message: String,
    },
    /// 415: the body is not `application/json`.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 413: the body is larger than allowed.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 404: no such resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: the resource is in a state that does not allow this.
    #[error("{0}")]
    Conflict(&'static str),
    /// 422: the `Idempotency-Key` was used before with a different body.
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// 429: too many generations (or reports) from this client or email.
    #[error("too many {what}; try again in {} s", .retry_after.as_secs().max(1))]
    RateLimited {
        what: &'static str,
        retry_after: Duration,
    },
    /// 401: missing or wrong credentials.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 400: the `Authorization` header holds no valid owner key (32–128 of `A-Z a-z 0-9 - _`).
    #[error("{}", .0.message)]
    InvalidOwnerKey(Invalid),
    /// 403: the credentials are valid but not the owner's (nor the admin's).
    #[error("this {0} belongs to another owner key")]
    Forbidden(&'static str),
    /// 410: the resource was there and is gone for good (a deleted page).
    #[error("this {0} was deleted")]
    Gone(&'static str),
    /// 503: every upstream slot is busy and the queue is full.
    #[error("too many generations are waiting; try again shortly")]
    QueueFull { retry_after: Duration },
    /// 503: the open files (descriptors) a new generation needs would leave too few for the
    /// generations already accepted to save their pages.
    #[error("the server is at its limit of open connections; try again shortly")]
    Overloaded { retry_after: Duration },
    /// 503: the server is shutting down.
    #[error("the server is shutting down; try again shortly")]
    ShuttingDown,
    /// 503: the database could not be reached.
    #[error("the database is unavailable; try again shortly")]
    StorageUnavailable(#[source] StoreError),
    /// 500: a bug; the cause is logged.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::InvalidBody(_) | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MalformedJson(_) | Self::InvalidParameter { .. } | Self::InvalidOwnerKey(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Gone(_) => StatusCode::GONE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::QueueFull { .. }
            | Self::Overloaded { .. }
            | Self::ShuttingDown
            | Self::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(invalid) => invalid.code,
            Self::MalformedJson(_) => "invalid_json",
            Self::InvalidBody(_) => "invalid_body",
            Self::InvalidParameter { .. } => "invalid_parameter",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::InvalidOwnerKey(invalid) => invalid.code,
            Self::Forbidden(_) => "forbidden",
            Self::Gone(_) => "gone",
            Self::QueueFull { .. } => "queue_full",
            Self::Overloaded { .. } => "overloaded",
            Self::ShuttingDown => "shutting_down",
            Self::StorageUnavailable(_) => "storage_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid(invalid) | Self::InvalidOwnerKey(invalid) => Some(invalid.field),
            Self::InvalidParameter { field, .. } => Some(field),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::QueueFull { retry_after }
            | Self::Overloaded { retry_after }
            | Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::ShuttingDown | Self::StorageUnavailable(_) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong, for the client to switch on (`code`) and for people to read (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: `invalid_email`, `not_found`, `rate_limited`, …
    #[schema(example = "invalid_email")]
    code: &'static str,
    message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let refused = matches!(self, Self::QueueFull { .. } | Self::Overloaded { .. });
        if refused {
            // Deliberate, and by the thousand under load: the metrics count them by status.
            tracing::debug!(code = self.code(), "request refused");
        } else if status.is_server_error() {
            tracing::error!(error = ?self, code = self.code(), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                field: self.field(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, Self::Unauthorized) {
            // RFC 9110 §11.6.1: a 401 names the scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, Self::Overloaded { .. }) {
            // The connection is a descriptor the server is short of: the client comes back
            // on a new one after `Retry-After`, not on this one kept idle meanwhile.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(retry_after) = self.retry_after() {
            // Whole seconds, rounded up: coming back a little late is fine, early is not.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let seconds = seconds.max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid)
    }
}

impl ApiError {
    /// Maps a store error where a missing row means that `what` (a page, a generation, …) does
    /// not exist: `.map_err(ApiError::unless_found("page"))?`.
    pub fn unless_found(what: &'static str) -> impl FnOnce(StoreError) -> ApiError {
        move |err| match err {
            StoreError::NotFound => ApiError::NotFound(what),
            other => other.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Unavailable(_) => Self::StorageUnavailable(err),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => Self::InvalidBody(err.body_text()),
            JsonRejection::JsonSyntaxError(err) => Self::MalformedJson(err.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            other => Self::MalformedJson(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::InvalidParameter {
            field: "query",
            message: rejection.body_text(),
        }
    }
}

/// `axum::Json`, answering malformed bodies in the API's error shape.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// `axum::extract::Query`, answering malformed parameters in the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);
