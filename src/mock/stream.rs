//! Turning a [`Script`] into the response body: a paced stream of SSE frames.
//!
//! A [`Plan`] is the state machine of one response — comments, role chunk, content deltas (with
//! the script's fault struck at its point), finish chunk, usage chunk, `[DONE]` — and decides
//! *what* comes next; [`body`] decides *when* (the pace) and renders each frame only at send
//! time, so a stamp is the real send time and a stream never holds more than one rendered frame.
//! Thousands of concurrent streams therefore cost little more than their scripts (shared
//! through an `Arc`) and, for the demo page, the page text itself.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::watch;

use super::deltas::Cutter;
use super::segment::Segment;
use super::wire::{self, Delta, Envelope, WireUsage};
use super::{Content, Fault, Script};

/// What one stream sends, step by step.
#[derive(Debug)]
pub(super) struct Plan {
    script: Arc<Script>,
    envelope: Envelope,
    source: Source,
    phase: Phase,
    /// Content deltas sent so far: when the fault strikes, and the usage's completion tokens.
    sent: usize,
    /// The script's fault until it has struck.
    fault: Option<Fault>,
    prompt_tokens: u64,
    /// The output limit stopped this response: it finishes with `length`.
    cut: bool,
}

/// Where the content deltas come from.
#[derive(Debug)]
enum Source {
    /// A text cut into deltas as it goes (the demo page, or a segment of the script's text),
    /// `at` bytes sent so far.
    Text {
        text: String,
        at: usize,
        cutter: Cutter,
    },
    /// The script's own list of deltas, `next` the index of the next one.
    List { next: usize },
    /// The script's raw transcript, `at` bytes sent so far.
    Raw { at: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// This many comment lines still to send.
    Comments(usize),
    Role,
    Content,
    Finish,
    Usage,
    Done,
    Raw,
    /// Sent everything it ever will, but leaves the response open.
    Stalled,
    End,
}

/// The next thing to send, rendered only once its time has come.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Fixed(&'static [u8]),
    Role,
    /// A delta of [`Source::Text`].
    TextDelta(Range<usize>),
    /// A delta of [`Source::List`].
    ListDelta(usize),
    Finish,
    Usage,
    Error {
        empty_choices: bool,
    },
    Raw(Range<usize>),
    Stall,
    Abort,
}

/// What the plan needs to know about the request besides the script.
#[derive(Debug)]
pub(super) struct Request {
    pub id: String,
    pub model: String,
    pub created: u64,
    pub prompt_tokens: u64,
    /// What this response writes when the script's text is written as text: the demo page,
    /// or a segment of a text that is cut or continued.
    pub segment: Option<Segment>,
}

impl Plan {
    pub fn new(script: Arc<Script>, request: Request) -> Self {
        let cut = request.segment.as_ref().is_some_and(|segment| segment.cut);
        let (source, phase) = match (&script.content, request.segment) {
            (Content::Raw(_), _) => (Source::Raw { at: 0 }, Phase::Raw),
            (Content::Deltas(_), None) => {
                (Source::List { next: 0 }, Phase::Comments(script.comments))
            }
            (_, segment) => {
                let text = segment.map(|segment| segment.text).unwrap_or_default();
                let cutter = Cutter::default();
                (
                    Source::Text {
                        text,
                        at: 0,
                        cutter,
                    },
                    Phase::Comments(script.comments),
                )
            }
        };
        Self {
            envelope: Envelope::new(&request.id, &request.model, request.created),
            fault: script.fault.clone(),
            script,
            source,
            phase,
            sent: 0,
            prompt_tokens: request.prompt_tokens,
            cut,
        }
    }

    /// Whether the frame just taken was the last (a stall never finishes).
    fn is_over(&self) -> bool {
        self.phase == Phase::End
    }

    /// Advances the state machine by one frame.
    fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let (next, frame) = match self.phase {
                Phase::Comments(0) => (Phase::Role, None),
                Phase::Comments(n) => (Phase::Comments(n - 1), Some(Frame::Fixed(wire::COMMENT))),
                Phase::Role => (Phase::Content, Some(Frame::Role)),
                Phase::Content => self.content_step(),
                Phase::Finish => (Phase::Usage, Some(Frame::Finish)),
                Phase::Usage => (Phase::Done, Some(Frame::Usage)),
                Phase::Done => (Phase::End, Some(Frame::Fixed(wire::DONE))),
                Phase::Raw => self.raw_step(),
                Phase::Stalled | Phase::End => return None,
            };
            self.phase = next;
            if frame.is_some() {
                return frame;
            }
        }
    }

    /// The next delta, or the fault when its time has come, or on to the finish chunk.
    fn content_step(&mut self) -> (Phase, Option<Frame>) {
        let delta = self.next_delta();
        let due = self
            .fault
            .as_ref()
            .is_some_and(|fault| self.sent >= fault.after() || delta.is_none());
        if due && let Some(fault) = self.fault.take() {
            // The delta we peeked at goes out after a malformed line; give it back otherwise.
            self.unread(delta);
            return match fault {
                Fault::MidStreamError { empty_choices, .. } => {
                    (Phase::Done, Some(Frame::Error { empty_choices }))
                }
                Fault::Stall { .. } => (Phase::Stalled, Some(Frame::Stall)),
                Fault::Malformed { .. } => (Phase::Content, Some(Frame::Fixed(wire::MALFORMED))),
                Fault::AbruptClose { .. } => (Phase::End, Some(Frame::Abort)),
            };
        }
        match delta {
            Some(frame) => {
                self.sent += 1;
                (Phase::Content, Some(frame))
            }
            None => (Phase::Finish, None),
        }
    }

    /// Takes the next content delta from the source.
    fn next_delta(&mut self) -> Option<Frame> {
        match &mut self.source {
            Source::Text { text, at, cutter } => {
                let len = cutter.next_len(&text[*at..]);
                let span = *at..*at + len;
                *at += len;
                (len > 0).then_some(Frame::TextDelta(span))
            }
            Source::List { next } => {
                let index = *next;
                (index < list_of(&self.script).len()).then(|| {
                    *next += 1;
                    Frame::ListDelta(index)
                })
            }
            Source::Raw { .. } => None,
        }
    }

    /// Puts back a delta taken by [`Plan::next_delta`] so that it is the next one again.
    fn unread(&mut self, delta: Option<Frame>) {
        match (&mut self.source, delta) {
            (Source::Text { at, .. }, Some(Frame::TextDelta(span))) => *at = span.start,
            (Source::List { next }, Some(Frame::ListDelta(index))) => *next = index,
            _ => {}
        }
    }

    /// The next event block of a raw transcript: through its blank line, or the rest.
    fn raw_step(&mut self) -> (Phase, Option<Frame>) {
        let Source::Raw { at } = &mut self.source else {
            return (Phase::End, None);
        };
        let rest = match &self.script.content {
            Content::Raw(transcript) => &transcript[*at..],
            _ => "",
        };
        if rest.is_empty() {
            return (Phase::End, None);
        }
        let len = raw_block_len(rest);
        let span = *at..*at + len;
        *at += len;
        let next = if len == rest.len() {
            Phase::End
        } else {
            Phase::Raw
        };
        (next, Some(Frame::Raw(span)))
    }

    /// A content delta as it goes out now: stamped when the script asks for it.
    fn delta<'a>(&self, text: &'a str) -> Delta<'a> {
        Delta {
            text,
            stamp: self.script.stamp.then(super::stamp::now),
        }
    }

    /// The bytes of `frame`, rendered now.
    fn render(&self, frame: &Frame) -> Bytes {
        match frame {
            Frame::Fixed(bytes) => Bytes::from_static(bytes),
            Frame::Role => self.envelope.content(Delta {
                text: "",
                stamp: None,
            }),
            Frame::TextDelta(span) => match &self.source {
                Source::Text { text, .. } => self.envelope.content(self.delta(&text[span.clone()])),
                _ => Bytes::new(),
            },
            Frame::ListDelta(index) => self
                .envelope
                .content(self.delta(&list_of(&self.script)[*index])),
            Frame::Finish if self.cut => self.envelope.finish("length", "max_tokens"),
            Frame::Finish => self.envelope.finish(
                &self.script.finish_reason,
                &self.script.native_finish_reason,
            ),
            Frame::Usage => self
                .envelope
                .usage(WireUsage::new(self.prompt_tokens, self.sent as u64)),
            Frame::Error { empty_choices } => self.envelope.error(*empty_choices),
            Frame::Raw(span) => match &self.script.content {
                Content::Raw(transcript) => {
                    Bytes::copy_from_slice(transcript[span.clone()].as_bytes())
                }
                _ => Bytes::new(),
            },
            // Not data: handled by `body` before rendering.
            Frame::Stall | Frame::Abort => Bytes::new(),
        }
    }
}

/// The deltas of a [`Content::Deltas`] script.
fn list_of(script: &Script) -> &[String] {
    match &script.content {
        Content::Deltas(list) => list,
        _ => &[],
    }
}

/// Length of the first SSE event block of `rest`: up to and including the first empty line
/// (`\n` or `\r\n`), or all of `rest` when no empty line follows.
fn raw_block_len(rest: &str) -> usize {
    let mut at = 0;
    let mut in_block = false;
    for line in rest.split_inclusive('\n') {
        at += line.len();
        let blank = line.trim_end_matches(['\r', '\n']).is_empty();
        if blank && in_block {
            return at;
        }
        in_block |= !blank;
    }
    rest.len()
}

/// Counts a stream as disconnected when its body is dropped before the last frame went out —
/// which happens only when the client went away (or the server shut down under it).
#[derive(Debug)]
pub(super) struct FinishGuard {
    /// The mock's disconnect counter; a `watch` so that tests can await a count.
    disconnects: watch::Sender<usize>,
    /// Set just before the last frame is handed to hyper.
    finished: bool,
}

impl FinishGuard {
    pub fn new(disconnects: watch::Sender<usize>) -> Self {
        Self {
            disconnects,
            finished: false,
        }
    }
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.disconnects.send_modify(|n| *n += 1);
        }
    }
}

/// The response body of `plan`: one frame at a time, `pace` before each.
///
/// An injected stall never completes; an abrupt close ends the body with an error, which makes
/// hyper abort the connection instead of terminating the chunked response.
pub(super) fn body(
    plan: Plan,
    pace: Duration,
    guard: FinishGuard,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold((plan, guard), move |(mut plan, mut guard)| async move {
        let frame = plan.next_frame()?;
        wait(pace).await;
        guard.finished = plan.is_over();
        let item = match frame {
            Frame::Stall => return std::future::pending().await,
            Frame::Abort => Err(io::Error::other("mock upstream: injected abrupt close")),
            frame => Ok(plan.render(&frame)),
        };
        Some((item, (plan, guard)))
    })
}

/// The pause before a frame. Zero pace still yields, so that a fast stream shares its worker
/// thread with the thousands of others a benchmark runs.
async fn wait(pace: Duration) {
    if pace.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(pace).await;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use serde_json::Value;
    use tokio::time::Instant;

    use super::*;
    use crate::mock::deltas_for;

    fn request(page: Option<&str>) -> Request {
        Request {
            id: "gen-1-x".into(),
            model: "m".into(),
            created: 1,
            prompt_tokens: 10,
            segment: page.map(|text| Segment {
                text: text.to_owned(),
                cut: false,
            }),
        }
    }

    fn deltas(list: &[&str]) -> Content {
        Content::Deltas(list.iter().map(|d| d.to_string()).collect())
    }

    /// Every frame the plan produces, as text, and how many disconnects the stream counted.
    async fn run(script: Script, page: Option<&str>) -> (Vec<String>, usize) {
        let (counter, _) = watch::channel(0);
        let pace = script.pace;
        let plan = Plan::new(Arc::new(script), request(page));
        let frames: Vec<String> = body(plan, pace, FinishGuard::new(counter.clone()))
            .map(|item| String::from_utf8(item.unwrap().to_vec()).unwrap())
            .collect()
            .await;
        (frames, *counter.borrow())
    }

    fn json(frame: &str) -> Value {
        serde_json::from_str(frame.strip_prefix("data: ").unwrap().trim_end()).unwrap()
    }

    fn content(frame: &str) -> String {
        json(frame)["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn a_script_runs_comments_role_deltas_finish_usage_done() {
        let script = Script {
            content: deltas(&["<h1>", "Hi", "</h1>"]),
            comments: 2,
            ..Script::default()
        };
        let (frames, disconnects) = run(script, None).await;
        assert_eq!(frames.len(), 2 + 1 + 3 + 3);
        assert_eq!(frames[..2], [": OPENROUTER PROCESSING\n\n"; 2]);
        assert_eq!(content(&frames[2]), "");
        let text: String = frames[3..6].iter().map(|f| content(f)).collect();
        assert_eq!(text, "<h1>Hi</h1>");
        assert_eq!(json(&frames[6])["choices"][0]["finish_reason"], "stop");
        assert_eq!(json(&frames[7])["usage"]["completion_tokens"], 3);
        assert_eq!(frames[8], "data: [DONE]\n\n");
        assert_eq!(disconnects, 0, "a finished stream is not a disconnect");
    }

    #[tokio::test]
    async fn the_demo_page_streams_as_deltas_for_it() {
        let page = "```html\n<p class=\"x\">Hello there, world</p>\n```";
        let (frames, _) = run(Script::default(), Some(page)).await;
        let streamed: Vec<String> = frames[2..frames.len() - 3]
            .iter()
            .map(|f| content(f))
            .collect();
        assert_eq!(streamed, deltas_for(page));
    }

    #[tokio::test]
    async fn faults_strike_after_the_given_number_of_deltas() {
        let script = |fault| Script {
            content: deltas(&["a", "b", "c"]),
            comments: 0,
            fault: Some(fault),
            ..Script::default()
        };
        let (frames, _) = run(
            script(Fault::MidStreamError {
                after: 1,
                empty_choices: false,
            }),
            None,
        )
        .await;
        assert_eq!(frames.len(), 4, "role, a, error, [DONE]");
        assert_eq!(json(&frames[2])["choices"][0]["finish_reason"], "error");
        assert_eq!(frames[3], "data: [DONE]\n\n");

        let (frames, _) = run(script(Fault::Malformed { after: 2 }), None).await;
        assert_eq!(frames[3], "data: {not json\n\n");
        assert_eq!(
            content(&frames[4]),
            "c",
            "the stream goes on after the bad line"
        );
        assert_eq!(frames.last().unwrap(), "data: [DONE]\n\n");

        // Past the end of the content, a fault strikes after the last delta.
        let (frames, _) = run(
            script(Fault::MidStreamError {
                after: 9,
                empty_choices: true,
            }),
            None,
        )
        .await;
        assert_eq!(frames.len(), 6);
        assert_eq!(json(&frames[4])["choices"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn an_abrupt_close_ends_the_body_with_an_error_and_no_done() {
        let (counter, _) = watch::channel(0);
        let script = Script {
            content: deltas(&["a", "b"]),
            fault: Some(Fault::AbruptClose { after: 1 }),
            ..Script::default()
        };
        let plan = Plan::new(Arc::new(script), request(None));
        let items: Vec<io::Result<Bytes>> =
            body(plan, Duration::ZERO, FinishGuard::new(counter.clone()))
                .collect()
                .await;
        assert_eq!(items.len(), 4, "comment, role, a, error");
        assert!(items[..3].iter().all(Result::is_ok));
        assert!(items[3].is_err());
        assert_eq!(
            *counter.borrow(),
            0,
            "the server ended it: not a client disconnect"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_never_ends_and_counts_as_a_disconnect_when_dropped() {
        let (counter, _) = watch::channel(0);
        let script = Script {
            content: deltas(&["a", "b"]),
            comments: 0,
            fault: Some(Fault::Stall { after: 1 }),
            ..Script::default()
        };
        let plan = Plan::new(Arc::new(script), request(None));
        let mut stream = Box::pin(body(
            plan,
            Duration::ZERO,
            FinishGuard::new(counter.clone()),
        ));
        assert!(stream.next().await.is_some(), "role");
        assert!(stream.next().await.is_some(), "a");
        let stalled = tokio::time::timeout(Duration::from_secs(3600), stream.next()).await;
        assert!(
            stalled.is_err(),
            "nothing after the stall, however long we wait"
        );
        drop(stream);
        assert_eq!(*counter.borrow(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn pace_comes_before_every_frame() {
        let pace = Duration::from_millis(250);
        let script = Script {
            content: deltas(&["a", "b"]),
            comments: 1,
            pace,
            ..Script::default()
        };
        let plan = Plan::new(Arc::new(script), request(None));
        let (counter, _) = watch::channel(0);
        let start = Instant::now();
        let arrivals: Vec<Duration> = body(plan, pace, FinishGuard::new(counter))
            .map(|_| start.elapsed())
            .collect()
            .await;
        // comment, role, a, b, finish, usage, [DONE]
        let expected: Vec<Duration> = (1..=7).map(|n| pace * n).collect();
        assert_eq!(arrivals, expected);
    }

    #[tokio::test]
    async fn raw_transcripts_are_sent_verbatim_block_by_block() {
        let transcript =
            include_str!("../../tests/fixtures/upstream/full-stream-with-reasoning.sse");
        let script = Script {
            content: Content::Raw(transcript.to_owned()),
            ..Script::default()
        };
        let (frames, _) = run(script, None).await;
        assert_eq!(frames.concat(), transcript);
        assert_eq!(frames.len(), transcript.matches("\n\n").count());
        assert!(frames.iter().all(|f| f.ends_with("\n\n")));
    }

    #[test]
    fn raw_blocks_end_at_blank_lines_of_either_line_ending() {
        assert_eq!(raw_block_len("data: a\n\ndata: b\n\n"), 9);
        assert_eq!(raw_block_len("data: a\r\n\r\ndata: b"), 11);
        assert_eq!(
            raw_block_len("\n\ndata: a\n\n"),
            11,
            "leading blank lines join the block"
        );
        assert_eq!(raw_block_len("data: tail"), 10);
    }

    #[tokio::test]
    async fn stamps_prefix_each_delta_with_its_send_time() {
        let before = super::super::stamp::now();
        let script = Script {
            content: deltas(&["a"]),
            stamp: true,
            ..Script::default()
        };
        let (frames, _) = run(script, None).await;
        let stamped = content(&frames[2]);
        let (micros, rest) = super::super::stamp::read(stamped.as_bytes()).unwrap();
        assert_eq!(rest, b"a");
        assert!(super::super::stamp::elapsed(before, micros) < 10_000_000);
        assert_eq!(content(&frames[1]), "", "the role chunk carries no stamp");
    }
}
