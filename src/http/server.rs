//! Serving connections: LivePage's own accept loop on hyper's HTTP/1.1 connections, so that
//! every connection is counted in the descriptor budget and one that costs without serving is
//! closed (docs/ARCHITECTURE.md, "Descriptors and connections").
//!
//! `axum::serve` holds a connection for as long as the client likes: one that never finishes
//! its request head (slowloris) or sits idle between requests keeps its descriptor for ever.
//! hyper's own `header_read_timeout` cannot tell the two apart (its timer also runs while a
//! keep-alive connection waits for its next request), so each connection here has a watchdog
//! that knows which one it is:
//! - a request head must arrive whole within `header_read_timeout` of its first byte, or of
//!   the connection's opening for the first request;
//! - a connection with no request in flight and no byte of a new one is closed after
//!   `idle_timeout`;
//! - while a request is in flight — until its response body has been sent, which for an event
//!   stream is its end — neither applies: SSE streams have keep-alive comments of their own.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::descriptors::{ConnectionSlot, Descriptors};

/// How long to wait before accepting again after `accept` failed for want of descriptors (or
/// another resource): the connections wait in the listen backlog meanwhile.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long connections are given to stop.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request head's first byte (or the connection's opening) to its last.
    pub header_read: Duration,
    /// Between requests on a keep-alive connection.
    pub idle: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, asks every
/// connection to finish its request in flight and close, and waits for them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    descriptors: Arc<Descriptors>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = descriptors.accept_connection() else {
            // Closed at once: the descriptors left are the reserve of the accepted work.
            tracing::debug!(%peer, "closing a connection: at the descriptor reserve");
            continue;
        };
        // Without TCP_NODELAY a delta written while the previous one awaits its (delayed)
        // acknowledgement is held back by Nagle's algorithm, up to 40 ms on Linux.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        connections.spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            timeouts,
            closing.clone(),
            slot,
        ));
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}

/// A connection that failed before `accept` returned it concerns that client alone; anything
/// else (no descriptors left, no memory) concerns every client, and is waited out.
async fn accept_failed(err: &io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %err, "accept error");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    closing: CancellationToken,
    _slot: ConnectionSlot,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // Taken at once, before any await: from here the connection is serving.
        let busy = requests.begin();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router.clone().oneshot(request.map(Body::new));
        async move {
            let response = response.await?;
            Ok::<_, std::convert::Infallible>(
                response.map(|body| Body::new(Tracked { body, _busy: busy })),
            )
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // The watchdog reads heads against its own clock (see the module's documentation).
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let expired = activity.expired(timeouts);
    tokio::pin!(expired);
    let mut draining = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = closing.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            reason = &mut expired => {
                tracing::debug!(%peer, reason, "closing a connection");
                return;
            }
        }
    }
}

/// What a connection is doing, as its watchdog needs to know: written by the reads of its
/// socket and by its requests, all on the connection's own task.
#[derive(Debug)]
struct Activity {
    /// The connection's opening: the times below are milliseconds since then.
    opened: Instant,
    /// Requests whose response has not been sent yet.
    in_flight: AtomicU64,
    /// Whether a request has been served: until then the connection is held to the
    /// header-read timeout from its opening.
    served: AtomicBool,
    /// When the current request head began to arrive ([`NONE`] while none has).
    head_since: AtomicU64,
    /// When the last request in flight ended.
    idle_since: AtomicU64,
    /// Wakes the watchdog when any of the above changes.
    changed: Notify,
}

/// No time recorded.
const NONE: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicU64::new(0),
            served: AtomicBool::new(false),
            head_since: AtomicU64::new(NONE),
            idle_since: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.opened + Duration::from_millis(millis)
    }

    /// Bytes arrived: between requests, the first of them start a head.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == NONE
        {
            self.head_since.store(self.now(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// A request head arrived whole: the connection serves until the guard is dropped with
    /// the response body (or with the request, if the connection closes first).
    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        self.changed.notify_one();
        Busy(Arc::clone(self))
    }

    /// When the connection is to be closed, as things stand, and why; `None` while it serves.
    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let head_since = self.head_since.load(Ordering::Relaxed);
        if head_since != NONE {
            return Some((
                self.at(head_since) + timeouts.header_read,
                "request head not received in time",
            ));
        }
        if !self.served.load(Ordering::Relaxed) {
            return Some((
                self.opened + timeouts.header_read,
                "no request head received in time",
            ));
        }
        Some((
            self.at(self.idle_since.load(Ordering::Relaxed)) + timeouts.idle,
            "idle",
        ))
    }

    /// Resolves, with the reason, once the connection has been waiting for a head or idle for
    /// too long; never while a request is in flight.
    async fn expired(&self, timeouts: Timeouts) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(timeouts) {
                None => changed.await,
                Some((deadline, reason)) => {
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep_until(deadline) => {
                            if self.deadline(timeouts).is_some_and(|(at, _)| at <= Instant::now()) {
                                return reason;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A request in flight; dropping it marks the connection idle when it was the last one.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            activity.idle_since.store(activity.now(), Ordering::Relaxed);
            activity.served.store(true, Ordering::Relaxed);
            activity.changed.notify_one();
        }
    }
}

/// A response body that keeps its request in flight until hyper has sent it whole and drops
/// it (or the connection closes).
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, telling the connection's [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(2),
        idle: Duration::from_secs(5),
    };

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_gets_the_header_read_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(
            activity.expired(TIMEOUTS).await,
            "no request head received in time"
        );
        assert_eq!(started.elapsed(), TIMEOUTS.header_read);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_timed_out_and_idleness_starts_after_it() {
        let activity = Arc::new(Activity::new());
        activity.on_read();
        let busy = activity.begin();
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { activity.expired(TIMEOUTS).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!watchdog.is_finished(), "a long response is not idle");
        drop(busy);
        let ended = Instant::now();
        assert_eq!(watchdog.await.unwrap(), "idle");
        assert_eq!(ended.elapsed(), TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn between_requests_the_first_byte_starts_the_header_read_timeout() {
        let activity = Arc::new(Activity::new());
        drop(activity.begin());
        tokio::time::sleep(Duration::from_secs(1)).await;
        activity.on_read();
        let head = Instant::now();
        assert_eq!(
            activity.expired(TIMEOUTS).await,
            "request head not received in time"
        );
        assert_eq!(head.elapsed(), TIMEOUTS.header_read);
    }
}
