//! One `data:` payload of an OpenAI-compatible stream, parsed once into what LivePage needs.
//!
//! The real wire format (see `tests/fixtures/upstream/`) has more variety than the OpenAI
//! reference suggests: role chunks with empty content, chunks with no `content` at all,
//! `reasoning` fields, a usage chunk after the finish chunk whose choice says
//! `finish_reason: null`, error chunks with a top-level `error` and sometimes `"choices": []`.
//! Unknown fields are ignored so that new provider extensions never break the stream.
//!
//! Every delta is parsed here, so the parse borrows from the received bytes: the content is
//! copied once (into the `String` the delta event carries), only the first choice is kept, and
//! no `Vec` of choices is built.

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::domain::Usage;

/// What one chunk tells us. A chunk may carry several of these at once.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Chunk {
    /// New text of the page (never empty).
    pub content: Option<String>,
    /// Why the model stopped, when this chunk says so.
    pub finish: Option<Finish>,
    pub usage: Option<Usage>,
    /// A provider error reported inside the stream (after HTTP 200).
    pub error: Option<ProviderError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// `stop`, `length`, `content_filter`, `error`, …
    pub reason: String,
    /// What the provider itself said; reveals failures hidden behind an empty `stop`.
    pub native_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: String,
    pub message: String,
}

/// The payload was not a chunk at all.
#[derive(Debug, thiserror::Error)]
#[error("malformed upstream chunk: {0}")]
pub struct MalformedChunk(#[from] serde_json::Error);

/// Parses the data of one SSE event (not `[DONE]`).
pub fn parse(data: &[u8]) -> Result<Chunk, MalformedChunk> {
    // Checked as UTF-8 once, as a whole: parsing bytes would check every string on its own.
    let text =
        std::str::from_utf8(data).map_err(<serde_json::Error as serde::de::Error>::custom)?;
    let wire: WireChunk = serde_json::from_str(text)?;
    let mut chunk = Chunk {
        usage: wire.usage.map(WireUsage::into_usage),
        error: wire.error.map(WireError::into_error),
        ..Chunk::default()
    };
    if let Some(choice) = wire.choices {
        chunk.content = choice
            .delta
            .and_then(|d| d.content)
            .filter(|c| !c.is_empty())
            .map(Cow::into_owned);
        chunk.finish = choice.finish_reason.map(|reason| Finish {
            reason: reason.into_owned(),
            native_reason: choice.native_finish_reason.map(Cow::into_owned),
        });
    }
    Ok(chunk)
}

#[derive(Deserialize)]
struct WireChunk<'a> {
    /// Only the first choice: LivePage asks for one.
    #[serde(default, borrow, deserialize_with = "first_choice")]
    choices: Option<WireChoice<'a>>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow)]
    delta: Option<WireDelta<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    native_finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    /// Borrowed when the JSON string has no escapes; owned when it has.
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
}

/// The first element of the `choices` array; the rest are skipped without being built.
fn first_choice<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<WireChoice<'de>>, D::Error> {
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Option<WireChoice<'de>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of choices")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    deserializer.deserialize_seq(First)
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    cost: Option<f64>,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost: self.cost,
        }
    }
}

#[derive(Deserialize)]
struct WireError {
    /// A number on OpenRouter, a string on some OpenAI-compatible servers.
    #[serde(default)]
    code: serde_json::Value,
    #[serde(default)]
    message: String,
}

impl WireError {
    fn into_error(self) -> ProviderError {
        let code = match self.code {
            serde_json::Value::String(code) => code,
            serde_json::Value::Null => "unknown".to_owned(),
            other => other.to_string(),
        };
        ProviderError {
            code,
            message: self.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_are_malformed_wherever_they_are() {
        for data in [
            &b"{\"choices\":[{\"delta\":{\"content\":\"a\xff\"}}]}"[..],
            b"{\"id\":\"\xc3\",\"choices\":[]}",
            b"{\"choices\":[]}\xff",
        ] {
            assert!(parse(data).is_err(), "{data:?}");
        }
        let escaped = parse(br#"{"choices":[{"delta":{"content":"caf\u00e9 \ud83c\udf5e"}}]}"#);
        assert_eq!(escaped.unwrap().content.as_deref(), Some("café 🍞"));
    }

    #[test]
    fn role_chunks_with_empty_content_carry_nothing() {
        let chunk = parse(br#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#).unwrap();
        assert_eq!(chunk, Chunk::default());
    }

    #[test]
    fn content_and_reasoning_fields() {
        let chunk = parse(br#"{"choices":[{"delta":{"content":" are","reasoning":null,"reasoning_details":[]},"finish_reason":null}]}"#).unwrap();
        assert_eq!(chunk.content.as_deref(), Some(" are"));
    }

    #[test]
    fn usage_after_finish_has_a_null_finish_reason() {
        let chunk = parse(br#"{"choices":[{"delta":{"content":""},"finish_reason":null,"native_finish_reason":null}],"usage":{"prompt_tokens":1697,"completion_tokens":52,"total_tokens":1749,"cost":0.0012}}"#).unwrap();
        assert_eq!(chunk.finish, None);
        assert_eq!(
            chunk.usage,
            Some(Usage {
                prompt_tokens: 1697,
                completion_tokens: 52,
                cost: Some(0.0012)
            })
        );
    }

    #[test]
    fn error_chunks_with_and_without_choices() {
        let chunk = parse(br#"{"error":{"code":429,"message":"Rate limit exceeded"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}"#).unwrap();
        assert_eq!(
            chunk.error,
            Some(ProviderError {
                code: "429".into(),
                message: "Rate limit exceeded".into()
            })
        );
        assert_eq!(chunk.finish.unwrap().reason, "error");
        let chunk =
            parse(br#"{"error":{"code":"server_error","message":"boom"},"choices":[]}"#).unwrap();
        assert_eq!(chunk.error.unwrap().code, "server_error");
    }

    #[test]
    fn an_empty_stop_keeps_its_native_reason() {
        let chunk = parse(br#"{"choices":[{"delta":{"content":""},"finish_reason":"stop","native_finish_reason":"network_error"}]}"#).unwrap();
        assert_eq!(
            chunk.finish,
            Some(Finish {
                reason: "stop".into(),
                native_reason: Some("network_error".into())
            })
        );
    }

    #[test]
    fn escaped_content_is_unescaped_and_only_the_first_choice_counts() {
        let chunk = parse(
            br#"{"choices":[{"delta":{"content":"<a href=\"/x\">\u00e9\n"},"finish_reason":null},{"delta":{"content":"second"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(chunk.content.as_deref(), Some("<a href=\"/x\">é\n"));
        assert_eq!(chunk.finish, None);
    }

    #[test]
    fn non_json_is_malformed() {
        assert!(parse(b"{not json").is_err());
        assert!(parse(b"").is_err());
    }
}
