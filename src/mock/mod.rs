//! A mock OpenAI-compatible streaming endpoint (`POST /chat/completions`).
//!
//! STUB: the real implementation is being written; the interface below is fixed.

use std::time::Duration;

use axum::Router;

/// What the mock streams for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A complete demo page shaped by the prompt, page type and theme found in the request.
    Demo,
    /// Exactly these content deltas, one chunk each.
    Deltas(Vec<String>),
    /// A raw SSE transcript, sent verbatim (pace applies per event block).
    Raw(String),
}

/// A failure injected into a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// After `after` content deltas, an error chunk (top-level `error`, `finish_reason: "error"`).
    MidStreamError { after: usize, empty_choices: bool },
    /// After `after` content deltas, send nothing more but keep the connection open.
    Stall { after: usize },
    /// After `after` content deltas, a `data:` line that is not JSON.
    Malformed { after: usize },
    /// After `after` content deltas, close the connection without `[DONE]`.
    AbruptClose { after: usize },
}

/// The whole behaviour of the mock for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Answer with this status (and JSON error body) instead of streaming.
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with `status`.
    pub retry_after: Option<u64>,
    pub content: Content,
    /// Delay before each chunk.
    pub pace: Duration,
    /// `: OPENROUTER PROCESSING` comment lines before the first chunk.
    pub comments: usize,
    pub fault: Option<Fault>,
    /// `finish_reason` of the final chunk ("stop", "length", …).
    pub finish_reason: String,
    /// `native_finish_reason` of the final chunk.
    pub native_finish_reason: String,
    /// Prefix each content delta's chunk with the send time (`"stamp"`: unix micros) for benchmarks.
    pub stamp: bool,
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
        }
    }
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub body: serde_json::Value,
    pub authorization: Option<String>,
    pub referer: Option<String>,
    pub title: Option<String>,
}

/// The mock endpoint; clones share state.
#[derive(Debug, Clone, Default)]
pub struct MockUpstream {}

impl MockUpstream {
    pub fn new(default: Script) -> Self {
        let _ = default;
        Self {}
    }

    pub fn push(&self, script: Script) {
        let _ = script;
    }

    pub fn router(&self) -> Router {
        Router::new()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        Vec::new()
    }

    pub fn disconnects(&self) -> usize {
        0
    }
}

/// The demo page the mock writes for a prompt.
pub fn demo_page(prompt: &str, page_type: crate::domain::PageType, theme: crate::domain::Theme) -> String {
    let _ = (prompt, page_type, theme);
    String::new()
}
