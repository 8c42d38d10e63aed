//! The client for OpenRouter and any OpenAI-compatible streaming endpoint.
//!
//! [`UpstreamClient::open`] sends one `POST {base}/chat/completions` with `stream: true` and
//! answers with a [`ChunkStream`] once the upstream said 200, or with an [`UpstreamError`] that
//! knows whether retrying could help. Retrying, timeouts and what a failure means for the page
//! are the generation's business (`crate::generation`); this module only speaks the protocol.
//! The API key is sent as a bearer token and never appears in an error or a log line.

pub mod chunk;
mod frames;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

pub use chunk::{Chunk, Finish, ProviderError};

/// The longest error message from an upstream body that we pass on.
const MAX_ERROR_MESSAGE: usize = 300;

/// Everything needed to build an [`UpstreamClient`].
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub base_url: Url,
    pub api_key: Option<SecretString>,
    pub referer: Option<String>,
    pub title: Option<String>,
    pub max_tokens: u32,
    pub connect_timeout: Duration,
}

/// One shared HTTP client for the upstream; cheap to clone.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    endpoint: Url,
    /// Shared with every [`ChunkStream`], which blanks it out of provider error messages.
    api_key: Option<Arc<SecretString>>,
    max_tokens: u32,
}

/// What to ask the model.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub user: &'a str,
    /// Set when asking the model to carry on with a page it was cut off writing.
    pub continuation: Option<Continuation<'a>>,
}

/// Asks the model to carry on from where it stopped: `instruction` as a user message after
/// the prompt, then `written` as the last message, the assistant's — a prefill, which
/// OpenRouter passes on to the providers that support it (the model then goes on from its
/// last character), and which the others read as their answer so far.
#[derive(Debug, Clone, Copy)]
pub struct Continuation<'a> {
    pub instruction: &'a str,
    pub written: &'a str,
}

/// Why an upstream request or stream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream refused the request with a non-2xx status.
    #[error("the model provider answered {status}: {message}")]
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
        message: String,
    },
    /// No HTTP response: refused connection, DNS, TLS, connect timeout.
    #[error("could not reach the model provider: {0}")]
    Connect(String),
    /// The response body failed mid-way (connection dropped or reset).
    #[error("the connection to the model provider dropped: {0}")]
    Transport(String),
    /// The body ended without `data: [DONE]`.
    #[error("the model provider's stream ended early")]
    Incomplete,
    /// A `data:` payload that is not a chunk: the parser's message ([`chunk::MalformedChunk`]),
    /// which may quote the payload, so it is redacted like every upstream message.
    #[error("{0}")]
    Malformed(String),
    /// An error chunk inside the stream (after HTTP 200).
    #[error("the model provider reported an error ({}): {}", .0.code, .0.message)]
    Provider(ProviderError),
}

impl UpstreamError {
    /// Whether another attempt could succeed (when no token has been relayed yet).
    /// 400, 401, 402 and 403 are the caller's or the account's fault: retrying cannot fix them.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || status.is_server_error()
            }
            Self::Connect(_) | Self::Transport(_) | Self::Incomplete | Self::Provider(_) => true,
            Self::Malformed(_) => false,
        }
    }

    /// The delay the upstream asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl UpstreamClient {
    pub fn new(settings: UpstreamSettings) -> Result<Self, reqwest::Error> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, "text/event-stream".parse().expect("static header"));
        // Attribution headers are optional; a value that is not a valid header is dropped
        // rather than failing every request.
        for (name, value) in [
            ("http-referer", &settings.referer),
            ("x-title", &settings.title),
        ] {
            if let Some(value) = value.as_deref().and_then(|v| v.parse().ok()) {
                headers.insert(name, value);
            }
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(settings.connect_timeout)
            .tcp_nodelay(true)
            // Bounded, so that the descriptor budget can count the idle ones.
            .pool_max_idle_per_host(crate::descriptors::UPSTREAM_IDLE_POOL)
            .user_agent(concat!("livepage/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let endpoint = settings
            .base_url
            .join("chat/completions")
            .expect("a base URL with a trailing slash joins a relative path");
        Ok(Self {
            http,
            endpoint,
            api_key: settings.api_key.map(Arc::new),
            max_tokens: settings.max_tokens,
        })
    }

    /// Starts a streaming completion; resolves once the upstream has answered with a status.
    pub async fn open(&self, request: ChatRequest<'_>) -> Result<ChunkStream, UpstreamError> {
        let body = WireRequest {
            model: request.model,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: self.max_tokens,
            messages: messages(&request),
        };
        let mut builder = self.http.post(self.endpoint.clone()).json(&body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key.expose_secret());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| UpstreamError::Connect(describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let message = error_message(response, self.api_key.as_deref()).await;
            return Err(UpstreamError::Status {
                status,
                retry_after,
                message,
            });
        }
        Ok(ChunkStream {
            body: Box::pin(response.bytes_stream()),
            frames: frames::Frames::default(),
            done: false,
            api_key: self.api_key.clone(),
        })
    }
}

type Body = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// The chunks of one streaming response, up to `data: [DONE]`.
pub struct ChunkStream {
    body: Body,
    /// The body's bytes, split into SSE events.
    frames: frames::Frames,
    done: bool,
    api_key: Option<Arc<SecretString>>,
}

impl std::fmt::Debug for ChunkStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStream")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ChunkStream {
    /// An upstream's words made fit to pass on: without the API key, which some providers
    /// quote ("Incorrect API key provided: sk-…") and which a parse error would quote back,
    /// and no longer than [`MAX_ERROR_MESSAGE`].
    fn scrub(&self, message: String) -> String {
        truncate(redact(message, self.api_key.as_deref()), MAX_ERROR_MESSAGE)
    }

    /// The next chunk; `None` after `[DONE]`. A failure is reported once, then `None`.
    /// Comment lines and empty payloads are skipped; an error chunk becomes
    /// [`UpstreamError::Provider`].
    pub async fn next(&mut self) -> Option<Result<Chunk, UpstreamError>> {
        if self.done {
            return None;
        }
        let result = self.next_chunk().await;
        self.done = !matches!(result, Some(Ok(_)));
        result
    }

    async fn next_chunk(&mut self) -> Option<Result<Chunk, UpstreamError>> {
        loop {
            while let Some(data) = self.frames.next_data() {
                let data = data.trim_ascii();
                if data == b"[DONE]" {
                    return None;
                }
                if data.is_empty() {
                    continue;
                }
                return Some(match chunk::parse(data) {
                    Ok(Chunk {
                        error: Some(mut error),
                        ..
                    }) => {
                        error.code = self.scrub(error.code);
                        error.message = self.scrub(error.message);
                        Err(UpstreamError::Provider(error))
                    }
                    Ok(chunk) => Ok(chunk),
                    Err(malformed) => {
                        Err(UpstreamError::Malformed(self.scrub(malformed.to_string())))
                    }
                });
            }
            match self.body.next().await {
                None => return Some(Err(UpstreamError::Incomplete)),
                Some(Err(err)) => return Some(Err(UpstreamError::Transport(describe(&err)))),
                Some(Ok(bytes)) => self.frames.push(&bytes),
            }
        }
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    stream: bool,
    /// OpenRouter always sends usage; other OpenAI-compatible servers need to be asked.
    stream_options: StreamOptions,
    max_tokens: u32,
    messages: Vec<Message<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

/// The conversation to send: the system prompt, the user's prompt, and for a continuation the
/// instruction and the text written so far.
fn messages<'a>(request: &ChatRequest<'a>) -> Vec<Message<'a>> {
    let mut messages = vec![
        Message {
            role: "system",
            content: request.system,
        },
        Message {
            role: "user",
            content: request.user,
        },
    ];
    if let Some(continuation) = request.continuation {
        messages.push(Message {
            role: "user",
            content: continuation.instruction,
        });
        messages.push(Message {
            role: "assistant",
            content: continuation.written,
        });
    }
    messages
}

/// `Retry-After` in delta-seconds (what OpenRouter and most APIs send).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The `error.message` of a JSON error body, or a short prefix of the body as text, with the
/// API key blanked out (before cutting, so no part of it survives): some providers quote the
/// key they were sent ("Incorrect API key provided: sk-…"), and this message reaches the log,
/// the database and the client.
async fn error_message(response: reqwest::Response, api_key: Option<&SecretString>) -> String {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    truncate(redact(message, api_key), MAX_ERROR_MESSAGE)
}

/// `message` with every occurrence of the API key replaced.
fn redact(message: String, api_key: Option<&SecretString>) -> String {
    match api_key.map(ExposeSecret::expose_secret) {
        Some(key) if !key.is_empty() && message.contains(key) => message.replace(key, "[redacted]"),
        _ => message,
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A reqwest error and its causes on one line, without the URL.
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else {
        String::new()
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        "request failed".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_statuses_are_retried() {
        let status = |code| UpstreamError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: None,
            message: String::new(),
        };
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 402, 403, 404, 422] {
            assert!(!status(code).is_retryable(), "{code}");
        }
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("héllo".into(), 2), "hé…");
        assert_eq!(truncate("hi".into(), 2), "hi");
    }
}
