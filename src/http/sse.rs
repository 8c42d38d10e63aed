//! Generation events as Server-Sent Events (WHATWG HTML §9.2): one thin mapping from a log
//! [`Entry`] to one frame, and the response that carries them.
//!
//! Every frame has `id:` (the event's seq, for `Last-Event-ID`), `event:` (its name) and one line
//! of JSON `data:`. The first frame of each response also carries a `retry:` hint. While the
//! stream is idle, a comment line keeps proxies from timing it out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::sse::{Event as Frame, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};

use crate::generation::{Entry, Event};
use crate::metrics::{Gauge, GaugeGuard};

/// How a stream should be framed.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Include `preview` events.
    pub previews: bool,
    pub keepalive: Duration,
    pub retry: Duration,
    /// Open SSE responses: each response holds it one higher while it exists.
    pub subscribers: Gauge,
}

/// Maps one log entry to its SSE frame.
pub fn frame(entry: &Entry) -> Frame {
    Frame::default()
        .id(entry.seq.to_string())
        .event(entry.event.name())
        .json_data(&entry.event)
        .unwrap_or_else(|err| {
            // Our event types always serialize; if one ever does not, say so in-band rather
            // than silently dropping it.
            tracing::error!(error = %err, seq = entry.seq, "serializing an event failed");
            Frame::default()
                .id(entry.seq.to_string())
                .event("error")
                .data(r#"{"code":"internal","message":"internal error","retryable":true}"#)
        })
}

/// An SSE response over a subscription to a generation's log.
pub fn response(
    entries: impl Stream<Item = Arc<Entry>> + Send + 'static,
    options: StreamOptions,
) -> Response {
    let StreamOptions {
        previews,
        keepalive,
        retry,
        subscribers,
    } = options;
    // Owned by the stream below, so it is dropped (and uncounted) with the response body.
    let open = GaugeGuard::new(&subscribers);
    let mut first = true;
    let frames = entries
        .filter(move |entry| {
            let keep = previews || !matches!(entry.event, Event::Preview(_));
            std::future::ready(keep)
        })
        .map(move |entry| {
            let _open = &open;
            let mut frame = frame(&entry);
            if std::mem::take(&mut first) {
                frame = frame.retry(retry);
            }
            Ok::<_, Infallible>(frame)
        });
    let sse = Sse::new(frames).keep_alive(KeepAlive::new().interval(keepalive).text("keep-alive"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        sse,
    )
        .into_response()
}
