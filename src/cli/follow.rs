//! Following one generation's event stream to its end, across dropped connections.
//!
//! A [`Follower`] opens the stream — the `POST /api/generate` response itself, or
//! `GET /api/generations/{id}/events` — and hands out each event once. When the connection
//! drops before the terminal event it reconnects with the last id it saw as `Last-Event-ID`, and
//! the server resumes exactly after it (docs/ARCHITECTURE.md, "A generation, start to end").
//! Events whose id is not past the last one are skipped, so a server that replays more than
//! asked never duplicates output.
//!
//! Reconnects wait the server's `retry:` hint, doubling with each failed attempt (with jitter,
//! so that many clients cut off together do not come back together), and give up after
//! [`MAX_RECONNECTS`]. The very first connection is not retried: a server that is not there
//! at all is better reported at once.

use std::error::Error as StdError;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event as Frame, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use super::event::{Payload, Received};
use crate::domain::{GenerateBody, OwnerKey, RefineBody};

/// Reconnection attempts after a drop before giving up (the count restarts with every event).
pub const MAX_RECONNECTS: u32 = 6;

/// The base reconnection delay until the server has sent its `retry:` hint.
const DEFAULT_RETRY: Duration = Duration::from_secs(2);

/// The longest wait between two reconnection attempts.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The server sends a keep-alive comment every 15 s (by default) on an idle stream; this much
/// silence means the connection is dead even if TCP has not noticed.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Frames = Pin<Box<dyn Stream<Item = Result<Frame, EventStreamError<reqwest::Error>>> + Send>>;

/// Why following stopped before the terminal event.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Nothing answered at the server's address.
    #[error("cannot reach the server at {server}: {reason}")]
    Unreachable { server: Url, reason: String },
    /// The stream dropped and every reconnection attempt failed.
    #[error(
        "lost the connection to the server; {attempts} attempts to reconnect failed (last: {reason})"
    )]
    Lost { attempts: u32, reason: String },
    /// The server answered with an error.
    #[error(transparent)]
    Rejected(#[from] Rejected),
    /// The answer was not LivePage's event stream.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The generation ended at or before the event the stream was to resume after
    /// (`204 No Content`): there is nothing more to follow.
    #[error(
        "the generation has ended: event {last_id} was its last or later, so there is nothing more to follow"
    )]
    Ended { last_id: u64 },
}

/// The server's id-less `error` event with code `stream_unavailable`: a notice about this
/// connection, not the generation's end (the README's event protocol).
fn is_unavailable_notice(frame: &Frame) -> bool {
    frame.event == "error"
        && serde_json::from_str::<serde_json::Value>(&frame.data)
            .is_ok_and(|data| data["code"] == "stream_unavailable")
}

/// An error answer of the API, `{"error": {"code", "message", "field"}}`, shown as
/// `<message> (<code>)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct Rejected {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl Rejected {
    /// Reads an error response; a body that is not the API's error shape (say, from a proxy in
    /// between) is described by its status.
    pub(super) async fn from_response(response: reqwest::Response) -> Self {
        #[derive(Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            code: String,
            message: String,
            field: Option<String>,
        }
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.trim().parse().ok())
            .map(Duration::from_secs);
        match response.json::<Body>().await {
            Ok(Body { error }) => Self {
                status,
                code: error.code,
                message: error.message,
                field: error.field,
                retry_after,
            },
            Err(_) => Self {
                status,
                code: format!("http_{}", status.as_u16()),
                message: format!("the server answered {status}"),
                field: None,
                retry_after,
            },
        }
    }

    /// Whether the same request may succeed later: timeouts, rate limits, server trouble.
    pub fn is_transient(&self) -> bool {
        self.status == StatusCode::REQUEST_TIMEOUT
            || self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status.is_server_error()
    }
}

impl FollowError {
    /// Whether reconnecting may help.
    fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Lost { .. } => true,
            Self::Rejected(rejected) => rejected.is_transient(),
            Self::Protocol(_) | Self::Ended { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected(rejected) => rejected.retry_after,
            _ => None,
        }
    }
}

/// The answer to a cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The generation stopped; nothing was saved.
    Cancelled,
    /// It had already finished: its stream carries the real ending.
    AlreadyFinished,
}

/// What the stream is opened on.
#[derive(Debug, Clone)]
enum Target {
    /// `POST /api/generate`, until the `started` event names the generation. Re-sending the
    /// same body with the same `Idempotency-Key` attaches to the generation the first request
    /// started rather than starting (and paying for) another.
    Generate {
        body: GenerateBody,
        idempotency_key: String,
        /// Whose page it will be (see `cli::owner`).
        owner_key: Option<OwnerKey>,
    },
    /// `POST /api/pages/{id}/refine`, until the `started` event names the generation; the
    /// same `Idempotency-Key` attaches a repeat to it.
    Refine {
        page_id: Uuid,
        body: RefineBody,
        idempotency_key: String,
        owner_key: OwnerKey,
    },
    /// `GET /api/generations/{id}/events`.
    Generation(Uuid),
}

/// Follows one generation's events to its end; see the module docs.
pub struct Follower {
    /// One HTTP client for every request, with connect and idle timeouts.
    http: reqwest::Client,
    /// The server's base URL, ending in `/`.
    server: Url,
    target: Target,
    /// The id of the last event handed out; a reconnect resumes after it.
    last_id: u64,
    /// The open stream; `None` between connections.
    frames: Option<Frames>,
    /// The base reconnection delay: the server's `retry:` hint.
    retry: Duration,
    /// Failed reconnection attempts since the last event.
    failures: u32,
    /// Why the last connection ended, for the error when reconnecting gives up.
    last_failure: String,
    /// A connection has succeeded once: from then on failures are retried.
    connected: bool,
    /// The terminal event has been handed out.
    finished: bool,
}

impl Follower {
    /// Starts a new generation with `body` on `server`, owned by `owner_key` if given.
    pub fn generate(
        server: Url,
        body: GenerateBody,
        owner_key: Option<OwnerKey>,
    ) -> reqwest::Result<Self> {
        let target = Target::Generate {
            body,
            idempotency_key: Uuid::new_v4().to_string(),
            owner_key,
        };
        Self::new(server, target, 0)
    }

    /// Starts a refine of page `page_id` with `body`, as the owner of `owner_key`.
    pub fn refine(
        server: Url,
        page_id: Uuid,
        body: RefineBody,
        owner_key: OwnerKey,
    ) -> reqwest::Result<Self> {
        let target = Target::Refine {
            page_id,
            body,
            idempotency_key: Uuid::new_v4().to_string(),
            owner_key,
        };
        Self::new(server, target, 0)
    }

    /// Follows the existing `generation`, from just after event `after` (0: from the start).
    pub fn resume(server: Url, generation: Uuid, after: u64) -> reqwest::Result<Self> {
        Self::new(server, Target::Generation(generation), after)
    }

    fn new(server: Url, target: Target, last_id: u64) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("livepage-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(IDLE_LIMIT)
            .build()?;
        Ok(Self {
            http,
            server,
            target,
            last_id,
            frames: None,
            retry: DEFAULT_RETRY,
            failures: 0,
            last_failure: String::new(),
            connected: false,
            finished: false,
        })
    }

    /// The generation's id, once known (at once for [`Follower::resume`], from the `started`
    /// event for [`Follower::generate`]).
    pub fn generation_id(&self) -> Option<Uuid> {
        match self.target {
            Target::Generation(id) => Some(id),
            Target::Generate { .. } | Target::Refine { .. } => None,
        }
    }

    /// The id of the last event handed out.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// The next event, reconnecting as needed; `None` once the terminal event has been handed
    /// out. Cancel-safe: dropping the future loses no event.
    pub async fn next(&mut self) -> Result<Option<Received>, FollowError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(frames) = self.frames.as_mut() else {
                self.connect().await?;
                continue;
            };
            match frames.next().await {
                Some(Ok(frame)) if is_unavailable_notice(&frame) => {
                    // The instance cannot follow the generation just now (its Redis does not
                    // answer); another try, perhaps on another instance, resumes it.
                    self.dropped("the live stream was unavailable on the server".into());
                }
                Some(Ok(frame)) => {
                    if let Some(event) = self.accept(frame)? {
                        return Ok(Some(event));
                    }
                }
                Some(Err(err)) => self.dropped(error_chain(&err)),
                None => self.dropped("the server closed the stream early".into()),
            }
        }
    }

    /// Takes in one frame: an event past the last one, or `None` for a replayed one.
    fn accept(&mut self, frame: Frame) -> Result<Option<Received>, FollowError> {
        if let Some(retry) = frame.retry {
            self.retry = retry.min(MAX_RETRY);
        }
        let event =
            Received::parse(&frame.id, &frame.event, &frame.data).map_err(FollowError::Protocol)?;
        if event.id <= self.last_id {
            return Ok(None);
        }
        self.last_id = event.id;
        self.failures = 0;
        if let Payload::Started { generation_id } = event.payload {
            self.target = Target::Generation(generation_id);
        }
        self.finished = event.is_terminal();
        Ok(Some(event))
    }

    fn dropped(&mut self, reason: String) {
        self.frames = None;
        self.last_failure = reason;
    }

    /// Opens the stream: at once the first time, then after a growing delay, until it opens or
    /// the attempts run out.
    async fn connect(&mut self) -> Result<(), FollowError> {
        let mut retry_after = None;
        loop {
            if self.connected {
                if self.failures >= MAX_RECONNECTS {
                    return Err(FollowError::Lost {
                        attempts: self.failures,
                        reason: std::mem::take(&mut self.last_failure),
                    });
                }
                tokio::time::sleep(jittered(backoff(self.retry, self.failures, retry_after))).await;
                self.failures += 1;
            }
            match self.open().await {
                Ok(frames) => {
                    self.frames = Some(frames);
                    self.connected = true;
                    return Ok(());
                }
                Err(err) if self.connected && err.is_transient() => {
                    retry_after = err.retry_after();
                    self.last_failure = err.to_string();
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn open(&self) -> Result<Frames, FollowError> {
        let request = match &self.target {
            Target::Generate {
                body,
                idempotency_key,
                owner_key,
            } => {
                let request = self
                    .http
                    .post(self.url("api/generate"))
                    .header("idempotency-key", idempotency_key)
                    .json(body);
                match owner_key {
                    Some(key) => request.bearer_auth(key.expose()),
                    None => request,
                }
            }
            Target::Refine {
                page_id,
                body,
                idempotency_key,
                owner_key,
            } => self
                .http
                .post(self.url(&format!("api/pages/{page_id}/refine")))
                .header("idempotency-key", idempotency_key)
                .bearer_auth(owner_key.expose())
                .json(body),
            Target::Generation(id) => {
                let request = self
                    .http
                    .get(self.url(&format!("api/generations/{id}/events")));
                if self.last_id > 0 {
                    request.header("last-event-id", self.last_id)
                } else {
                    request
                }
            }
        };
        let response = request
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|err| self.unreachable(&err))?;
        if response.status() == StatusCode::NO_CONTENT {
            return Err(FollowError::Ended {
                last_id: self.last_id,
            });
        }
        if !response.status().is_success() {
            return Err(Rejected::from_response(response).await.into());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("text/event-stream") {
            return Err(FollowError::Protocol(format!(
                "expected an event stream, got {content_type:?}; is {} a LivePage server?",
                self.server
            )));
        }
        Ok(Box::pin(response.bytes_stream().eventsource()))
    }

    /// `POST /api/generations/{id}/cancel`, which answers once the generation has stopped.
    pub async fn cancel(&self, generation: Uuid) -> Result<Cancel, FollowError> {
        let response = self
            .http
            .post(self.url(&format!("api/generations/{generation}/cancel")))
            .send()
            .await
            .map_err(|err| self.unreachable(&err))?;
        match response.status() {
            status if status.is_success() => Ok(Cancel::Cancelled),
            StatusCode::CONFLICT => Ok(Cancel::AlreadyFinished),
            _ => Err(Rejected::from_response(response).await.into()),
        }
    }

    fn url(&self, path: &str) -> Url {
        self.server
            .join(path)
            .expect("a relative path joins onto an http base URL")
    }

    fn unreachable(&self, err: &reqwest::Error) -> FollowError {
        FollowError::Unreachable {
            server: self.server.clone(),
            reason: error_chain(err),
        }
    }
}

/// The delay before reconnection attempt `attempt` (from 0): the server's hint doubled per
/// failed attempt, at least its `Retry-After`, at most [`MAX_RETRY`].
fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let doubled = base.saturating_mul(1 << attempt.min(16));
    doubled.max(retry_after.unwrap_or_default()).min(MAX_RETRY)
}

/// Somewhere between half of `delay` and all of it.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// An error and its causes, innermost last: reqwest's own message alone ("error sending
/// request") does not say what went wrong.
fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_servers_hint_up_to_a_cap() {
        let base = Duration::from_millis(500);
        assert_eq!(backoff(base, 0, None), base);
        assert_eq!(backoff(base, 1, None), Duration::from_secs(1));
        assert_eq!(backoff(base, 3, None), Duration::from_secs(4));
        assert_eq!(backoff(base, 10, None), MAX_RETRY);
        assert_eq!(backoff(base, u32::MAX, None), MAX_RETRY);
    }

    #[test]
    fn backoff_waits_at_least_the_retry_after() {
        let base = Duration::from_millis(100);
        let retry_after = Some(Duration::from_secs(3));
        assert_eq!(backoff(base, 0, retry_after), Duration::from_secs(3));
        assert_eq!(backoff(base, 0, Some(Duration::from_secs(3600))), MAX_RETRY);
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        let delay = Duration::from_secs(2);
        for _ in 0..100 {
            let wait = jittered(delay);
            assert!(wait >= delay / 2 && wait <= delay, "{wait:?}");
        }
    }

    #[test]
    fn only_timeouts_rate_limits_and_server_errors_are_worth_retrying() {
        let rejected = |status: u16| Rejected {
            status: StatusCode::from_u16(status).unwrap(),
            code: "x".into(),
            message: "m".into(),
            field: None,
            retry_after: None,
        };
        for status in [408, 429, 500, 502, 503] {
            assert!(rejected(status).is_transient(), "{status}");
        }
        for status in [400, 404, 409, 413, 422] {
            assert!(!rejected(status).is_transient(), "{status}");
        }
        assert_eq!(
            rejected(422).to_string(),
            "m (x)",
            "shown as <message> (<code>)"
        );
    }

    fn follower(last_id: u64) -> Follower {
        Follower::resume("http://127.0.0.1:1/".parse().unwrap(), Uuid::nil(), last_id).unwrap()
    }

    fn frame(id: u64, event: &str, data: &str) -> Frame {
        Frame {
            id: id.to_string(),
            event: event.into(),
            data: data.into(),
            retry: None,
        }
    }

    #[test]
    fn only_the_unavailable_notice_is_taken_for_a_dropped_stream() {
        let mut notice = frame(
            0,
            "error",
            r#"{"code":"stream_unavailable","message":"m","retryable":true}"#,
        );
        notice.id = String::new(); // the first event on its connection: no id yet
        assert!(is_unavailable_notice(&notice));
        let lost = frame(
            9,
            "error",
            r#"{"code":"instance_lost","message":"m","retryable":true}"#,
        );
        assert!(!is_unavailable_notice(&lost), "the generation's own end");
        assert!(!is_unavailable_notice(&frame(
            3,
            "delta",
            r#"{"text":"stream_unavailable"}"#
        )));
    }

    #[test]
    fn replayed_events_are_skipped_and_the_retry_hint_is_kept() {
        let mut follower = follower(4);
        let mut first = frame(4, "delta", r#"{"text":"old"}"#);
        first.retry = Some(Duration::from_millis(250));
        assert_eq!(follower.accept(first).unwrap(), None);
        assert_eq!(follower.retry, Duration::from_millis(250));
        let next = follower
            .accept(frame(5, "delta", r#"{"text":"new"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(next.id, 5);
        assert_eq!(follower.last_id(), 5);
        assert_eq!(
            follower
                .accept(frame(5, "delta", r#"{"text":"new"}"#))
                .unwrap(),
            None
        );
    }

    #[test]
    fn the_started_event_names_the_generation_to_resume() {
        let mut follower = Follower::generate(
            "http://127.0.0.1:1/".parse().unwrap(),
            GenerateBody::default(),
            None,
        )
        .unwrap();
        assert_eq!(follower.generation_id(), None);
        let id = Uuid::now_v7();
        follower
            .accept(frame(
                1,
                "started",
                &format!(r#"{{"generation_id":"{id}"}}"#),
            ))
            .unwrap();
        assert_eq!(follower.generation_id(), Some(id));
    }

    #[tokio::test]
    async fn after_the_terminal_event_there_is_nothing_more() {
        let mut follower = follower(0);
        follower
            .accept(frame(1, "error", r#"{"code":"internal","message":"m"}"#))
            .unwrap();
        assert_eq!(follower.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_reported_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let server: Url = format!("http://{address}/").parse().unwrap();
        let mut follower = Follower::resume(server, Uuid::nil(), 0).unwrap();
        let err = follower.next().await.unwrap_err();
        assert!(matches!(err, FollowError::Unreachable { .. }), "{err:?}");
        assert!(err.to_string().contains(&address.to_string()), "{err}");
    }
}
