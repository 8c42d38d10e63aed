//! A mock OpenAI-compatible streaming endpoint (`POST /chat/completions`), speaking
//! OpenRouter's wire format byte for byte.
//!
//! It is part of the library, not just of the tests, because demo mode needs it: without an API
//! key the service serves this endpoint in-process on its own `127.0.0.1:0` listener and points
//! its real HTTP client at it, so the whole pipeline — client, SSE parsing, sanitizing, saving —
//! runs for real. The integration tests and benchmarks drive the same endpoint through
//! [`Script`]s that inject faults (HTTP errors, a mid-stream error, a stall, a malformed chunk,
//! an abrupt close), set a pace, or stamp deltas with their send time.
//!
//! # Layout
//! - `script`: [`Script`], [`Content`], [`Fault`], [`Resume`] — what to do for one request.
//! - `request`: what the mock reads from a chat-completions request.
//! - `segment`: the part of the text one response writes, at the model's output limit and
//!   when continuing.
//! - `stream`: a script as a paced body stream, and the disconnect accounting.
//! - `wire`: chunk encoding, matching the transcripts in `tests/fixtures/upstream/`.
//! - [`deltas_for`]: how a text is cut into model-like deltas.
//!
//! What it writes in demo mode are [`crate::demo`]'s pages, and its answers to refines.
//!
//! # A stream
//! `comments` × `: OPENROUTER PROCESSING`, a role chunk with empty content, one chunk per content
//! delta, a finish chunk (empty content, the script's `finish_reason` and
//! `native_finish_reason`), a separate usage chunk whose choice has a null `finish_reason`, then
//! `data: [DONE]`. The `X-Generation-Id` header carries the chunks' `id`. A response cut by the
//! script's output limit finishes with `finish_reason: "length"` (`native_finish_reason:
//! "max_tokens"`).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::demo::{demo_page, demo_refine};

mod deltas;
mod request;
mod script;
mod segment;
pub mod stamp;
mod stream;
mod wire;

pub use deltas::deltas_for;
pub use script::{Content, Fault, Resume, Script};

use request::ChatRequest;
use stream::{FinishGuard, Plan};

/// The path the mock serves; also under `/v1` and `/api/v1`, as base URLs are often written.
const PATH: &str = "/chat/completions";

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The JSON body; a body that is not JSON is kept as a JSON string of its (lossy) text.
    pub body: serde_json::Value,
    pub authorization: Option<String>,
    /// The `HTTP-Referer` attribution header.
    pub referer: Option<String>,
    /// The `X-Title` attribution header.
    pub title: Option<String>,
}

/// The mock endpoint; clones share state, so a test keeps one clone and serves another.
#[derive(Debug, Clone)]
pub struct MockUpstream {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The script of every request that finds the queue empty. Behind an `Arc` so that
    /// thousands of concurrent streams share one copy of its deltas instead of cloning them.
    default: Arc<Script>,
    /// Scripts pushed by a test, consumed one per valid request, first in first out.
    queue: Mutex<VecDeque<Script>>,
    /// Every request, in arrival order, while `recording` is on.
    requests: Mutex<Vec<RecordedRequest>>,
    /// On by default; demo mode turns it off so a long-running service does not keep every
    /// request it ever made.
    recording: AtomicBool,
    /// How many streams lost their client before finishing. A `watch` rather than an atomic so
    /// that tests can await a count instead of polling for it.
    disconnects: watch::Sender<usize>,
}

impl Default for MockUpstream {
    fn default() -> Self {
        Self::new(Script::default())
    }
}

impl MockUpstream {
    /// A mock that follows `default` whenever no pushed script is waiting.
    pub fn new(default: Script) -> Self {
        Self {
            shared: Arc::new(Shared {
                default: Arc::new(default),
                queue: Mutex::default(),
                requests: Mutex::default(),
                recording: AtomicBool::new(true),
                disconnects: watch::Sender::new(0),
            }),
        }
    }

    /// Queues `script` for one request; queued scripts are used in order before the default.
    pub fn push(&self, script: Script) {
        lock(&self.shared.queue).push_back(script);
    }

    /// `POST /chat/completions` (and `/v1/…`, `/api/v1/…`), ready to serve or to nest.
    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(chat_completions))
            .route("/v1/chat/completions", post(chat_completions))
            .route("/api/v1/chat/completions", post(chat_completions))
            .fallback(fallback)
            .with_state(self.clone())
    }

    /// Every request received so far, in arrival order (bad ones included).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Turns request recording on (the default) or off.
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// How many streams were dropped before they finished: their client went away.
    pub fn disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    /// Waits until at least `count` streams have lost their client.
    pub async fn wait_for_disconnects(&self, count: usize) {
        let mut changes = self.shared.disconnects.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = changes.wait_for(|&n| n >= count).await;
    }

    /// Serves the mock on a fresh `127.0.0.1` port until the task is aborted; returns its base
    /// URL (`http://127.0.0.1:{port}/`, whose `chat/completions` is the endpoint).
    pub async fn spawn(&self) -> io::Result<(Url, JoinHandle<()>)> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = base_url(&listener)?;
        let mock = self.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = mock.serve(listener, std::future::pending()).await {
                tracing::error!(%error, "mock upstream stopped serving");
            }
        });
        Ok((url, task))
    }

    /// Serves the mock on `listener` until `shutdown` completes and open streams end (a stalled
    /// stream never ends by itself: abort the task rather than wait for it).
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        // Deltas are tiny writes: without NODELAY, Nagle's algorithm would hold them back and
        // add tens of milliseconds to the latency the benchmarks measure.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "mock upstream: could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    fn record(&self, headers: &HeaderMap, body: Value) {
        if !self.shared.recording.load(Ordering::Relaxed) {
            return;
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request = RecordedRequest {
            body,
            authorization: header("authorization"),
            referer: header("http-referer"),
            title: header("x-title"),
        };
        lock(&self.shared.requests).push(request);
    }

    /// The next queued script, or the default.
    fn next_script(&self) -> Arc<Script> {
        let queued = lock(&self.shared.queue).pop_front();
        queued.map_or_else(|| Arc::clone(&self.shared.default), Arc::new)
    }
}

/// Locks a mutex that is only ever held for a push, pop or clone: a panic while holding it
/// cannot leave the data half-changed, so a poisoned lock is still good to use.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn base_url(listener: &TcpListener) -> io::Result<Url> {
    let port = listener.local_addr()?.port();
    Url::parse(&format!("http://127.0.0.1:{port}")).map_err(io::Error::other)
}

/// `POST /chat/completions`: record, validate, then follow the next script.
async fn chat_completions(
    State(mock): State<MockUpstream>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let request = match &parsed {
        Ok(json) => ChatRequest::read(json),
        Err(_) => Err("the request body is not valid JSON"),
    };
    let recorded =
        parsed.unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    mock.record(&headers, recorded);
    let request = match request {
        Ok(request) => request,
        Err(message) => return error_response(400, message, None),
    };
    let script = mock.next_script();
    if let Some(status) = script.status {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Upstream error");
        return error_response(status, reason, script.retry_after);
    }
    let segment = match text_of(&script, &request) {
        Some(document) => match segment::segment(&document, &script, request.prefill.as_deref()) {
            Ok(segment) => Some(segment),
            Err(message) => return error_response(400, message, None),
        },
        None => None,
    };
    stream_response(&mock, script, request, segment)
}

/// The whole text a script writes, when it is written as text (the demo page, or deltas that
/// are cut or continued) rather than as the script's own deltas or transcript.
fn text_of(script: &Script, request: &ChatRequest) -> Option<String> {
    match &script.content {
        Content::Demo => Some(match &request.refine {
            Some(refine) => demo_refine(&refine.document, &refine.change, refine.whole_document),
            None => demo_page(&request.prompt, request.page_type, request.theme),
        }),
        Content::Deltas(list) if !script.cuts.is_empty() || request.prefill.is_some() => {
            Some(list.concat())
        }
        Content::Deltas(_) | Content::Raw(_) => None,
    }
}

/// Tolerates base URLs joined with a doubled or extra prefix (`//chat/completions`,
/// `/openai/v1/chat/completions`): any POST whose path ends with the endpoint's path.
async fn fallback(
    state: State<MockUpstream>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::POST && uri.path().ends_with(PATH) {
        return chat_completions(state, headers, body).await;
    }
    error_response(404, "Not Found", None)
}

/// OpenRouter's error answer: a status and `{"error":{"code","message","metadata"}}`.
fn error_response(code: u16, message: &str, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let json = HeaderValue::from_static("application/json");
    let mut response = (
        status,
        [(header::CONTENT_TYPE, json)],
        wire::error_body(code, message),
    )
        .into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A 200 `text/event-stream` response whose body plays `script`, writing `segment` when the
/// script's text is written as text.
fn stream_response(
    mock: &MockUpstream,
    script: Arc<Script>,
    request: ChatRequest,
    segment: Option<segment::Segment>,
) -> Response {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = wire::generation_id(created);
    let generation_id = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("gen-mock"));
    let pace = script.pace;
    let plan = Plan::new(
        script,
        stream::Request {
            id,
            model: request.model,
            created,
            prompt_tokens: request.prompt_tokens,
            segment,
        },
    );
    let guard = FinishGuard::new(mock.shared.disconnects.clone());
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (HeaderName::from_static("x-generation-id"), generation_id),
    ];
    (headers, Body::from_stream(stream::body(plan, pace, guard))).into_response()
}

#[cfg(test)]
mod tests;
