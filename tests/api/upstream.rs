//! The upstream protocol as it really is: the recorded OpenRouter transcripts, and every fault
//! the mock can inject, each ending the way docs/ARCHITECTURE.md, "When the upstream fails", says.

use std::time::{Duration, Instant};

use livepage::mock::{Content, Fault, Script};
use livepage::store::{GenerationRecord, StoreOptions};
use serde_json::Value;

use crate::helpers::{
    Backend, SseEvent, TestApp, backend_tests, body, deltas, last, spawn_app, spawn_app_with,
};

fn transcript(name: &str) -> Script {
    let path = format!(
        "{}/tests/fixtures/upstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    Script {
        content: Content::Raw(raw),
        ..Script::default()
    }
}

fn parts(n: usize) -> Content {
    Content::Deltas((0..n).map(|i| format!("<p>chunk {i}</p>")).collect())
}

/// The stored generation row, read straight from the database.
async fn stored_generation(app: &TestApp, events: &[SseEvent]) -> GenerationRecord {
    let id = events[0].data["generation_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let store = app.database().connect(&StoreOptions::default()).await;
    let record = store.generation(id).await.expect("the generation row");
    store.close().await;
    record
}

/// Asserts the stream ended with an `error` of `code`, and that no page was saved.
async fn assert_failed(app: &TestApp, events: &[SseEvent], code: &str) -> GenerationRecord {
    let error = last(events);
    assert_eq!(error.event, "error", "{events:#?}");
    assert_eq!(error.data["code"], code, "{}", error.data);
    assert!(
        error.data["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(error.data["retryable"].is_boolean());
    let (_, history) = app.get_json("/api/history?email=ann@example.com").await;
    assert_eq!(history["pages"], Value::Array(vec![]), "no page is saved");
    let record = stored_generation(app, events).await;
    assert_eq!(record.error_code.map(|code| code.as_str()), Some(code));
    assert_eq!(record.page_id, None);
    record
}

fn attempts(events: &[SseEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| e.data["attempt"].as_u64())
        .collect()
}

backend_tests! {
    async fn a_complete_transcript_with_reasoning_and_late_usage_is_saved(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(transcript("full-stream-with-reasoning.sse"));
        let events = app.generate(&body("a files page")).await;
        assert_eq!(deltas(&events), "There are **47** files.");
        let completed = last(&events);
        assert_eq!(completed.event, "completed");
        // The usage chunk arrives after the finish chunk, with `finish_reason: null`.
        assert_eq!(completed.data["usage"]["prompt_tokens"], 7007);
        assert_eq!(completed.data["usage"]["completion_tokens"], 49);
        let record = stored_generation(&app, &events).await;
        assert_eq!(record.usage.unwrap().completion_tokens, 49);
        app.stop().await;
    }

    async fn a_mid_stream_error_chunk_ends_with_an_error_and_keeps_the_partial_output(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(transcript("midstream-error.sse"));
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(deltas(&events), "<!DOCTYPE html><html><head>");
        let record = assert_failed(&app, &events, "upstream_error").await;
        assert_eq!(record.partial_output.as_deref(), Some("<!DOCTYPE html><html><head>"));
        assert_eq!(app.mock.requests().len(), 1, "never retried after the first token");
        app.stop().await;
    }

    async fn a_stream_that_ends_without_done_is_a_dropped_connection(backend: Backend) {
        let app = spawn_app(backend).await;
        // Comments, a role chunk with empty content, one token — and then the body just ends.
        app.mock.push(transcript("comments-and-first-chunks.sse"));
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(deltas(&events), "亚");
        let record = assert_failed(&app, &events, "upstream_disconnected").await;
        assert_eq!(record.partial_output.as_deref(), Some("亚"));
        app.stop().await;
    }

    async fn transient_failures_before_the_first_token_are_retried(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(Script { status: Some(503), ..Script::default() });
        app.mock.push(Script { status: Some(429), ..Script::default() });
        app.mock.push(Script { content: parts(3), ..Script::default() });
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(last(&events).event, "completed");
        assert_eq!(last(&events).data["fallback"], false);
        assert_eq!(attempts(&events), [1, 2, 3]);
        assert_eq!(app.mock.requests().len(), 3);
        app.stop().await;
    }

    async fn a_mid_stream_stall_ends_with_upstream_stalled(backend: Backend) {
        let app = spawn_app_with(backend, |config| config.generation.idle_timeout = Duration::from_millis(300)).await;
        app.mock.push(Script { content: parts(5), fault: Some(Fault::Stall { after: 2 }), ..Script::default() });
        let events = app.generate(&body("a bakery")).await;
        let record = assert_failed(&app, &events, "upstream_stalled").await;
        assert_eq!(record.partial_output.as_deref(), Some("<p>chunk 0</p><p>chunk 1</p>"));
        app.stop().await;
    }
}

async fn run_fault(app: &TestApp, script: Script) -> Vec<SseEvent> {
    app.mock.push(script);
    app.generate(&body("a bakery")).await
}

backend_tests! {
    async fn mid_stream_faults_end_with_their_own_codes(backend: Backend) {
        let app = spawn_app(backend).await;
        let cases = [
            (
                Fault::MidStreamError {
                    after: 3,
                    empty_choices: true,
                },
                "upstream_error",
            ),
            (
                Fault::MidStreamError {
                    after: 1,
                    empty_choices: false,
                },
                "upstream_error",
            ),
            (Fault::Malformed { after: 2 }, "upstream_protocol"),
            (Fault::AbruptClose { after: 2 }, "upstream_disconnected"),
        ];
        for (fault, code) in cases {
            let events = run_fault(
                &app,
                Script {
                    content: parts(6),
                    fault: Some(fault.clone()),
                    ..Script::default()
                },
            )
            .await;
            assert_eq!(last(&events).data["code"], code, "{fault:?}");
            assert!(
                !deltas(&events).is_empty(),
                "{fault:?} came after the first token"
            );
            assert!(
                !deltas(&events).contains("chunk 5"),
                "{fault:?} cut the stream"
            );
        }
        let (_, history) = app.get_json("/api/history?email=ann@example.com").await;
        assert_eq!(history["pages"], Value::Array(vec![]));
        assert_eq!(
            app.mock.requests().len(),
            4,
            "nothing is retried after the first token"
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn with_continuations_off_a_page_cut_off_at_the_length_limit_is_truncated(backend: Backend) {
        // Continuing is tested in `continuation`; here the finish reason alone decides.
        let app = spawn_app_with(backend, |config| config.generation.max_continuations = 0).await;
        let events = run_fault(
            &app,
            Script {
                content: parts(3),
                finish_reason: "length".into(),
                native_finish_reason: "max_tokens".into(),
                ..Script::default()
            },
        )
        .await;
        let record = assert_failed(&app, &events, "truncated").await;
        assert_eq!(
            record.partial_output.as_deref(),
            Some("<p>chunk 0</p><p>chunk 1</p><p>chunk 2</p>")
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn refusals_are_never_retried_and_get_the_fallback_page(backend: Backend) {
        let app = spawn_app(backend).await;
        for status in [400, 401, 402, 403] {
            let requests_before = app.mock.requests().len();
            let events = run_fault(
                &app,
                Script {
                    status: Some(status),
                    ..Script::default()
                },
            )
            .await;
            assert_eq!(
                app.mock.requests().len(),
                requests_before + 1,
                "{status} is not retried"
            );
            let completed = last(&events);
            assert_eq!(completed.event, "completed", "{status}");
            assert_eq!(completed.data["fallback"], true);
            assert!(
                deltas(&events).is_empty(),
                "the fallback page is not model output"
            );
            let page = app
                .client
                .get(completed.data["live_url"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                page.contains("could not be reached"),
                "the fallback page says what happened"
            );
        }
        app.stop().await;
    }
}

backend_tests! {
    async fn without_the_fallback_each_failure_before_the_first_token_has_its_code(backend: Backend) {
        let app = spawn_app_with(backend, |config| {
            config.generation.fallback = false;
            config.generation.max_attempts = 2;
            config.generation.first_token_timeout = Duration::from_millis(300);
        })
        .await;

        let events = run_fault(
            &app,
            Script {
                status: Some(401),
                ..Script::default()
            },
        )
        .await;
        assert_eq!(last(&events).data["code"], "upstream_rejected");
        assert_eq!(last(&events).data["retryable"], false);

        app.mock.push(Script {
            status: Some(500),
            ..Script::default()
        });
        let events = run_fault(
            &app,
            Script {
                status: Some(502),
                ..Script::default()
            },
        )
        .await;
        assert_eq!(last(&events).data["code"], "upstream_unavailable");
        assert_eq!(attempts(&events), [1, 2]);

        app.mock.push(Script {
            fault: Some(Fault::Stall { after: 0 }),
            ..Script::default()
        });
        let events = run_fault(
            &app,
            Script {
                fault: Some(Fault::Stall { after: 0 }),
                ..Script::default()
            },
        )
        .await;
        assert_eq!(last(&events).data["code"], "upstream_timeout");

        // An empty `stop` whose native reason reveals a provider failure.
        let empty_stop = Script {
            content: Content::Deltas(vec![]),
            native_finish_reason: "network_error".into(),
            ..Script::default()
        };
        app.mock.push(empty_stop.clone());
        let events = run_fault(&app, empty_stop).await;
        assert_eq!(last(&events).data["code"], "empty_output");
        assert!(
            last(&events).data["message"]
                .as_str()
                .unwrap()
                .contains("network_error")
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn retry_after_is_honoured(backend: Backend) {
        let app = spawn_app_with(backend, |config| {
            config.generation.retry_max = Duration::from_secs(3)
        })
        .await;
        app.mock.push(Script {
            status: Some(429),
            retry_after: Some(1),
            ..Script::default()
        });
        let started = Instant::now();
        let events = run_fault(
            &app,
            Script {
                content: parts(2),
                ..Script::default()
            },
        )
        .await;
        assert_eq!(last(&events).event, "completed");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited as the upstream asked"
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn a_retry_after_beyond_the_limit_gives_up_at_once(backend: Backend) {
        let app = spawn_app_with(backend, |config| config.generation.fallback = false).await;
        let started = Instant::now();
        let events = run_fault(
            &app,
            Script {
                status: Some(503),
                retry_after: Some(3600),
                ..Script::default()
            },
        )
        .await;
        assert_eq!(last(&events).data["code"], "upstream_unavailable");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(app.mock.requests().len(), 1);
        app.stop().await;
    }
}
