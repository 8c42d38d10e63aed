//! The client's view of the event stream (docs/ARCHITECTURE.md, "The event protocol").
//!
//! Each SSE frame is parsed once into a [`Received`]: its id (for resuming), its name, its JSON
//! data kept whole (for `--json`, which passes on every field, even ones this client does not
//! know) and a typed [`Payload`] with the few fields the client acts on. Parsing is tolerant of
//! extra fields and of unknown event names, so an older client keeps working against a newer
//! server.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One event as received from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The event's seq: strictly increasing within a generation.
    pub id: u64,
    /// The SSE event type: `started`, `progress`, `delta`, …
    pub name: String,
    pub data: Value,
    pub payload: Payload,
}

/// What the client understands of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Started {
        generation_id: Uuid,
    },
    Progress(Progress),
    Delta {
        text: String,
    },
    Completed(Completed),
    Failed(Failed),
    /// `preview`, or an event this client does not know: only `--json` shows it.
    Other,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Progress {
    pub stage: String,
    #[serde(default)]
    pub percent: u8,
    pub queue_position: Option<u64>,
    #[serde(default)]
    pub tokens: u64,
    pub attempt: Option<u32>,
    /// The segment being asked for while `continuing`.
    pub segment: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Completed {
    pub live_url: String,
    #[serde(default)]
    pub title: String,
    /// The version saved (absent from servers from before versions).
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub version_url: Option<String>,
    /// The upstream failed before writing anything and this is the fallback page.
    #[serde(default)]
    pub fallback: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Failed {
    pub code: String,
    pub message: String,
}

impl Failed {
    /// The stable code of a cancelled generation.
    pub const CANCELLED: &'static str = "cancelled";
}

impl Received {
    /// Parses one SSE frame's fields. An error names what was wrong, for the user.
    pub fn parse(id: &str, name: &str, data: &str) -> Result<Self, String> {
        let id: u64 = id
            .parse()
            .map_err(|_| format!("event id {id:?} is not a number"))?;
        let data: Value = serde_json::from_str(data)
            .map_err(|err| format!("the data of event {id} is not JSON: {err}"))?;
        let payload = Payload::parse(name, &data)
            .map_err(|err| format!("event {id} ({name}) is malformed: {err}"))?;
        Ok(Self {
            id,
            name: name.to_owned(),
            data,
            payload,
        })
    }

    /// `completed` and `error` end a stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self.payload, Payload::Completed(_) | Payload::Failed(_))
    }

    /// The event as one line of JSON, `{"id":3,"event":"delta","data":{…}}`, for `--json`.
    pub fn json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            id: u64,
            event: &'a str,
            data: &'a Value,
        }
        let line = Line {
            id: self.id,
            event: &self.name,
            data: &self.data,
        };
        // A `Value` with string keys always serializes.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

impl Payload {
    fn parse(name: &str, data: &Value) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Started {
            generation_id: Uuid,
        }
        #[derive(Deserialize)]
        struct Delta {
            text: String,
        }
        Ok(match name {
            "started" => Self::Started {
                generation_id: Started::deserialize(data)?.generation_id,
            },
            "progress" => Self::Progress(Progress::deserialize(data)?),
            "delta" => Self::Delta {
                text: Delta::deserialize(data)?.text,
            },
            "completed" => Self::Completed(Completed::deserialize(data)?),
            "error" => Self::Failed(Failed::deserialize(data)?),
            _ => Self::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_keeps_its_text_exactly() {
        let event = Received::parse("7", "delta", r#"{"text":"<p>\n  hi ü</p>"}"#).unwrap();
        assert_eq!(event.id, 7);
        assert_eq!(
            event.payload,
            Payload::Delta {
                text: "<p>\n  hi ü</p>".into()
            }
        );
        assert!(!event.is_terminal());
    }

    #[test]
    fn terminal_events_are_recognised() {
        let completed = Received::parse(
            "9",
            "completed",
            r#"{"page_id":"0193a1c2-0000-7000-8000-000000000000","live_url":"http://x/p/1","title":"T","usage":{},"fallback":false,"duration_ms":5}"#,
        )
        .unwrap();
        assert!(completed.is_terminal());
        let failed = Received::parse(
            "10",
            "error",
            r#"{"code":"cancelled","message":"m","retryable":false}"#,
        )
        .unwrap();
        assert!(
            matches!(&failed.payload, Payload::Failed(f) if f.code == Failed::CANCELLED && f.message == "m")
        );
    }

    #[test]
    fn unknown_events_and_fields_are_tolerated() {
        let event = Received::parse("3", "preview", r#"{"html":"<p>x</p>"}"#).unwrap();
        assert_eq!(event.payload, Payload::Other);
        let event = Received::parse("4", "progress", r#"{"stage":"generating","new":1}"#).unwrap();
        assert!(matches!(event.payload, Payload::Progress(p) if p.stage == "generating"));
    }

    #[test]
    fn malformed_frames_say_what_is_wrong() {
        assert!(
            Received::parse("x", "delta", "{}")
                .unwrap_err()
                .contains("id")
        );
        assert!(
            Received::parse("1", "delta", "{not json")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            Received::parse("1", "delta", r#"{"txt":"a"}"#)
                .unwrap_err()
                .contains("delta")
        );
    }

    #[test]
    fn a_json_line_has_id_event_and_data_in_that_order() {
        let event = Received::parse("3", "delta", r#"{"text":"a\nb"}"#).unwrap();
        assert_eq!(
            event.json_line(),
            r#"{"id":3,"event":"delta","data":{"text":"a\nb"}}"#
        );
    }
}
