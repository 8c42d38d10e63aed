//! The domain events of a generation, as the pipeline produces them.
//!
//! They know nothing of SSE: `crate::http::sse` maps each to one frame, using [`Event::name`] as
//! the event type and the serialized payload as its data.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::domain::ErrorCode;
use crate::domain::Usage;

/// One thing that happened to a generation.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Event {
    Started(Started),
    Progress(Progress),
    Delta(Delta),
    Preview(Preview),
    Completed(Completed),
    Error(Failed),
}

impl Event {
    /// The SSE event type.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started(_) => "started",
            Self::Progress(_) => "progress",
            Self::Delta(_) => "delta",
            Self::Preview(_) => "preview",
            Self::Completed(_) => "completed",
            Self::Error(_) => "error",
        }
    }

    /// The event named `name` (see [`Event::name`]) from its JSON data, as another instance
    /// published it. Serializing the result gives the same bytes back.
    pub fn decode(name: &str, data: &[u8]) -> Result<Self, DecodeError> {
        fn parse<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Result<T, DecodeError> {
            serde_json::from_slice(data).map_err(DecodeError::Data)
        }
        Ok(match name {
            "started" => Self::Started(parse(data)?),
            "progress" => Self::Progress(parse(data)?),
            "delta" => Self::Delta(parse(data)?),
            "preview" => Self::Preview(parse(data)?),
            "completed" => Self::Completed(parse(data)?),
            "error" => Self::Error(parse(data)?),
            other => return Err(DecodeError::Name(other.to_owned())),
        })
    }

    /// `completed` and `error` end a stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed(_) | Self::Error(_))
    }
}

/// Why a published event could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event {0:?}")]
    Name(String),
    #[error("malformed event data: {0}")]
    Data(#[source] serde_json::Error),
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Started {
    pub generation_id: Uuid,
    pub model: String,
    pub events_url: String,
    pub status_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The stages a generation goes through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Queued,
    Connecting,
    Generating,
    /// The model stopped at its length limit; a continuation is being asked for (and the
    /// stream goes back to `generating` once it writes).
    Continuing,
    Sanitizing,
    Saving,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub stage: Stage,
    /// Generations ahead of this one, while queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u64>,
    /// Content deltas received so far (each is roughly one token).
    pub tokens: u64,
    /// Bytes of model output received so far.
    pub bytes: u64,
    pub elapsed_ms: u64,
    /// An estimate for progress bars, never decreasing.
    pub percent: u8,
    /// The upstream attempt, from 1, while connecting or continuing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The segment being asked for while continuing: 2 for the first continuation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<u32>,
    /// A refine's edit blocks applied so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edits: Option<u64>,
    /// A refine's answer being written: 2 once the first answer's edits could not be applied
    /// and the whole document was asked for. The deltas from then on are that answer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delta {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Preview {
    pub html: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Completed {
    pub page_id: Uuid,
    pub live_url: String,
    pub title: String,
    pub usage: Usage,
    /// The upstream failed before writing anything and this is the fallback page.
    pub fallback: bool,
    pub duration_ms: u64,
    /// How many model responses the page was written in: 1, plus one per continuation after
    /// the model stopped at its length limit; 0 for the fallback page. Events published by an
    /// instance from before this field read as 1.
    #[serde(default = "one_segment")]
    pub segments: u32,
    /// The version saved: 1 for a new page, the next version for a refine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Where that version stays, whatever the page becomes: `/p/{id}/v/{n}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_url: Option<String>,
}

fn one_segment() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Failed {
    pub code: ErrorCode,
    pub message: String,
    /// Whether the same request may succeed if tried again.
    pub retryable: bool,
}
