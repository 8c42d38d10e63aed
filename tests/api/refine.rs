//! Refining a page and its versions (docs/ARCHITECTURE.md, "Refining a page"): edit blocks
//! applied as they stream, the whole-document retry and `edit_failed`, sanitizing, versions
//! saved gap-free under concurrency, restore, `/p/{id}/v/{n}`, downloads, and who may do what.

use std::collections::BTreeSet;
use std::time::Duration;

use livepage::mock::{Content, Script};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, SseEvent, TestApp, backend_tests, deltas, last, outline, read_events, spawn_app_with,
};

const ADMIN_TOKEN: &str = "refine-test-admin-token-5e02";
const ANN: &str = "ann-owner-key-0123456789abcdefghijklmnopqrstuvwxyz";
const BOB: &str = "bob-owner-key-0123456789abcdefghijklmnopqrstuvwxyz";

/// The first version of every page here: one line per element, so that edits can quote lines.
const PAGE: &str = "<!DOCTYPE html>
<html lang=\"en\">
<head><title>Harbor Bakery</title></head>
<body>
<h1 class=\"text-indigo-600\">Harbor Bakery</h1>
<p>Fresh bread every morning.</p>
<p class=\"hours\">Open daily.</p>
<p class=\"hours\">Open daily.</p>
</body>
</html>";

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.server.admin_token = Some(SecretString::from(ADMIN_TOKEN));
    })
    .await
}

/// One edit block.
fn block(search: &str, replace: &str) -> String {
    format!("<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n")
}

/// `text` as deltas of `size` bytes (ASCII text), so markers are split across them.
fn pieces(text: &str, size: usize) -> Vec<String> {
    text.as_bytes()
        .chunks(size)
        .map(|chunk| String::from_utf8(chunk.to_vec()).expect("ASCII"))
        .collect()
}

fn answer(text: &str) -> Script {
    Script {
        content: Content::Deltas(pieces(text, 7)),
        ..Script::default()
    }
}

/// Publishes [`PAGE`] owned by `key`; returns its id.
async fn make_page(app: &TestApp, key: &str) -> String {
    app.mock.push(answer(PAGE));
    let response = app
        .client
        .post(app.url("/api/generate"))
        .bearer_auth(key)
        .json(&json!({"email": "ann@example.com", "prompt": "a page for Harbor Bakery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = read_events(response).await;
    let completed = last(&events);
    assert_eq!(completed.event, "completed", "{events:#?}");
    assert_eq!(completed.data["version"], 1);
    completed.data["page_id"].as_str().unwrap().to_owned()
}

async fn post_refine(app: &TestApp, id: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(&format!("/api/pages/{id}/refine")));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.json(&body).send().await.unwrap()
}

/// Refines page `id` as `ANN` with `prompt`, the mock answering each request with the next of
/// `answers`; returns the whole stream.
async fn refine(app: &TestApp, id: &str, prompt: &str, answers: &[&str]) -> Vec<SseEvent> {
    for text in answers {
        app.mock.push(answer(text));
    }
    let response = post_refine(
        app,
        id,
        Some(ANN),
        json!({"prompt": prompt, "preview": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    read_events(response).await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body)
}

async fn page_html(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn versions(app: &TestApp, id: &str) -> Value {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/api/pages/{id}/versions"),
        Some(ANN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn version_numbers(versions: &Value) -> Vec<i64> {
    versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

fn request_messages(app: &TestApp, index: usize) -> (String, String) {
    let requests = app.mock.requests();
    let messages = &requests[index].body["messages"];
    (
        messages[0]["content"].as_str().unwrap().to_owned(),
        messages[1]["content"].as_str().unwrap().to_owned(),
    )
}

backend_tests! {
    async fn edits_are_applied_as_they_stream_and_saved_as_the_next_version(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let (_, _, before) = page_html(&app, &format!("/p/{id}")).await;
        let text = format!(
            "I'll make both changes.\n{}{}That's all.",
            block("<h1 class=\"text-indigo-600\">Harbor Bakery</h1>", "<h1 class=\"text-rose-600\">Harbor Bakery, since 1921</h1>"),
            block("<p>Fresh bread every morning.</p>", "<p>Fresh bread and pastries every morning.</p>"),
        );
        let events = refine(&app, &id, "a warmer colour and say since when", &[&text]).await;
        assert_eq!(outline(&events)[..2], ["started", "progress"]);
        let completed = last(&events);
        assert_eq!(completed.event, "completed", "{events:#?}");
        assert_eq!(deltas(&events), text, "deltas are the model's answer, exactly");
        assert_eq!(completed.data["page_id"], id.as_str());
        assert_eq!(completed.data["version"], 2);
        let live_url = app.url(&format!("/p/{id}"));
        assert_eq!(completed.data["live_url"], live_url.as_str());
        assert_eq!(completed.data["version_url"], format!("{live_url}/v/2"));
        assert_eq!(completed.data["title"], "Harbor Bakery");

        // `progress` counts the edits as they land, and previews show each applied.
        let counts: Vec<u64> = events
            .iter()
            .filter(|e| e.event == "progress")
            .filter_map(|e| e.data["edits"].as_u64())
            .collect();
        assert!(counts.contains(&1) && counts.contains(&2), "{counts:?}");
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        let previews: Vec<&str> = events.iter().filter(|e| e.event == "preview").map(|e| e.data["html"].as_str().unwrap()).collect();
        assert!(previews.last().unwrap().contains("Fresh bread and pastries"));

        // The model saw the page and the change, and was asked for edit blocks.
        let (system, user) = request_messages(&app, 1);
        assert!(system.contains("Answer format: edits") && system.contains("<<<<<<< SEARCH"));
        assert!(user.contains("<p>Fresh bread every morning.</p>"));
        assert!(user.contains("a warmer colour and say since when"));
        assert!(!user.contains("@font-face"), "the compiled stylesheet is not sent");

        let (status, html, after) = page_html(&app, &format!("/p/{id}")).await;
        assert_eq!(status, 200);
        assert!(html.contains("Harbor Bakery, since 1921") && html.contains("text-rose-600"));
        assert!(html.contains(".text-rose-600"), "the new version gets its own compiled CSS");
        assert_ne!(before["etag"], after["etag"], "the ETag changes with the version");
        let (status, old, v1) = page_html(&app, &format!("/p/{id}/v/1")).await;
        assert_eq!(status, 200);
        assert!(old.contains("<p>Fresh bread every morning.</p>") && !old.contains("since 1921"));
        assert_eq!(v1["content-security-policy"], before["content-security-policy"]);
        let (_, v2, v2_headers) = page_html(&app, &format!("/p/{id}/v/2")).await;
        assert_eq!(v2, html, "version 2 is what /p/{{id}} serves");
        assert_eq!(v2_headers["content-security-policy"], after["content-security-policy"]);
        assert_eq!(v2_headers["x-content-type-options"], "nosniff");
        assert_eq!(page_html(&app, &format!("/p/{id}/v/3")).await.0, 404);

        let listed = versions(&app, &id).await;
        assert_eq!(version_numbers(&listed), [2, 1], "newest first");
        assert_eq!(listed["current"], 2);
        let newest = &listed["versions"][0];
        assert_eq!(newest["kind"], "refined");
        assert_eq!(newest["prompt"], "a warmer colour and say since when");
        assert_eq!(newest["usage"], completed.data["usage"]);
        assert!(newest["model"].is_string() && newest["created_at"].is_string());
        assert_eq!(listed["versions"][1]["kind"], "created");
        assert_eq!(listed["versions"][1]["prompt"], "a page for Harbor Bakery");
        app.stop().await;
    }

    async fn a_whole_document_answer_replaces_the_page(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let document = "```html\n<!DOCTYPE html><html><head><title>Harbor Bakery v2</title></head><body><h2>All new</h2></body></html>\n```";
        let events = refine(&app, &id, "start over, simpler", &[document]).await;
        assert_eq!(last(&events).data["version"], 2, "{events:#?}");
        assert_eq!(last(&events).data["title"], "Harbor Bakery v2");
        let (_, html, _) = page_html(&app, &format!("/p/{id}")).await;
        assert!(html.contains("<h2>All new</h2>") && !html.contains("Fresh bread"));
        app.stop().await;
    }

    async fn an_edit_that_matches_nowhere_asks_once_for_the_whole_document(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let unmatched = block("<p>Gluten free.</p>", "<p>Vegan.</p>");
        let whole = "<!DOCTYPE html><html><head><title>Harbor Bakery</title></head><body><p>Rewritten whole.</p></body></html>";
        let events = refine(&app, &id, "mention vegan bread", &[&unmatched, whole]).await;
        let completed = last(&events);
        assert_eq!(completed.event, "completed", "{events:#?}");
        assert_eq!(completed.data["version"], 2);
        assert!(events.iter().any(|e| e.event == "progress" && e.data["answer"] == 2));
        let (system, user) = request_messages(&app, 2);
        assert!(system.contains("Answer format: document"));
        assert!(user.contains("is not in the page"), "the model is told why: {user}");
        // Both answers were paid for, and both are counted.
        let delta_count = events.iter().filter(|e| e.event == "delta").count() as u64;
        assert_eq!(completed.data["usage"]["completion_tokens"], delta_count);
        let (_, html, _) = page_html(&app, &format!("/p/{id}")).await;
        assert!(html.contains("Rewritten whole."));
        app.stop().await;
    }

    async fn an_ambiguous_edit_that_fails_again_ends_with_edit_failed_and_saves_nothing(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        // Half-applied would be worse than nothing: the first block applies, the second is
        // ambiguous.
        let ambiguous = format!(
            "{}{}",
            block("<p>Fresh bread every morning.</p>", "<p>Changed.</p>"),
            block("<p class=\"hours\">Open daily.</p>", "<p>Closed Mondays.</p>"),
        );
        let events = refine(&app, &id, "we close on Mondays", &[&ambiguous, "Sorry, I can't."]).await;
        let error = last(&events);
        assert_eq!(error.event, "error", "{events:#?}");
        assert_eq!(error.data["code"], "edit_failed");
        assert_eq!(error.data["retryable"], true);
        assert!(error.data["message"].as_str().unwrap().contains("2 times"), "{}", error.data);
        assert_eq!(version_numbers(&versions(&app, &id).await), [1]);
        let (_, html, _) = page_html(&app, &format!("/p/{id}")).await;
        assert!(html.contains("Fresh bread every morning.") && !html.contains("Changed."));
        // The generation is recorded as failed, with what both answers cost.
        let generation_id = events[0].data["generation_id"].as_str().unwrap();
        let (_, record) = app.get_json(&format!("/api/generations/{generation_id}")).await;
        assert_eq!(record["status"], "failed");
        assert_eq!(record["error_code"], "edit_failed");
        let delta_count = events.iter().filter(|e| e.event == "delta").count() as u64;
        assert_eq!(record["usage"]["completion_tokens"], delta_count);
        // The admin sees what refines cost, the failed ones included.
        let (status, stats) = call(&app, Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200);
        let refines = &stats["totals"]["refines"];
        assert_eq!(refines["refines"]["failed"], 1, "{refines}");
        assert_eq!(refines["error_codes"]["edit_failed"], 1);
        assert_eq!(refines["tokens"]["completion"], delta_count);
        assert_eq!(refines["versions"], 0);
        app.stop().await;
    }

    async fn edits_that_insert_script_handlers_or_javascript_urls_are_sanitized_away(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let hostile = block(
            "<p>Fresh bread every morning.</p>",
            "<p>Fresh bread.</p><script>alert(1)</script>\n<a href=\"javascript:alert(2)\" onclick=\"alert(3)\">Order</a>\n<img src=\"https://example.com/x.png\" onerror=\"alert(4)\" alt=\"bread\">\n<iframe src=\"https://evil.example\"></iframe>",
        );
        let events = refine(&app, &id, "add an order link", &[&hostile]).await;
        assert_eq!(last(&events).data["version"], 2, "{events:#?}");
        for path in [format!("/p/{id}"), format!("/p/{id}/v/2")] {
            let (status, html, _) = page_html(&app, &path).await;
            assert_eq!(status, 200);
            let lower = html.to_lowercase();
            assert!(lower.contains(">order</a>") && lower.contains("alt=\"bread\""), "{html}");
            for bad in ["<script", "javascript:", "onclick", "onerror", "<iframe", "alert("] {
                assert!(!lower.contains(bad), "{bad} survived in {path}");
            }
        }
        app.stop().await;
    }

    async fn concurrent_refines_get_distinct_gap_free_versions_or_409(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        // The first refine is slow, so the others arrive while it runs.
        app.mock.push(Script {
            pace: Duration::from_millis(20),
            ..answer(&block("<p>Fresh bread every morning.</p>", "<p>Slow change.</p>"))
        });
        for _ in 0..4 {
            app.mock.push(answer("<!DOCTYPE html><html><head><title>T</title></head><body><p>fast</p></body></html>"));
        }
        let attempts = (0..5).map(|i| {
            let app = &app;
            let id = id.clone();
            async move {
                let response = post_refine(app, &id, Some(ANN), json!({"prompt": format!("change {i}")})).await;
                match response.status().as_u16() {
                    200 => Some(read_events(response).await),
                    409 => {
                        let body: Value = response.json().await.unwrap();
                        assert_eq!(body["error"]["code"], "conflict");
                        None
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        let mut saved = BTreeSet::new();
        for events in outcomes.into_iter().flatten() {
            let end = last(&events);
            assert_eq!(end.event, "completed", "{events:#?}");
            assert!(saved.insert(end.data["version"].as_i64().unwrap()), "a version number twice");
        }
        assert!(!saved.is_empty());
        // Restores race in the database itself, with no refine to queue them: every one gets
        // its own number, and the numbers have no gaps.
        let restore = format!("/api/pages/{id}/versions/1/restore");
        let restores = (0..6).map(|_| call(&app, Method::POST, &restore, Some(ANN)));
        for (status, body) in futures_util::future::join_all(restores).await {
            assert_eq!(status, 201, "{body}");
            assert!(saved.insert(body["version"].as_i64().unwrap()), "a version number twice");
        }
        let listed = version_numbers(&versions(&app, &id).await);
        let expected: Vec<i64> = (1..=listed.len() as i64).rev().collect();
        assert_eq!(listed, expected, "gap-free, newest first");
        assert_eq!(saved.iter().copied().collect::<Vec<_>>(), (2..=listed.len() as i64).collect::<Vec<_>>());
        app.stop().await;
    }

    async fn refines_on_two_instances_at_once_never_share_a_version(backend: Backend) {
        let app = spawn(backend).await;
        let sibling = app.spawn_sibling().await;
        let id = make_page(&app, ANN).await;
        let slow = |text: &str| Script {
            pace: Duration::from_millis(15),
            ..answer(text)
        };
        app.mock.push(slow(&block("<p>Fresh bread every morning.</p>", "<p>From the first.</p>")));
        sibling.mock.push(slow(&block("<h1 class=\"text-indigo-600\">Harbor Bakery</h1>", "<h1>From the second</h1>")));
        let (first, second) = tokio::join!(
            post_refine(&app, &id, Some(ANN), json!({"prompt": "one"})),
            post_refine(&sibling, &id, Some(ANN), json!({"prompt": "two"})),
        );
        let (first, second) = tokio::join!(read_events(first), read_events(second));
        let ends = [last(&first), last(&second)];
        let versions_made: Vec<i64> = ends.iter().filter_map(|e| e.data["version"].as_i64()).collect();
        // Both edited version 1: the second to save would undo the first, so it is refused.
        assert_eq!(versions_made, [2], "{ends:#?}");
        let refused = ends.iter().find(|e| e.event == "error").unwrap();
        assert_eq!(refused.data["code"], "page_changed");
        assert_eq!(version_numbers(&versions(&app, &id).await), [2, 1]);
        sibling.stop().await;
        app.stop().await;
    }

    async fn restore_makes_a_new_version_and_downloads_are_named_after_the_title(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let events = refine(&app, &id, "new headline", &[&block("<h1 class=\"text-indigo-600\">Harbor Bakery</h1>", "<h1>Bread &amp; more</h1>")]).await;
        assert_eq!(last(&events).data["version"], 2);

        let (status, restored) = call(&app, Method::POST, &format!("/api/pages/{id}/versions/1/restore"), Some(ANN)).await;
        assert_eq!(status, 201, "{restored}");
        assert_eq!(restored["version"], 3);
        assert_eq!(restored["kind"], "restored");
        assert_eq!(restored["restored_from"], 1);
        assert_eq!(restored["url"], app.url(&format!("/p/{id}/v/3")).as_str());
        let (_, live, _) = page_html(&app, &format!("/p/{id}")).await;
        assert!(live.contains(">Harbor Bakery</h1>") && !live.contains("Bread &amp; more"));
        let listed = versions(&app, &id).await;
        assert_eq!(version_numbers(&listed), [3, 2, 1], "history is never rewritten");
        let (_, stats) = call(&app, Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN)).await;
        assert_eq!(stats["last_24h"]["refines"]["versions"], 2, "{stats}");
        assert_eq!(stats["last_24h"]["refines"]["refines"]["completed"], 1);
        assert!(stats["last_24h"]["refines"]["cost"].as_f64().unwrap() > 0.0);
        let (status, _) = call(&app, Method::POST, &format!("/api/pages/{id}/versions/9/restore"), Some(ANN)).await;
        assert_eq!(status, 404);

        let response = app.get(&format!("/p/{id}/download")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"harbor-bakery.html\"");
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<!DOCTYPE html>") && !body.contains(">Report</a>"));
        let response = app.get(&format!("/p/{id}/v/2/download")).await;
        assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"harbor-bakery.html\"");
        assert!(response.text().await.unwrap().contains("Bread &amp; more"));
        assert_eq!(app.get(&format!("/p/{id}/v/7/download")).await.status(), 404);
        app.stop().await;
    }

    async fn only_the_owner_may_refine_or_restore(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let body = json!({"prompt": "make it red"});
        let status = |response: reqwest::Response| response.status().as_u16();
        assert_eq!(status(post_refine(&app, &id, None, body.clone()).await), 401);
        assert_eq!(status(post_refine(&app, &id, Some(BOB), body.clone()).await), 403);
        let unknown = uuid::Uuid::now_v7().to_string();
        assert_eq!(status(post_refine(&app, &unknown, Some(ANN), body.clone()).await), 404);
        let response = post_refine(&app, &id, Some(ANN), json!({"prompt": "  "})).await;
        assert_eq!(response.status(), 422);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_prompt");
        assert_eq!(error["error"]["field"], "prompt");
        let restore = format!("/api/pages/{id}/versions/1/restore");
        assert_eq!(call(&app, Method::POST, &restore, None).await.0, 401);
        assert_eq!(call(&app, Method::POST, &restore, Some(BOB)).await.0, 403);

        // A page taken down cannot be refined, nor restored: 409, in the documented shape.
        let takedown = app
            .client
            .post(app.url(&format!("/api/admin/pages/{id}/takedown")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"reason": "phishing"}))
            .send()
            .await
            .unwrap();
        assert!(takedown.status().is_success(), "{}", takedown.status());
        let response = post_refine(&app, &id, Some(ANN), body.clone()).await;
        assert_eq!(response.status(), 409);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "conflict");
        assert!(error["error"]["message"].is_string());
        assert_eq!(call(&app, Method::POST, &restore, Some(ANN)).await.0, 409);
        assert_eq!(page_html(&app, &format!("/p/{id}/v/1")).await.0, 410);

        // A deleted page is gone.
        let other = make_page(&app, ANN).await;
        assert_eq!(call(&app, Method::DELETE, &format!("/api/pages/{other}"), Some(ANN)).await.0, 204);
        assert_eq!(status(post_refine(&app, &other, Some(ANN), body).await), 410);
        assert_eq!(page_html(&app, &format!("/p/{other}/v/1")).await.0, 410);
        app.stop().await;
    }

    async fn a_refine_is_idempotent_cancellable_and_resumable_with_its_version(backend: Backend) {
        let app = spawn_app_with(backend, |config| {
            // Finished logs are dropped at once: a late client gets the database's summary.
            config.generation.event_retention_max = 0;
        })
        .await;
        let id = make_page(&app, ANN).await;
        app.mock.push(Script {
            pace: Duration::from_millis(10),
            ..answer(&block("<p>Fresh bread every morning.</p>", "<p>Twice is once.</p>"))
        });
        let send = || {
            app.client
                .post(app.url(&format!("/api/pages/{id}/refine")))
                .bearer_auth(ANN)
                .header("idempotency-key", "refine-once-7")
                .json(&json!({"prompt": "once"}))
                .send()
        };
        let (first, second) = tokio::join!(send(), send());
        let (first, second) = tokio::join!(read_events(first.unwrap()), read_events(second.unwrap()));
        assert_eq!(first[0].data["generation_id"], second[0].data["generation_id"]);
        assert_eq!(last(&first).data["version"], 2);
        assert_eq!(last(&second).data["version"], 2);
        assert_eq!(version_numbers(&versions(&app, &id).await), [2, 1], "one refine, one version");

        // Rejoining after the end: the summary from the database still says which version.
        let generation_id = first[0].data["generation_id"].as_str().unwrap();
        let response = app.get(&format!("/api/generations/{generation_id}/events")).await;
        let replay = read_events(response).await;
        let completed = last(&replay);
        assert_eq!(completed.event, "completed", "{replay:#?}");
        assert_eq!(completed.data["version"], 2);
        assert_eq!(completed.data["version_url"], app.url(&format!("/p/{id}/v/2")).as_str());

        // Cancelled: the stream ends with `cancelled`, and no version is saved.
        app.mock.push(Script {
            pace: Duration::from_millis(50),
            ..answer(&block("<p>Twice is once.</p>", "<p>Never saved.</p>"))
        });
        let response = post_refine(&app, &id, Some(ANN), json!({"prompt": "never"})).await;
        let mut stream = eventsource_stream::Eventsource::eventsource(response.bytes_stream());
        let started = futures_util::StreamExt::next(&mut stream).await.unwrap().unwrap();
        let started: Value = serde_json::from_str(&started.data).unwrap();
        let generation_id = started["generation_id"].as_str().unwrap();
        // At once, as a client that saw `started` may: the cancellation is recorded all the same.
        let (status, _) = call(&app, Method::POST, &format!("/api/generations/{generation_id}/cancel"), None).await;
        assert_eq!(status, 200);
        let mut end = None;
        while let Some(Ok(event)) = futures_util::StreamExt::next(&mut stream).await {
            end = Some(event);
        }
        let end = end.unwrap();
        assert_eq!(end.event, "error");
        assert!(end.data.contains("\"cancelled\""));
        assert_eq!(version_numbers(&versions(&app, &id).await), [2, 1]);
        app.stop().await;
    }

    async fn a_refine_cut_off_by_the_length_limit_continues_and_still_applies(backend: Backend) {
        let app = spawn(backend).await;
        let id = make_page(&app, ANN).await;
        let text = format!(
            "{}{}",
            block("<h1 class=\"text-indigo-600\">Harbor Bakery</h1>", "<h1>Harbor Bakery &amp; Co</h1>"),
            block("<p>Fresh bread every morning.</p>", "<p>Bread at dawn.</p>"),
        );
        // Cut in the middle of the second block's SEARCH marker.
        let cut = text.find("<<<<<<< SEARCH\n<p>").unwrap() + 9;
        // The same script for the request and its continuation, which carries on from the cut.
        for _ in 0..2 {
            app.mock.push(Script {
                content: Content::Deltas(pieces(&text, 7)),
                cuts: vec![cut],
                ..Script::default()
            });
        }
        let response = post_refine(&app, &id, Some(ANN), json!({"prompt": "two changes"})).await;
        let events = read_events(response).await;
        let completed = last(&events);
        assert_eq!(completed.event, "completed", "{events:#?}");
        assert_eq!(completed.data["segments"], 2);
        assert_eq!(deltas(&events), text, "the continuation adds exactly the rest");
        let (_, html, _) = page_html(&app, &format!("/p/{id}")).await;
        assert!(html.contains("Harbor Bakery &amp; Co") && html.contains("Bread at dawn."));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_answers_a_refine_with_edit_blocks_and_the_retry_with_a_document() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.server.admin_token = Some(SecretString::from(ADMIN_TOKEN));
    })
    .await;
    let id = make_page(&app, ANN).await;
    // The mock's own demo answer, as demo mode serves it: real edit blocks.
    app.mock.push(Script {
        content: Content::Demo,
        ..Script::default()
    });
    let response = post_refine(
        &app,
        &id,
        Some(ANN),
        json!({"prompt": "change the headline to \"Warm bread\""}),
    )
    .await;
    let events = read_events(response).await;
    assert_eq!(last(&events).data["version"], 2, "{events:#?}");
    assert!(deltas(&events).starts_with("<<<<<<< SEARCH\n"));
    let (_, html, _) = page_html(&app, &format!("/p/{id}")).await;
    assert!(html.contains(">Warm bread</h1>"));

    // Asked again for a whole document (its first edits failed), it writes one.
    app.mock.push(answer(&block("<p>nowhere</p>", "<p>x</p>")));
    app.mock.push(Script {
        content: Content::Demo,
        ..Script::default()
    });
    let response = post_refine(&app, &id, Some(ANN), json!({"prompt": "make it green"})).await;
    let events = read_events(response).await;
    assert_eq!(last(&events).data["version"], 3, "{events:#?}");
    let second_answer: String = events
        .iter()
        .skip_while(|e| !(e.event == "progress" && e.data["answer"] == 2))
        .filter(|e| e.event == "delta")
        .map(SseEvent::text)
        .collect();
    assert!(
        second_answer.starts_with("```html\n<!DOCTYPE html>"),
        "{second_answer}"
    );
    app.stop().await;
}
