//! The OpenRouter wire format, byte for byte: SSE frames of `chat.completion.chunk` JSON.
//!
//! Every frame of one stream shares the same envelope (`id`, `provider`, `model`, `object`,
//! `created`), so it is serialized once per stream and each chunk only serializes what differs —
//! its content, finish reasons or usage. Field order follows the real transcripts in
//! `tests/fixtures/upstream/`, so a client tested against the mock sees what it will see live.

use bytes::Bytes;
use serde::{Serialize, Serializer};

/// The keep-alive comment OpenRouter sends while the provider warms up.
pub(super) const COMMENT: &[u8] = b": OPENROUTER PROCESSING\n\n";
/// The end of every complete stream.
pub(super) const DONE: &[u8] = b"data: [DONE]\n\n";
/// What [`Fault::Malformed`](super::Fault::Malformed) sends: a `data:` line that is not JSON.
pub(super) const MALFORMED: &[u8] = b"data: {not json\n\n";

/// Room for the fixed parts of a chunk after the envelope (`choices`, finish reasons, framing).
const CHUNK_OVERHEAD: usize = 160;

/// A delta's text as it goes on the wire, optionally prefixed with its send time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Delta<'a> {
    pub text: &'a str,
    /// The send time, written before the text (see [`stamp`](super::stamp)).
    pub stamp: Option<u64>,
}

impl Serialize for Delta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.stamp {
            // `collect_str` escapes straight into the output: no intermediate String.
            Some(micros) => serializer.collect_str(&Stamped(micros, self.text)),
            None => serializer.serialize_str(self.text),
        }
    }
}

/// A text with its stamp in front, for `collect_str`.
struct Stamped<'a>(u64, &'a str);

impl std::fmt::Display for Stamped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::stamp::write(f, self.0)?;
        f.write_str(self.1)
    }
}

/// Tokens and cost reported in the usage chunk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct WireUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cost: f64,
}

impl WireUsage {
    /// A deterministic, plausible bill: $0.30 per million prompt tokens and $1.50 per million
    /// completion tokens. Dividing an integer count of ten-millionths keeps the printed number
    /// short (`0.0000225`, not `2.2499999999999998e-5`).
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        let ten_millionths = prompt_tokens * 3 + completion_tokens * 15;
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            cost: ten_millionths as f64 / 10_000_000.0,
        }
    }
}

/// The serialized fields every chunk of one stream starts with.
#[derive(Debug, Clone)]
pub(super) struct Envelope {
    /// `data: {"id":…,"provider":"Mock","model":…,"object":"chat.completion.chunk","created":…,`
    head: Vec<u8>,
}

impl Envelope {
    pub fn new(id: &str, model: &str, created: u64) -> Self {
        let mut head = Vec::with_capacity(96 + id.len() + model.len());
        head.extend_from_slice(b"data: {\"id\":");
        push_json(&mut head, id);
        head.extend_from_slice(b",\"provider\":\"Mock\",\"model\":");
        push_json(&mut head, model);
        head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        push_json(&mut head, &created);
        head.push(b',');
        Self { head }
    }

    /// A content chunk: `delta` with the role, no finish reason yet.
    pub fn content(&self, delta: Delta<'_>) -> Bytes {
        let mut buf = self.open(delta.text.len() + if delta.stamp.is_some() { 32 } else { 0 });
        push_choices(&mut buf, delta, None);
        close(buf)
    }

    /// The chunk that ends the content: empty content and the finish reasons.
    pub fn finish(&self, finish_reason: &str, native_finish_reason: &str) -> Bytes {
        let mut buf = self.open(finish_reason.len() + native_finish_reason.len());
        push_choices(&mut buf, EMPTY, Some((finish_reason, native_finish_reason)));
        close(buf)
    }

    /// The separate usage chunk OpenRouter sends after the finish chunk; its choice has a null
    /// `finish_reason`, which a client must not mistake for the stream's finish reason.
    pub fn usage(&self, usage: WireUsage) -> Bytes {
        let mut buf = self.open(96);
        push_choices(&mut buf, EMPTY, None);
        buf.extend_from_slice(b",\"usage\":");
        push_json(&mut buf, &usage);
        close(buf)
    }

    /// The documented mid-stream error: HTTP is already 200, so the error travels in a chunk with
    /// a top-level `error` and a choice finishing with `"error"` (or no choice at all).
    pub fn error(&self, empty_choices: bool) -> Bytes {
        let mut buf = self.open(96);
        buf.extend_from_slice(
            b"\"error\":{\"code\":502,\"message\":\"Mock provider returned an error mid-stream\",\
              \"metadata\":{\"provider_name\":\"Mock\",\"error_type\":\"provider_error\"}},",
        );
        if empty_choices {
            buf.extend_from_slice(b"\"choices\":[]");
        } else {
            buf.extend_from_slice(
                b"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]",
            );
        }
        close(buf)
    }

    /// A buffer holding the envelope with room for `extra` more bytes.
    fn open(&self, extra: usize) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.head.len() + CHUNK_OVERHEAD + extra);
        buf.extend_from_slice(&self.head);
        buf
    }
}

/// The role chunk and finish chunk carry an empty content.
const EMPTY: Delta<'static> = Delta {
    text: "",
    stamp: None,
};

/// `"choices":[{…}]` with one choice; `finish` is `(finish_reason, native_finish_reason)`.
fn push_choices(buf: &mut Vec<u8>, delta: Delta<'_>, finish: Option<(&str, &str)>) {
    buf.extend_from_slice(
        b"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":",
    );
    push_json(buf, &delta);
    buf.extend_from_slice(b"},\"finish_reason\":");
    match finish {
        Some((reason, native)) => {
            push_json(buf, reason);
            buf.extend_from_slice(b",\"native_finish_reason\":");
            push_json(buf, native);
        }
        None => buf.extend_from_slice(b"null,\"native_finish_reason\":null"),
    }
    buf.extend_from_slice(b",\"logprobs\":null}]");
}

/// Ends the JSON object and the SSE event.
fn close(mut buf: Vec<u8>) -> Bytes {
    buf.extend_from_slice(b"}\n\n");
    Bytes::from(buf)
}

/// Appends `value` as JSON.
fn push_json(buf: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    // Strings, numbers and plain structs cannot fail to serialize into a Vec; should one ever
    // fail, `null` still leaves the chunk valid JSON rather than panicking inside a stream.
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.extend_from_slice(b"null");
    }
}

/// A fresh generation id in OpenRouter's shape: `gen-{created}-{20 letters and digits}`.
pub(super) fn generation_id(created: u64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Unique within the process (a counter), and looks random like the real ids (mixed).
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = format!("gen-{created}-");
    let mut bits = [
        splitmix64(n ^ created),
        splitmix64(n.wrapping_add(0x5851_f42d)),
    ];
    for i in 0..20 {
        let word = &mut bits[i / 10];
        id.push(ALPHABET[(*word % 62) as usize] as char);
        *word /= 62;
    }
    id
}

/// A well-mixing step from a counter to a pseudo-random word (SplitMix64).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The JSON error body OpenRouter answers with before streaming (and for bad requests).
pub(super) fn error_body(code: u16, message: &str) -> Bytes {
    let body = serde_json::json!({
        "error": { "code": code, "message": message, "metadata": {} }
    });
    Bytes::from(body.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn envelope() -> Envelope {
        Envelope::new("gen-1-abc", "openai/gpt-4o", 1_739_458_867)
    }

    /// The JSON of one `data:` frame, checking the SSE framing on the way.
    fn data(frame: &Bytes) -> Value {
        let text = std::str::from_utf8(frame).unwrap();
        let json = text
            .strip_prefix("data: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        assert!(!json.contains('\n'), "one line of JSON per event: {json}");
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn content_chunks_match_the_real_transcripts_byte_for_byte() {
        let frame = envelope().content(Delta {
            text: "\u{4e1a}",
            stamp: None,
        });
        assert_eq!(
            std::str::from_utf8(&frame).unwrap(),
            "data: {\"id\":\"gen-1-abc\",\"provider\":\"Mock\",\"model\":\"openai/gpt-4o\",\
             \"object\":\"chat.completion.chunk\",\"created\":1739458867,\"choices\":[{\"index\":0,\
             \"delta\":{\"role\":\"assistant\",\"content\":\"\u{4e1a}\"},\"finish_reason\":null,\
             \"native_finish_reason\":null,\"logprobs\":null}]}\n\n"
        );
    }

    #[test]
    fn content_is_escaped_and_stamps_prefix_it() {
        let tricky = "<p class=\"x\">a\\b\n\t</p>";
        let plain = data(&envelope().content(Delta {
            text: tricky,
            stamp: None,
        }));
        assert_eq!(plain["choices"][0]["delta"]["content"], tricky);
        let stamped = data(&envelope().content(Delta {
            text: tricky,
            stamp: Some(0x1_2345_6789),
        }));
        assert_eq!(
            stamped["choices"][0]["delta"]["content"],
            format!("<!--123456789-->{tricky}")
        );
    }

    #[test]
    fn the_finish_chunk_carries_both_reasons_and_the_usage_chunk_none() {
        let finish = data(&envelope().finish("stop", "network_error"));
        assert_eq!(
            finish["choices"][0],
            json!({"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop",
                   "native_finish_reason":"network_error","logprobs":null})
        );
        let usage = data(&envelope().usage(WireUsage::new(100, 50)));
        assert_eq!(usage["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(
            usage["usage"],
            json!({"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"cost":0.000105})
        );
    }

    #[test]
    fn error_chunks_follow_the_documented_shape() {
        let with_choice = data(&envelope().error(false));
        assert_eq!(with_choice["error"]["code"], 502);
        assert!(with_choice["error"]["metadata"].is_object());
        assert_eq!(with_choice["choices"][0]["finish_reason"], "error");
        let without = data(&envelope().error(true));
        assert_eq!(without["choices"], json!([]));
        assert_eq!(without["id"], "gen-1-abc");
    }

    #[test]
    fn model_names_are_escaped_in_the_envelope() {
        let frame = Envelope::new("gen-1", "we\"ird\\model", 1).finish("stop", "stop");
        assert_eq!(data(&frame)["model"], "we\"ird\\model");
    }

    #[test]
    fn generation_ids_look_like_openrouter_ids_and_differ() {
        let (a, b) = (generation_id(1_739_458_867), generation_id(1_739_458_867));
        assert_ne!(a, b);
        let random = a.strip_prefix("gen-1739458867-").unwrap();
        assert_eq!(random.len(), 20);
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn error_bodies_have_code_message_and_metadata() {
        let body: Value = serde_json::from_slice(&error_body(429, "slow down")).unwrap();
        assert_eq!(
            body,
            json!({"error":{"code":429,"message":"slow down","metadata":{}}})
        );
    }
}
