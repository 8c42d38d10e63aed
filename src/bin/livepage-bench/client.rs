//! The benchmark's client: starts a generation and reads its event stream to the end, as
//! cheaply as it can, so that the server (not the client) is what the figures measure. It also
//! reads the upstream's own stream, as relayed by nginx for the yardstick.
//!
//! It does not parse the SSE stream into events: it splits the body into lines and looks only
//! at the `event:` names and at the stamp (`livepage::mock::stamp`) the mock put in front of
//! each delta's text, which the server relays unmodified. A delta's added latency is the time
//! its bytes arrive minus its stamp.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use livepage::mock::stamp;

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
    /// Why the stream did not end with `completed`.
    pub error: Option<String>,
    /// The `completed` event's data.
    pub completed: Option<String>,
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
    let mut outcome = Outcome {
        protocol,
        latencies_us: Vec::with_capacity(expected_deltas),
        ..Outcome::default()
    };
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let response = match response {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            outcome.error = Some(format!("HTTP {}", response.status()));
            return outcome;
        }
        Err(err) => {
            outcome.error = Some(format!("request: {err}"));
            return outcome;
        }
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
            self.latencies_us.push(stamp::elapsed(sent, received_us));
        }
    }

    /// A line of LivePage's stream: the event name line comes before its data line.
    fn event_line(&mut self, line: &[u8], received_us: u64) {
        if let Some(name) = line.strip_prefix(b"event: ") {
            self.event = match name {
                b"delta" => Some(Kind::Delta),
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
                    self.latencies_us.push(stamp::elapsed(sent, received_us));
                }
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
    Completed,
    Error,
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
}
