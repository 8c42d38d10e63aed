//! Reading an OpenAI chat-completions request the way the mock needs it.
//!
//! The mock only needs a few things from a request: the model to echo, the inputs of the demo
//! page (the user's prompt, and the page type and theme that our system prompt states on lines
//! `Page type: …` and `Theme: …`), a size for the usage chunk, and, when the messages end with
//! an assistant message, that prefill: the text a continuation carries on from.

use std::borrow::Cow;

use serde_json::Value;

use crate::domain::{PageType, Theme};
use crate::generation::prompt::{CHANGE_END, CHANGE_START, DOCUMENT_END, DOCUMENT_START};

/// The model echoed when a request names none.
const DEFAULT_MODEL: &str = "mock/demo";

/// What the mock takes from one valid request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ChatRequest {
    pub model: String,
    /// The content of the last user message; in a continuation, of the first (the last one
    /// asks to continue).
    pub prompt: String,
    pub page_type: PageType,
    pub theme: Theme,
    /// About a quarter of the characters of all messages, as tokenizers go for English.
    pub prompt_tokens: u64,
    /// The last message when it is the assistant's: what the model wrote so far, to continue.
    pub prefill: Option<String>,
    /// Set for a refine: what our refine prompt sends (see `generation::prompt`).
    pub refine: Option<Refine>,
}

/// What the mock reads from a refine request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refine {
    /// The current document, from between its markers in the user message.
    pub document: String,
    /// The change asked for.
    pub change: String,
    /// Whether the system prompt asks for the whole document (`Answer format: document`)
    /// rather than edit blocks.
    pub whole_document: bool,
}

impl ChatRequest {
    /// Checks what a real endpoint would refuse outright; the error is the 400 message.
    pub fn read(body: &Value) -> Result<Self, &'static str> {
        let Some(object) = body.as_object() else {
            return Err("the request body must be a JSON object");
        };
        if object.get("stream") != Some(&Value::Bool(true)) {
            return Err("this endpoint only streams: set \"stream\": true");
        }
        let messages: Vec<(&str, Cow<'_, str>)> = object
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| (role(m), text(m)))
            .collect();
        let system = messages.iter().filter(|(r, _)| *r == "system");
        let (page_type, theme) = options(system.clone().map(|(_, t)| t.as_ref()));
        let format = system
            .flat_map(|(_, t)| t.lines())
            .find_map(|line| labelled(line, &["answer format:"]));
        let chars: usize = messages.iter().map(|(_, t)| t.chars().count()).sum();
        let prefill = match messages.split_last() {
            Some(((role, text), earlier)) if *role == "assistant" && !earlier.is_empty() => {
                Some(text.clone().into_owned())
            }
            _ => None,
        };
        let mut users = messages.iter().filter(|(r, _)| *r == "user");
        let prompt = if prefill.is_some() {
            users.next()
        } else {
            users.next_back()
        };
        let prompt = prompt
            .map(|(_, t)| t.clone().into_owned())
            .unwrap_or_default();
        let refine = format.and_then(|format| {
            Some(Refine {
                document: between(&prompt, DOCUMENT_START, DOCUMENT_END)?.to_owned(),
                change: between(&prompt, CHANGE_START, CHANGE_END)?.to_owned(),
                whole_document: format.eq_ignore_ascii_case("document"),
            })
        });
        Ok(Self {
            model: object
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_MODEL)
                .to_owned(),
            prompt,
            page_type,
            theme,
            prompt_tokens: chars.div_ceil(4).max(1) as u64,
            prefill,
            refine,
        })
    }
}

/// The text between `start` and the last `end` after it, without the line feeds around it.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let (_, rest) = text.split_once(start)?;
    let (inside, _) = rest.rsplit_once(end)?;
    Some(
        inside
            .strip_prefix('\n')
            .unwrap_or(inside)
            .strip_suffix('\n')
            .unwrap_or(inside),
    )
}

fn role(message: &Value) -> &str {
    message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A message's text: a plain string, or the text parts of a multi-part content array.
fn text(message: &Value) -> Cow<'_, str> {
    match message.get("content") {
        Some(Value::String(text)) => Cow::Borrowed(text),
        Some(Value::Array(parts)) => Cow::Owned(
            parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => Cow::Borrowed(""),
    }
}

/// The page type and theme named in the system messages, defaulting when absent or unknown.
fn options<'a>(system: impl Iterator<Item = &'a str>) -> (PageType, Theme) {
    let (mut page_type, mut theme) = (None, None);
    for text in system {
        for line in text.lines() {
            page_type = page_type.or_else(|| labelled(line, &["page type:", "page_type:"]));
            theme = theme.or_else(|| labelled(line, &["theme:"]));
        }
    }
    (
        page_type
            .and_then(|n| PageType::parse(Some(n)).ok())
            .unwrap_or_default(),
        theme
            .and_then(|n| Theme::parse(Some(n)).ok())
            .unwrap_or_default(),
    )
}

/// The first word after one of `labels` (matched case-insensitively) on `line`, so that
/// "- **Page type:** landing — a marketing page" gives "landing".
fn labelled<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `line`.
    let lower = line.to_ascii_lowercase();
    let end = labels
        .iter()
        .find_map(|label| lower.find(label).map(|at| at + label.len()))?;
    line[end..]
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|word| !word.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_prompt_page_type_and_theme_are_read_from_the_messages() {
        let body = json!({
            "model": "openai/gpt-4o", "stream": true,
            "messages": [
                {"role": "system", "content": "You write pages.\nPage type: product — a product page\n**Theme:** Dark"},
                {"role": "user", "content": "an old prompt"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "a bakery"}]},
            ]
        });
        let request = ChatRequest::read(&body).unwrap();
        assert_eq!(request.model, "openai/gpt-4o");
        assert_eq!(request.prompt, "a bakery");
        assert_eq!(
            (request.page_type, request.theme),
            (PageType::Product, Theme::Dark)
        );
        assert!(request.prompt_tokens > 10);
    }

    #[test]
    fn a_trailing_assistant_message_is_a_prefill_to_continue() {
        let body = json!({"stream": true, "messages": [
            {"role": "system", "content": "Page type: blog"},
            {"role": "user", "content": "a bakery"},
            {"role": "user", "content": "Continue exactly where you stopped."},
            {"role": "assistant", "content": "<!DOCTYPE html><html><bo"},
        ]});
        let request = ChatRequest::read(&body).unwrap();
        assert_eq!(request.prefill.as_deref(), Some("<!DOCTYPE html><html><bo"));
        assert_eq!(
            request.prompt, "a bakery",
            "the page's prompt, not the instruction"
        );
        let first = ChatRequest::read(&json!({"stream": true, "messages": [
            {"role": "user", "content": "a bakery"},
        ]}))
        .unwrap();
        assert_eq!(first.prefill, None);
    }

    #[test]
    fn a_refine_gives_its_document_change_and_answer_format() {
        use crate::generation::prompt::{RefineFormat, refine_system_prompt, refine_user_message};
        let system = refine_system_prompt(PageType::Blog, Theme::Dark, RefineFormat::Document);
        let user = refine_user_message("<p>a</p>\n<p>b</p>", "make it red", None);
        let body = json!({"stream": true, "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]});
        let request = ChatRequest::read(&body).unwrap();
        let refine = request.refine.unwrap();
        assert_eq!(refine.document, "<p>a</p>\n<p>b</p>");
        assert_eq!(refine.change, "make it red");
        assert!(refine.whole_document);
        assert_eq!(request.page_type, PageType::Blog);
    }

    #[test]
    fn missing_or_unknown_options_fall_back_to_the_defaults() {
        let body = json!({"stream": true, "messages": [
            {"role": "system", "content": "Page type: spaceship"},
            {"role": "user", "content": "hi"},
        ]});
        let request = ChatRequest::read(&body).unwrap();
        assert_eq!(
            (request.page_type, request.theme),
            (PageType::Landing, Theme::Modern)
        );
        assert_eq!(request.model, DEFAULT_MODEL);
    }

    #[test]
    fn only_streaming_object_requests_are_accepted() {
        assert!(ChatRequest::read(&json!([1])).is_err());
        assert!(ChatRequest::read(&json!({"messages": []})).is_err());
        assert!(ChatRequest::read(&json!({"stream": "true"})).is_err());
        assert!(ChatRequest::read(&json!({"stream": true})).is_ok());
    }
}
