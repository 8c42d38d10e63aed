//! What the mock does for one request: the [`Script`], its [`Content`], an optional [`Fault`],
//! and where the model's output limit cuts the text and how it continues ([`Resume`]).
//!
//! Scripts are plain data so that a test can say, in one struct literal, exactly which wire shape
//! it wants the client to face; the stream module turns a script into frames.

use std::time::Duration;

/// What the mock streams for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A complete demo page shaped by the prompt, page type and theme found in the request,
    /// streamed as [`deltas_for`](super::deltas_for)`(&`[`demo_page`](crate::demo::demo_page)`(..))`.
    Demo,
    /// Exactly these content deltas, one chunk each (empty strings included).
    Deltas(Vec<String>),
    /// A raw SSE transcript, sent verbatim, one frame per event block (a block ends with its
    /// blank line). `comments`, `fault`, the finish reasons and `stamp` do not apply: the
    /// transcript carries its own.
    Raw(String),
}

/// A failure injected into a stream.
///
/// `after` counts content deltas; when the content has fewer deltas the fault strikes after the
/// last one, before the finish chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// After `after` content deltas, an error chunk (top-level `error`, `finish_reason: "error"`,
    /// or `"choices": []` when `empty_choices`), then `[DONE]`.
    MidStreamError { after: usize, empty_choices: bool },
    /// After `after` content deltas, send nothing more but keep the connection open.
    Stall { after: usize },
    /// After `after` content deltas, a `data:` line that is not JSON; the stream then goes on.
    Malformed { after: usize },
    /// After `after` content deltas, close the connection without `[DONE]` (the body ends with
    /// an error, so the chunked response is never terminated).
    AbruptClose { after: usize },
}

impl Fault {
    /// How many content deltas go out before the fault strikes.
    pub fn after(&self) -> usize {
        match *self {
            Self::MidStreamError { after, .. }
            | Self::Stall { after }
            | Self::Malformed { after }
            | Self::AbruptClose { after } => after,
        }
    }
}

/// The whole behaviour of the mock for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Answer with this status (and JSON error body) instead of streaming.
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with `status`.
    pub retry_after: Option<u64>,
    pub content: Content,
    /// Delay before each frame (comments included).
    pub pace: Duration,
    /// `: OPENROUTER PROCESSING` comment lines before the first chunk.
    pub comments: usize,
    pub fault: Option<Fault>,
    /// `finish_reason` of the final chunk ("stop", "length", …).
    pub finish_reason: String,
    /// `native_finish_reason` of the final chunk.
    pub native_finish_reason: String,
    /// Prefix each content delta's text with its send time (see [`stamp`](super::stamp)), so
    /// that a benchmark client can measure the latency a relay adds (its receive time minus the
    /// stamp).
    /// The stamp is part of the delta's `content`, so a relay passes it on untouched.
    pub stamp: bool,
    /// Where the model's output limit cuts the text of [`Content::Demo`] or
    /// [`Content::Deltas`]: byte offsets into it, in increasing order (a cut inside a character
    /// moves to the character's start: models write whole characters). A response stops at the
    /// first cut past where it starts and finishes with `length`. It starts at the beginning,
    /// or, for a continuation (a request whose messages end with an assistant message, the
    /// text written so far), where that text ends — which must be the start of the script's
    /// text, or the mock answers 400. Empty: no limit.
    pub cuts: Vec<usize>,
    /// What a continuation writes before the new text.
    pub resume: Resume,
}

/// How the "model" begins a continuation, the way real ones do when asked to carry on: in
/// this order, a preamble, a new code fence, and part of what it was given again. Each is
/// something LivePage must take out before the text reaches anyone (issue 17).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// Prose written first, verbatim: `"Sure, here is the rest:\n\n"`.
    pub preamble: Option<String>,
    /// Open a new fence, ```` ```html ````, and, when the text has no fence of its own, close it
    /// after the text's end.
    pub fence: bool,
    /// Characters before the resume point written again.
    pub overlap: usize,
}

impl Script {
    /// The delay between deltas used by [`Script::demo`]: about 60 deltas a second, the speed of
    /// a fast hosted model, so that a demo page visibly builds up over some twenty seconds.
    pub const DEMO_PACE: Duration = Duration::from_millis(16);

    /// The script for demo mode: the demo page at [`Script::DEMO_PACE`].
    pub fn demo() -> Self {
        Self {
            pace: Self::DEMO_PACE,
            ..Self::default()
        }
    }
}

impl Default for Script {
    fn default() -> Self {
        Self {
            status: None,
            retry_after: None,
            content: Content::Demo,
            pace: Duration::ZERO,
            comments: 1,
            fault: None,
            finish_reason: "stop".into(),
            native_finish_reason: "stop".into(),
            stamp: false,
            cuts: Vec::new(),
            resume: Resume::default(),
        }
    }
}
