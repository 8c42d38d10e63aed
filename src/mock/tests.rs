//! The mock on a real port, driven by a real HTTP client the way the service drives it.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;
use crate::demo::demo_page;
use crate::domain::{PageType, Theme};

/// Long enough for anything on a loaded CI machine; only ever reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(10);

async fn serve(mock: &MockUpstream) -> Url {
    mock.spawn().await.expect("bind 127.0.0.1:0").0
}

fn chat(prompt: &str) -> Value {
    json!({
        "model": "anthropic/claude-sonnet-4.5",
        "stream": true,
        "messages": [
            {"role": "system", "content": "You write web pages.\nPage type: restaurant\nTheme: dark"},
            {"role": "user", "content": prompt},
        ],
    })
}

async fn post(base: &Url, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(base.join("chat/completions").unwrap())
        .bearer_auth("sk-test")
        .header("HTTP-Referer", "https://livepage.test")
        .header("X-Title", "LivePage")
        .json(body)
        .send()
        .await
        .expect("the mock answers")
}

/// The `data` of every event, read the way a client reads them.
async fn events(response: reqwest::Response) -> Vec<String> {
    let events = response
        .bytes_stream()
        .eventsource()
        .map(|e| e.expect("a well-formed stream").data);
    tokio::time::timeout(PATIENCE, events.collect())
        .await
        .expect("the stream ends")
}

fn chunk(data: &str) -> Value {
    serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"))
}

fn content(data: &str) -> String {
    chunk(data)["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn deltas(list: &[&str]) -> Content {
    Content::Deltas(list.iter().map(|d| d.to_string()).collect())
}

#[tokio::test]
async fn a_demo_stream_has_the_shape_of_a_real_openrouter_stream() {
    let mock = MockUpstream::default();
    let base = serve(&mock).await;
    let response = post(&base, &chat("a landing page for my bakery")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let id = response.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("gen-"));

    let data = events(response).await;
    let (role, rest) = data.split_first().unwrap();
    let (done, rest) = rest.split_last().unwrap();
    let (usage, rest) = rest.split_last().unwrap();
    let (finish, content_chunks) = rest.split_last().unwrap();

    let role = chunk(role);
    assert_eq!(role["id"], id.as_str());
    assert_eq!(role["provider"], "Mock");
    assert_eq!(role["model"], "anthropic/claude-sonnet-4.5");
    assert_eq!(role["object"], "chat.completion.chunk");
    assert!(role["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        role["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );

    let page: String = content_chunks.iter().map(|d| content(d)).collect();
    assert_eq!(
        page,
        demo_page(
            "a landing page for my bakery",
            PageType::Restaurant,
            Theme::Dark
        )
    );
    assert!(
        content_chunks
            .iter()
            .all(|d| chunk(d)["choices"][0]["finish_reason"].is_null())
    );

    let finish = chunk(finish);
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["native_finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"]["content"], "");
    assert!(finish.get("usage").is_none());

    let usage = chunk(usage);
    assert!(usage["choices"][0]["finish_reason"].is_null());
    let tokens = &usage["usage"];
    assert_eq!(tokens["completion_tokens"], content_chunks.len());
    let (prompt, completion) = (
        tokens["prompt_tokens"].as_u64().unwrap(),
        tokens["completion_tokens"].as_u64().unwrap(),
    );
    assert!(prompt > 10);
    assert_eq!(tokens["total_tokens"], prompt + completion);
    assert!(tokens["cost"].as_f64().unwrap() > 0.0);
    assert_eq!(done, "[DONE]");
}

#[tokio::test]
async fn comment_lines_come_first_and_every_event_is_one_line_and_a_blank_line() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["<p>", "hi\n", "</p>"]),
        comments: 3,
        ..Script::default()
    });
    let base = serve(&mock).await;
    let raw = post(&base, &chat("hi")).await.text().await.unwrap();
    assert!(
        raw.starts_with(&": OPENROUTER PROCESSING\n\n".repeat(3)),
        "{raw}"
    );
    let events: Vec<&str> = raw.split_terminator("\n\n").skip(3).collect();
    assert_eq!(events.len(), 1 + 3 + 2 + 1);
    assert!(
        events
            .iter()
            .all(|e| e.starts_with("data: ") && !e.contains('\n')),
        "{raw}"
    );
    assert!(raw.ends_with("data: [DONE]\n\n"));
    let text: String = events[1..4]
        .iter()
        .map(|e| content(&e["data: ".len()..]))
        .collect();
    assert_eq!(text, "<p>hi\n</p>");
}

#[tokio::test]
async fn an_empty_stop_reports_the_provider_failure_in_the_native_reason() {
    let mock = MockUpstream::new(Script {
        content: Content::Deltas(vec![]),
        native_finish_reason: "network_error".into(),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let data = events(post(&base, &chat("hi")).await).await;
    assert_eq!(data.len(), 4, "role, finish, usage, [DONE]: {data:?}");
    let finish = chunk(&data[1]);
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        finish["choices"][0]["native_finish_reason"],
        "network_error"
    );
    assert_eq!(chunk(&data[2])["usage"]["completion_tokens"], 0);
}

#[tokio::test]
async fn a_mid_stream_error_arrives_in_a_chunk_then_done() {
    let mock = MockUpstream::default();
    let fault = |empty_choices| Script {
        content: deltas(&["<!DOCTYPE html>", "<html>", "<body>"]),
        fault: Some(Fault::MidStreamError {
            after: 2,
            empty_choices,
        }),
        ..Script::default()
    };
    mock.push(fault(false));
    mock.push(fault(true));
    let base = serve(&mock).await;
    for empty_choices in [false, true] {
        let data = events(post(&base, &chat("hi")).await).await;
        assert_eq!(data.len(), 1 + 2 + 1 + 1, "{data:?}");
        let error = chunk(&data[3]);
        assert_eq!(error["error"]["code"], 502);
        assert!(error["error"]["message"].is_string());
        assert!(error["error"]["metadata"].is_object());
        if empty_choices {
            assert_eq!(error["choices"], json!([]));
        } else {
            assert_eq!(error["choices"][0]["finish_reason"], "error");
        }
        assert_eq!(data[4], "[DONE]");
    }
}

#[tokio::test]
async fn a_malformed_chunk_is_a_data_line_that_is_not_json() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["a", "b"]),
        fault: Some(Fault::Malformed { after: 1 }),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let data = events(post(&base, &chat("hi")).await).await;
    assert_eq!(data[2], "{not json");
    assert!(serde_json::from_str::<Value>(&data[2]).is_err());
}

#[tokio::test]
async fn an_abrupt_close_fails_the_stream_without_done() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["a", "b", "c"]),
        fault: Some(Fault::AbruptClose { after: 2 }),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let response = post(&base, &chat("hi")).await;
    let items: Vec<_> =
        tokio::time::timeout(PATIENCE, response.bytes_stream().eventsource().collect())
            .await
            .unwrap();
    let (last, events) = items.split_last().unwrap();
    assert!(last.is_err(), "the body fails: {last:?}");
    let data: Vec<String> = events
        .iter()
        .map(|e| e.as_ref().unwrap().data.clone())
        .collect();
    assert_eq!(data.len(), 3, "role, a, b: {data:?}");
    assert_eq!(
        mock.disconnects(),
        0,
        "the server closed it, not the client"
    );
}

#[tokio::test]
async fn a_stalled_stream_sends_nothing_more_and_counts_a_disconnect_when_dropped() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["a", "b"]),
        fault: Some(Fault::Stall { after: 1 }),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let mut stream = post(&base, &chat("hi")).await.bytes_stream().eventsource();
    for expected in ["", "a"] {
        let event = stream.next().await.unwrap().unwrap();
        assert_eq!(content(&event.data), expected);
    }
    let idle = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(idle.is_err(), "nothing arrives after the stall");
    assert_eq!(mock.disconnects(), 0);
    drop(stream);
    tokio::time::timeout(PATIENCE, mock.wait_for_disconnects(1))
        .await
        .expect("the dropped stream is counted");
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_is_counted_and_finished_streams_are_not() {
    let mock = MockUpstream::new(Script {
        content: Content::Deltas(vec!["<p>x</p>".into(); 40]),
        pace: Duration::from_millis(5),
        ..Script::default()
    });
    let base = serve(&mock).await;
    events(post(&base, &chat("first")).await).await;
    assert_eq!(mock.disconnects(), 0);

    let mut stream = post(&base, &chat("second"))
        .await
        .bytes_stream()
        .eventsource();
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    drop(stream);
    tokio::time::timeout(PATIENCE, mock.wait_for_disconnects(1))
        .await
        .expect("the dropped stream is counted");
    assert_eq!(mock.disconnects(), 1);
}

#[tokio::test]
async fn an_error_status_is_answered_with_a_json_error_and_retry_after() {
    let mock = MockUpstream::default();
    mock.push(Script {
        status: Some(429),
        retry_after: Some(7),
        ..Script::default()
    });
    mock.push(Script {
        status: Some(503),
        ..Script::default()
    });
    let base = serve(&mock).await;

    let response = post(&base, &chat("hi")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert!(body["error"]["message"].is_string());
    assert_eq!(body["error"]["metadata"], json!({}));

    let response = post(&base, &chat("hi")).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_none());

    let response = post(&base, &chat("hi")).await;
    assert_eq!(
        response.status(),
        200,
        "the queue is empty: the default script again"
    );
}

#[tokio::test]
async fn bad_requests_get_400_and_do_not_use_up_a_script() {
    let mock = MockUpstream::default();
    mock.push(Script {
        status: Some(500),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let client = reqwest::Client::new();
    let url = base.join("chat/completions").unwrap();
    let not_json = client.post(url.clone()).body("{oops").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(body["error"]["code"], 400);
    let mut not_streaming = chat("hi");
    not_streaming["stream"] = json!(false);
    assert_eq!(post(&base, &not_streaming).await.status(), 400);
    assert_eq!(
        post(&base, &chat("hi")).await.status(),
        500,
        "the pushed script is still first"
    );
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].body, json!("{oops"));
}

#[tokio::test]
async fn every_request_is_recorded_in_order_with_its_attribution_headers() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["ok"]),
        ..Script::default()
    });
    let base = serve(&mock).await;
    for prompt in ["one", "two", "three"] {
        events(post(&base, &chat(prompt)).await).await;
    }
    let recorded = mock.requests();
    let prompts: Vec<&str> = recorded
        .iter()
        .map(|r| r.body["messages"][1]["content"].as_str().unwrap())
        .collect();
    assert_eq!(prompts, ["one", "two", "three"]);
    assert_eq!(recorded[0].authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(
        recorded[0].referer.as_deref(),
        Some("https://livepage.test")
    );
    assert_eq!(recorded[0].title.as_deref(), Some("LivePage"));

    mock.set_recording(false);
    events(post(&base, &chat("four")).await).await;
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn the_endpoint_answers_under_the_usual_base_url_spellings() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["ok"]),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let client = reqwest::Client::new();
    for path in [
        "/chat/completions",
        "/v1/chat/completions",
        "/api/v1/chat/completions",
        "//chat/completions",
    ] {
        let url = format!("{}{}", base.as_str().trim_end_matches('/'), path);
        let response = client.post(&url).json(&chat("hi")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(events(response).await.last().unwrap(), "[DONE]", "{path}");
    }
    let elsewhere = client
        .post(base.join("completions").unwrap())
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn stamped_deltas_carry_their_send_time_over_the_wire() {
    let mock = MockUpstream::new(Script {
        content: deltas(&["<p>", "hi"]),
        stamp: true,
        ..Script::default()
    });
    let base = serve(&mock).await;
    let data = events(post(&base, &chat("hi")).await).await;
    for (event, text) in data[1..3].iter().zip(["<p>", "hi"]) {
        let content = content(event);
        let (_, rest) = super::stamp::read(content.as_bytes()).expect("a stamp");
        assert_eq!(rest, text.as_bytes());
    }
}

#[tokio::test]
async fn a_raw_transcript_is_replayed_verbatim() {
    let transcript = include_str!("../../tests/fixtures/upstream/comments-and-first-chunks.sse");
    let mock = MockUpstream::new(Script {
        content: Content::Raw(transcript.to_owned()),
        ..Script::default()
    });
    let base = serve(&mock).await;
    let raw = post(&base, &chat("hi")).await.text().await.unwrap();
    assert_eq!(raw, transcript);
}

/// The text a stream wrote and the finish reason it gave.
fn written(data: &[String]) -> (String, String) {
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| chunk(d))
        .collect();
    let text = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap_or_default()
        .to_owned();
    (text, finish)
}

#[tokio::test]
async fn a_cut_text_ends_with_length_and_a_continuation_carries_on_from_its_prefill() {
    let script = Script {
        content: deltas(&["<p>Fresh ", "bread, ", "every day</p>"]),
        cuts: vec![12],
        resume: Resume {
            preamble: Some("Sure, here is the rest:\n".into()),
            fence: true,
            overlap: 6,
        },
        ..Script::default()
    };
    let mock = MockUpstream::new(script);
    let base = serve(&mock).await;
    let data = events(post(&base, &chat("a bakery")).await).await;
    assert_eq!(written(&data), ("<p>Fresh bre".into(), "length".into()));
    let native = data.iter().filter(|d| *d != "[DONE]").find_map(|d| {
        chunk(d)["choices"][0]["native_finish_reason"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(native.as_deref(), Some("max_tokens"));

    let mut continuation = chat("a bakery");
    let messages = continuation["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "user", "content": "Continue where you stopped."}));
    messages.push(json!({"role": "assistant", "content": "<p>Fresh bre"}));
    let data = events(post(&base, &continuation).await).await;
    assert_eq!(
        written(&data),
        (
            "Sure, here is the rest:\n```html\nsh bread, every day</p>\n```".into(),
            "stop".into()
        )
    );

    messages_with_prefill(&mut continuation, "<p>Stale bre");
    let refused = post(&base, &continuation).await;
    assert_eq!(
        refused.status(),
        400,
        "the prefill is not the start of the text"
    );
}

fn messages_with_prefill(body: &mut Value, prefill: &str) {
    let messages = body["messages"].as_array_mut().unwrap();
    messages.pop();
    messages.push(json!({"role": "assistant", "content": prefill}));
}
