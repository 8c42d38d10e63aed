//! The benchmark's client: starts a generation and reads its event stream to the end, as
//! cheaply as it can, so that the server (not the client) is what the figures measure. It also
//! reads the upstream's own stream, as relayed by nginx for the yardstick, and a generation's
//! stream from another instance (`GET /api/generations/{id}/events`) for the cross-instance
//! benchmark.
//!
//! It does not parse the SSE stream into events: it splits the body into lines and looks only
//! at the `event:` names and at the stamp (`livepage::mock::stamp`) the mock put in front of
//! each delta's text, which the server relays unmodified. A delta's added latency is the time
//! its bytes arrive minus its stamp.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use livepage::mock::stamp;
use uuid::Uuid;

use crate::sampling::new_histogram;

/// Counters shared by all streams of a run, read by the sampler while the run goes on.
#[derive(Debug, Default)]
pub struct Counters {
    /// Delta events received, all streams together.
    pub deltas: AtomicU64,
    /// Streams that have received their first delta and not yet their last event.
    pub open: AtomicUsize,
}

/// What the stream speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// LivePage's events: `event: delta` and its `data:`, then `completed` or `error`.
    #[default]
    LivePage,
    /// The upstream's chunks (through a plain relay): every `data:` with a stamp is a delta,
    /// `data: [DONE]` the end.
    Upstream,
}

/// How one stream went.
#[derive(Debug, Default)]
pub struct Outcome {
    protocol: Protocol,
    pub deltas: u64,
    /// From sending the request to the first delta.
    pub first_delta: Option<Duration>,
    /// The added latency of every stamped delta, in microseconds.
    pub latencies_us: Vec<u64>,
    /// When each of them arrived, on the stamp clock.
    pub received_us: Vec<u64>,
    /// The stamp clock when the response arrived: deltas stamped before it were sent before
    /// this client could have had them (it joined a running generation).
    joined_us: Option<u64>,
    /// How many of the first deltas were stamped before the response arrived: the backlog
    /// the stream caught up with before it was live.
    pub backlog: usize,
    /// Why the stream did not end with `completed`.
    pub error: Option<String>,
    /// The `completed` event's data.
    pub completed: Option<String>,
    /// The generation's id, from its `started` event.
    pub generation_id: Option<Uuid>,
    /// The kind of the event whose `data:` line comes next.
    event: Option<Kind>,
}

/// The request body of every generation.
pub fn generate_body(n: usize) -> String {
    format!(
        r#"{{"email":"bench{}@example.com","prompt":"A landing page for a neighbourhood bakery, number {n}","page_type":"landing","theme":"modern"}}"#,
        n % 100
    )
}

/// A streaming chat completion request, for the upstream through a plain relay.
pub fn chat_body(n: usize) -> String {
    format!(
        r#"{{"model":"bench/model","stream":true,"messages":[{{"role":"user","content":"A landing page for a bakery, number {n}"}}]}}"#
    )
}

/// Sends `body` to `url` (`…/api/generate`, or the upstream's `…/chat/completions`) and follows
/// the stream to the end.
pub async fn follow(
    client: &reqwest::Client,
    url: &str,
    body: String,
    counters: &Counters,
    expected_deltas: usize,
    protocol: Protocol,
) -> Outcome {
    let sent = Instant::now();
    match post(client, url, body).await {
        Ok(response) => read(response, sent, counters, expected_deltas, protocol).await,
        Err(error) => Outcome::failed(protocol, error),
    }
}

/// Starts a generation with `POST /api/generate` at `url` and reads its stream only up to the
/// `started` event: the generation's id. The rest of the stream is left unread (the
/// connection is closed; the generation carries on).
pub async fn start(client: &reqwest::Client, url: &str, body: String) -> Result<Uuid, String> {
    let response = post(client, url, body).await?;
    let mut outcome = Outcome::default();
    let mut reader = Reader::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| format!("body: {err}"))?;
        reader.feed(&chunk, |line| outcome.line(line, stamp::now()));
        if let Some(id) = outcome.generation_id {
            return Ok(id);
        }
        if let Some(error) = outcome.error {
            return Err(error);
        }
    }
    Err("the stream ended before `started`".into())
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<reqwest::Response, String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => Ok(response),
        Ok(response) if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            match body["error"]["code"].as_str() {
                Some("overloaded") => Err(format!("{REFUSED}: {body}")),
                _ => Err(format!("HTTP 503: {body}")),
            }
        }
        Ok(response) => Err(format!("HTTP {}", response.status())),
        Err(err) => Err(format!("request: {err}")),
    }
}

/// How the error of a stream the server refused up front (`503 overloaded`: past its
/// descriptor or memory limit) begins; such streams are counted apart from errors.
pub const REFUSED: &str = "refused: 503 overloaded";

/// Reads a stream that answered at `sent` to its terminal event, counting its deltas in
/// `counters` as they come.
pub async fn read(
    response: reqwest::Response,
    sent: Instant,
    counters: &Counters,
    expected_deltas: usize,
    protocol: Protocol,
) -> Outcome {
    let mut outcome = Outcome {
        protocol,
        latencies_us: Vec::with_capacity(expected_deltas),
        received_us: Vec::with_capacity(expected_deltas),
        joined_us: Some(stamp::now()),
        ..Outcome::default()
    };
    let mut reader = Reader::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                outcome.error = Some(format!("body: {err}"));
                break;
            }
        };
        let received_us = stamp::now();
        let before = outcome.deltas;
        reader.feed(&chunk, |line| outcome.line(line, received_us));
        let new = outcome.deltas - before;
        if new > 0 {
            if before == 0 {
                outcome.first_delta = Some(sent.elapsed());
                counters.open.fetch_add(1, Ordering::Relaxed);
            }
            counters.deltas.fetch_add(new, Ordering::Relaxed);
        }
        if outcome.is_over() {
            break;
        }
    }
    if outcome.deltas > 0 {
        counters.open.fetch_sub(1, Ordering::Relaxed);
    }
    if !outcome.is_over() && outcome.error.is_none() {
        outcome.error = Some("the stream ended without a terminal event".into());
    }
    outcome
}

impl Outcome {
    /// A stream that failed before it began.
    pub fn failed(protocol: Protocol, error: String) -> Self {
        Self {
            protocol,
            error: Some(error),
            ..Self::default()
        }
    }

    fn record(&mut self, sent_us: u64, received_us: u64) {
        self.latencies_us.push(stamp::elapsed(sent_us, received_us));
        self.received_us.push(received_us);
    }

    fn is_over(&self) -> bool {
        self.completed.is_some() || self.error.is_some()
    }

    /// Takes in one line of the stream.
    fn line(&mut self, line: &[u8], received_us: u64) {
        match self.protocol {
            Protocol::LivePage => self.event_line(line, received_us),
            Protocol::Upstream => self.chunk_line(line, received_us),
        }
    }

    fn chunk_line(&mut self, line: &[u8], received_us: u64) {
        let Some(data) = line.strip_prefix(b"data: ") else {
            return;
        };
        if data == b"[DONE]" {
            self.completed = Some("[DONE]".into());
        } else if let Some(sent) = stamp_in(data) {
            self.deltas += 1;
            self.record(sent, received_us);
        }
    }

    /// A line of LivePage's stream: the event name line comes before its data line.
    fn event_line(&mut self, line: &[u8], received_us: u64) {
        if let Some(name) = line.strip_prefix(b"event: ") {
            self.event = match name {
                b"delta" => Some(Kind::Delta),
                b"started" => Some(Kind::Started),
                b"completed" => Some(Kind::Completed),
                b"error" => Some(Kind::Error),
                _ => None,
            };
            return;
        }
        let Some(data) = line.strip_prefix(b"data: ") else {
            return;
        };
        match self.event.take() {
            Some(Kind::Delta) => {
                self.deltas += 1;
                if let Some(sent) = stamp_in(data) {
                    let before_joining = self
                        .joined_us
                        .is_some_and(|joined| stamp::elapsed(sent, joined) > 0);
                    if before_joining {
                        self.backlog += 1;
                    }
                    self.record(sent, received_us);
                }
            }
            Some(Kind::Started) => {
                self.generation_id = serde_json::from_slice::<Started>(data)
                    .ok()
                    .map(|started| started.generation_id);
            }
            Some(Kind::Completed) => {
                self.completed = Some(String::from_utf8_lossy(data).into_owned());
            }
            Some(Kind::Error) => self.error = Some(String::from_utf8_lossy(data).into_owned()),
            None => {}
        }
    }
}

/// The events the client looks at.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Delta,
    Started,
    Completed,
    Error,
}

/// The part of the `started` event's data the client keeps (once per stream).
#[derive(serde::Deserialize)]
struct Started {
    generation_id: Uuid,
}

/// The outcomes of a run's streams, summed up.
#[derive(Debug)]
pub struct Tally {
    /// Streams that ended with `completed`.
    pub completed: usize,
    pub errors: usize,
    /// Streams refused up front with `503 overloaded` (not errors: admission at work).
    pub refused: usize,
    pub first_error: Option<String>,
    pub deltas: u64,
    /// Added latency per delta, microseconds.
    pub latency: Histogram<u64>,
    /// The same, of the deltas received in the steady window (when one is given).
    pub steady_latency: Histogram<u64>,
    /// Deltas stamped before their stream's response arrived.
    pub backlog: u64,
    /// Time to the first delta, microseconds.
    pub first_delta: Histogram<u64>,
}

impl Tally {
    /// Sums up `outcomes`; `steady` is the steady window, from and to on the stamp clock.
    pub fn of<'a>(
        outcomes: impl IntoIterator<Item = &'a Outcome>,
        steady: Option<(u64, u64)>,
    ) -> Self {
        let mut tally = Self {
            completed: 0,
            errors: 0,
            refused: 0,
            first_error: None,
            deltas: 0,
            latency: new_histogram(),
            steady_latency: new_histogram(),
            backlog: 0,
            first_delta: new_histogram(),
        };
        for outcome in outcomes {
            tally.deltas += outcome.deltas;
            for (&us, &received) in outcome.latencies_us.iter().zip(&outcome.received_us) {
                tally.latency.saturating_record(us);
                if steady.is_some_and(|(from, to)| within(received, from, to)) {
                    tally.steady_latency.saturating_record(us);
                }
            }
            tally.backlog += outcome.backlog as u64;
            if let Some(first) = outcome.first_delta {
                let us = u64::try_from(first.as_micros()).unwrap_or(u64::MAX);
                tally.first_delta.saturating_record(us);
            }
            match &outcome.error {
                None => tally.completed += 1,
                Some(error) if error.starts_with(REFUSED) => tally.refused += 1,
                Some(error) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert_with(|| error.clone());
                }
            }
        }
        tally
    }
}

/// Whether stamp clock time `t` is in `from..=to` (the clock wraps).
fn within(t: u64, from: u64, to: u64) -> bool {
    stamp::elapsed(t, from) == 0 && stamp::elapsed(from, t) <= stamp::elapsed(from, to)
}

/// The send time of the first stamp in a `data:` line (the JSON around it is not parsed:
/// serde_json writes `<` and `-` as they are).
fn stamp_in(data: &[u8]) -> Option<u64> {
    memchr::memmem::find_iter(data, b"<!--")
        .find_map(|at| stamp::read(&data[at..]).map(|(sent, _)| sent))
}

/// Splits a byte stream into lines, carrying a partial line over to the next chunk.
#[derive(Debug, Default)]
struct Reader {
    partial: Vec<u8>,
}

impl Reader {
    fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(&[u8])) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(end);
            if self.partial.is_empty() {
                on_line(line);
            } else {
                self.partial.extend_from_slice(line);
                on_line(&self.partial);
                self.partial.clear();
            }
            rest = &tail[1..];
        }
        self.partial.extend_from_slice(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_are_joined() {
        let mut reader = Reader::default();
        let mut lines = Vec::new();
        for chunk in [
            "event: del",
            "ta\ndata: {\"text\":\"<!--0000001",
            "23-->x\"}\n\n",
        ] {
            reader.feed(chunk.as_bytes(), |line| lines.push(line.to_vec()));
        }
        let lines: Vec<String> = lines
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            ["event: delta", "data: {\"text\":\"<!--000000123-->x\"}", ""]
        );
    }

    #[test]
    fn stamps_and_terminal_events_are_recognised() {
        let mut outcome = Outcome::default();
        outcome.line(b"event: delta", 1_250);
        outcome.line(br#"data: {"text":"<!--0000003e8-->abc"}"#, 1_250);
        outcome.line(b"event: progress", 1_300);
        outcome.line(br#"data: {"stage":"generating","tokens":1}"#, 1_300);
        assert_eq!(
            (outcome.deltas, outcome.latencies_us.clone()),
            (1, vec![250])
        );
        assert!(!outcome.is_over());
        // Stamps also end up in the title, which is text: only deltas are counted.
        outcome.line(b"event: completed", 2_000);
        outcome.line(
            br#"data: {"page_id":"x","title":"<!--000000001-->Hi"}"#,
            2_000,
        );
        assert_eq!(outcome.deltas, 1);
        assert!(outcome.completed.is_some() && outcome.is_over());
    }

    #[test]
    fn deltas_stamped_before_the_response_are_the_backlog() {
        let mut outcome = Outcome {
            joined_us: Some(0x500),
            ..Outcome::default()
        };
        for stamp in [
            "<!--000000100-->",
            "<!--000000400-->",
            "<!--000000500-->",
            "<!--000000600-->",
        ] {
            outcome.line(b"event: delta", 0x700);
            outcome.line(format!(r#"data: {{"text":"{stamp}x"}}"#).as_bytes(), 0x700);
        }
        assert_eq!((outcome.deltas, outcome.backlog), (4, 2));
        assert_eq!(Tally::of([&outcome], None).backlog, 2);
    }

    #[test]
    fn the_steady_latency_counts_the_deltas_received_in_the_window() {
        let mut outcome = Outcome::default();
        for (sent, received) in [
            (0x100, 0x180),
            (0x200, 0x300),
            (0x300, 0x3a0),
            (0x400, 0x500),
        ] {
            outcome.line(b"event: delta", received);
            let data = format!(r#"data: {{"text":"<!--{sent:09x}-->x"}}"#);
            outcome.line(data.as_bytes(), received);
        }
        let tally = Tally::of([&outcome], Some((0x300, 0x3a0)));
        assert_eq!((tally.latency.len(), tally.steady_latency.len()), (4, 2));
        assert_eq!(tally.steady_latency.max(), 0x100);
    }

    #[test]
    fn the_generation_id_is_read_from_started() {
        let mut outcome = Outcome::default();
        outcome.line(b"id: 1", 0);
        outcome.line(b"event: started", 0);
        outcome.line(
            br#"data: {"generation_id":"0193a4e2-7c1d-7f00-8000-0000000000aa","model":"m","events_url":"http://x/api/generations/0193a4e2-7c1d-7f00-8000-0000000000aa/events"}"#,
            0,
        );
        assert_eq!(
            outcome.generation_id.map(|id| id.to_string()).as_deref(),
            Some("0193a4e2-7c1d-7f00-8000-0000000000aa")
        );
        assert_eq!(outcome.deltas, 0);
    }
}
