//! Generation events as Server-Sent Events (WHATWG HTML §9.2): one thin mapping from a log
//! [`Entry`] to one frame, and the response that carries them.
//!
//! Every frame has `id:` (the event's seq, for `Last-Event-ID`), `event:` (its name) and one line
//! of JSON `data:`. The first frame of each response also carries a `retry:` hint. While the
//! stream is idle, a comment line keeps proxies from timing it out.

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::generation::{Entry, Event};
use crate::metrics::{Gauge, GaugeGuard};

/// The comment sent while a stream is idle.
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

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

/// Maps one log entry to its SSE frame, with a `retry:` hint when given one. An entry numbered
/// 0 is a notice about this stream rather than one of the generation's events (see
/// `generation::follow`): it goes without an `id:`, which leaves the client's last event id
/// where it was.
///
/// Written straight into one buffer: this runs for every delta of every subscriber, and a
/// general SSE builder (checking each field for newlines, formatting the id through `fmt`)
/// costs more than the delta itself. The JSON has no raw newline (serde_json escapes them), so
/// it is always one `data:` line.
pub fn frame(entry: &Entry, retry: Option<Duration>) -> Bytes {
    let name = entry.event.name();
    let mut buf = Vec::with_capacity(48 + name.len() + data_size_hint(&entry.event));
    if entry.seq != 0 {
        buf.extend_from_slice(b"id: ");
        buf.extend_from_slice(itoa::Buffer::new().format(entry.seq).as_bytes());
        buf.push(b'\n');
    }
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    let data_start = buf.len();
    if let Err(err) = serde_json::to_writer(&mut buf, &entry.event) {
        // Our event types always serialize; if one ever does not, say so in-band rather
        // than silently dropping it.
        tracing::error!(error = %err, seq = entry.seq, "serializing an event failed");
        buf.truncate(data_start - b"event: ".len() - name.len() - b"\ndata: ".len());
        buf.extend_from_slice(
            br#"event: error
data: {"code":"internal","message":"internal error","retryable":true}"#,
        );
    }
    buf.push(b'\n');
    if let Some(retry) = retry {
        let _ = writeln!(buf, "retry: {}", retry.as_millis());
    }
    buf.push(b'\n');
    Bytes::from(buf)
}

/// Room for the JSON of an event: deltas are small and many, so they get a close fit.
fn data_size_hint(event: &Event) -> usize {
    match event {
        Event::Delta(delta) => 16 + delta.text.len() + delta.text.len() / 8,
        Event::Preview(preview) => 16 + preview.html.len() + preview.html.len() / 8,
        _ => 160,
    }
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
    let mut retry = Some(retry);
    let frames = entries
        .filter(move |entry| {
            let keep = previews || !matches!(entry.event, Event::Preview(_));
            std::future::ready(keep)
        })
        .map(move |entry| {
            let _open = &open;
            frame(&entry, retry.take())
        });
    let body =
        Body::from_stream(KeepAlive::new(Box::pin(frames), keepalive).map(Ok::<_, Infallible>));
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
        body,
    )
        .into_response()
}

/// Frames, with a keep-alive comment whenever none has gone out for `interval`.
///
/// The timer is moved only when it fires, to the last frame's time plus `interval`: resetting
/// it on every frame would touch the runtime's timer wheel for every delta.
struct KeepAlive<S> {
    frames: S,
    interval: Duration,
    timer: Pin<Box<Sleep>>,
    /// When the last frame (or comment) went out.
    last_sent: Instant,
}

impl<S> KeepAlive<S> {
    fn new(frames: S, interval: Duration) -> Self {
        Self {
            frames,
            interval,
            timer: Box::pin(tokio::time::sleep(interval)),
            last_sent: Instant::now(),
        }
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for KeepAlive<S> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = this.frames.poll_next_unpin(cx) {
            this.last_sent = Instant::now();
            return Poll::Ready(frame);
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = this.last_sent + this.interval;
            let now = Instant::now();
            if now >= due {
                this.last_sent = now;
                this.timer.as_mut().reset(now + this.interval);
                return Poll::Ready(Some(Bytes::from_static(KEEPALIVE)));
            }
            this.timer.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::event::Delta;

    #[test]
    fn a_frame_has_id_event_and_one_line_of_json() {
        let entry = Entry {
            seq: 120,
            event: Event::Delta(Delta {
                text: "<p>\"hi\"\n</p>".into(),
            }),
        };
        let frame = frame(&entry, None);
        assert_eq!(
            std::str::from_utf8(&frame).unwrap(),
            "id: 120\nevent: delta\ndata: {\"text\":\"<p>\\\"hi\\\"\\n</p>\"}\n\n"
        );
        let first = frame_text(&entry, Some(Duration::from_secs(2)));
        assert!(first.ends_with("\nretry: 2000\n\n"), "{first}");
    }

    #[test]
    fn a_notice_about_the_stream_has_no_id() {
        let entry = Entry {
            seq: 0,
            event: Event::Delta(Delta { text: "x".into() }),
        };
        assert_eq!(
            frame_text(&entry, None),
            "event: delta\ndata: {\"text\":\"x\"}\n\n"
        );
    }

    fn frame_text(entry: &Entry, retry: Option<Duration>) -> String {
        String::from_utf8(frame(entry, retry).to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn keepalives_go_out_only_after_a_quiet_interval() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let frames = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let mut stream = KeepAlive::new(frames, Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(6)).await;
        tx.send(Bytes::from_static(b"a")).unwrap();
        assert_eq!(stream.next().await.unwrap(), "a");
        let start = Instant::now();
        assert_eq!(stream.next().await.unwrap(), KEEPALIVE);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "ten seconds after the frame"
        );
        drop(tx);
        assert!(
            stream.next().await.is_none(),
            "the stream ends with its frames"
        );
    }
}
