//! Owners and moderation: owner keys on generate, unpublishing, republishing and deleting,
//! histories by owner key and by email, reports, the admin's queue and takedowns, the report link
//! in every page, and every instance on one database following a change within two seconds
//! (docs/ARCHITECTURE.md, "Owners and moderation").

use std::time::Duration;

use livepage::mock::{Content, Script};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::helpers::{
    Backend, TestApp, backend_tests, last, postgres_backend, redis_url, spawn_app_with,
};

const ADMIN_TOKEN: &str = "moderation-test-admin-token-93b1";
const ANN: &str = "ann-owner-key-0123456789abcdefghijklmnopqrstuvwxyz";
const BOB: &str = "bob-owner-key-0123456789abcdefghijklmnopqrstuvwxyz";

/// An app with the admin API on.
async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

async fn spawn_with(
    backend: Backend,
    configure: impl FnOnce(&mut livepage::config::Config),
) -> TestApp {
    spawn_app_with(backend, |config| {
        config.server.admin_token = Some(SecretString::from(ADMIN_TOKEN));
        configure(config);
    })
    .await
}

/// Generates a small page titled `title`, with `key` as its owner key when given; returns the
/// `completed` data.
async fn make_page(app: &TestApp, key: Option<&str>, title: &str) -> Value {
    app.mock.push(Script {
        content: Content::Deltas(vec![
            format!("<html><head><title>{title}</title></head><body><h1>{title}</h1>"),
            "</body></html>".into(),
        ]),
        ..Script::default()
    });
    let mut request = app.client.post(app.url("/api/generate")).json(&json!({
        "email": "ann@example.com",
        "prompt": format!("secret prompt for {title}"),
    }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let events = crate::helpers::read_events(response).await;
    let completed = last(&events);
    assert_eq!(completed.event, "completed", "{events:#?}");
    completed.data.clone()
}

fn page_id(page: &Value) -> String {
    page["page_id"].as_str().unwrap().to_owned()
}

/// A request with `token` as its bearer token, and a JSON body when given: status and body
/// (`Null` when empty).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, got {text:?}"))
    };
    (status, body)
}

async fn patch(app: &TestApp, id: &str, token: Option<&str>, public: bool) -> (StatusCode, Value) {
    let body = json!({ "is_public": public });
    call(
        app,
        Method::PATCH,
        &format!("/api/pages/{id}"),
        token,
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, id: &str, token: Option<&str>) -> (StatusCode, Value) {
    call(
        app,
        Method::DELETE,
        &format!("/api/pages/{id}"),
        token,
        None,
    )
    .await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// `GET /p/{id}` on `app`: status and body.
async fn live(app: &TestApp, id: &str) -> (StatusCode, String) {
    let response = app.get(&format!("/p/{id}")).await;
    (response.status(), response.text().await.unwrap())
}

const UNKNOWN: &str = "00000000-0000-7000-8000-000000000000";

backend_tests! {
    async fn a_malformed_owner_key_is_refused_before_any_stream(backend: Backend) {
        let app = spawn(backend).await;
        for authorization in [
            "Bearer short".to_owned(),
            format!("Bearer {}", "k".repeat(129)),
            format!("Bearer {}+/", "k".repeat(40)),
            format!("Basic {ANN}"),
        ] {
            let response = app
                .client
                .post(app.url("/api/generate"))
                .header("authorization", &authorization)
                .json(&json!({"email": "ann@example.com", "prompt": "a bakery"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{authorization}");
            assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(code(&body), "invalid_owner_key", "{authorization}: {body}");
            assert_eq!(body["error"]["field"], "Authorization");
        }
        assert!(app.mock.requests().is_empty(), "nothing was generated");
        app.stop().await;
    }

    async fn a_page_records_the_digest_of_its_owner_key_never_the_key(backend: Backend) {
        let app = spawn(backend).await;
        let page = make_page(&app, Some(ANN), "Owned").await;
        let id = page_id(&page);
        let hex = match app.database().backend() {
            Backend::Sqlite => "lower(hex(owner_key_hash))",
            Backend::Postgres { .. } => "encode(owner_key_hash, 'hex')",
        };
        let expected: String = Sha256::digest(ANN.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        for table in ["pages WHERE id", "generations WHERE page_id"] {
            let stored = app.database().query_text(&format!("SELECT {hex} FROM {table} = '{id}'")).await;
            assert_eq!(stored.as_deref(), Some(expected.as_str()), "{table}");
        }
        let anywhere = app
            .database()
            .query_text(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM pages WHERE html_content LIKE '%{ANN}%' OR CAST(meta_data AS TEXT) LIKE '%{ANN}%'"
            ))
            .await;
        assert_eq!(anywhere.as_deref(), Some("0"));
        app.stop().await;
    }

    async fn owners_unpublish_republish_and_delete_their_pages(backend: Backend) {
        let app = spawn(backend).await;
        let page = make_page(&app, Some(ANN), "Mine").await;
        let id = page_id(&page);
        let path = format!("/api/pages/{id}");

        // 401 without a key, 403 with another, 404 for an unknown page, 400 for a bad key.
        let response = app.client.patch(app.url(&path)).json(&json!({"is_public": false})).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, body) = patch(&app, &id, Some(BOB), false).await;
        assert_eq!((status.as_u16(), code(&body)), (403, "forbidden"));
        let (status, body) = delete(&app, &id, Some(BOB)).await;
        assert_eq!((status.as_u16(), code(&body)), (403, "forbidden"));
        assert_eq!(delete(&app, &id, None).await.0, 401);
        let (status, body) = patch(&app, UNKNOWN, Some(ANN), false).await;
        assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));
        assert_eq!(delete(&app, UNKNOWN, Some(ANN)).await.0, 404);
        assert_eq!(patch(&app, &id, Some("not-a-key"), false).await.0, 400);
        let (status, body) = call(&app, Method::PATCH, &path, Some(ANN), Some(json!({"is_public": "no"}))).await;
        assert_eq!((status.as_u16(), code(&body)), (422, "invalid_body"));
        assert_eq!(live(&app, &id).await.0, 200, "still published");

        // Unpublished: the same 404 as an unknown page, at once; the owner still sees it.
        let (status, body) = patch(&app, &id, Some(ANN), false).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["status"].as_str(), body["is_public"].as_bool()), (Some("unpublished"), Some(false)));
        let (status, unpublished) = live(&app, &id).await;
        let (_, unknown) = live(&app, UNKNOWN).await;
        assert_eq!(status, 404);
        assert_eq!(unpublished, unknown, "the same 404 as an unknown page");
        assert_eq!(app.get_json(&path).await.0, 404, "a stranger does not see it");
        let (status, mine) = call(&app, Method::GET, &path, Some(ANN), None).await;
        assert_eq!((status.as_u16(), mine["status"].as_str()), (200, Some("unpublished")));
        assert_eq!(mine["prompt"], "secret prompt for Mine");
        assert_eq!(call(&app, Method::GET, &path, Some(BOB), None).await.0, 404);

        // Published again: served at once.
        let (status, body) = patch(&app, &id, Some(ANN), true).await;
        assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("published")));
        let (status, html) = live(&app, &id).await;
        assert_eq!(status, 200);
        assert!(html.contains("<h1>Mine</h1>"));

        // Deleted: 410 everywhere, and its HTML is gone from the database.
        let (status, body) = delete(&app, &id, Some(ANN)).await;
        assert_eq!((status.as_u16(), body), (204, Value::Null));
        let response = app.get(&format!("/p/{id}")).await;
        assert_eq!(response.status(), 410);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.text().await.unwrap().contains("This page was deleted"));
        let (status, body) = app.get_json(&path).await;
        assert_eq!((status, code(&body)), (410, "gone"));
        assert_eq!(delete(&app, &id, Some(ANN)).await.0, 410);
        assert_eq!(patch(&app, &id, Some(ANN), true).await.0, 410);
        let html = app.database().query_text(&format!("SELECT html_content FROM pages WHERE id = '{id}'")).await;
        assert_eq!(html.as_deref(), Some(""));
        let prompt = app.database().query_text(&format!("SELECT prompt FROM generations WHERE page_id = '{id}'")).await;
        assert_eq!(prompt.as_deref(), Some(""));
        app.stop().await;
    }

    async fn a_page_made_without_a_key_only_the_admin_can_change(backend: Backend) {
        let app = spawn(backend).await;
        let id = page_id(&make_page(&app, None, "Nobody's").await);
        assert_eq!(patch(&app, &id, Some(ANN), false).await.0, 403);
        let (status, body) = patch(&app, &id, Some(ADMIN_TOKEN), false).await;
        assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("unpublished")));
        assert_eq!(live(&app, &id).await.0, 404);
        assert_eq!(delete(&app, &id, Some(ADMIN_TOKEN)).await.0, 204);
        assert_eq!(live(&app, &id).await.0, 410);
        app.stop().await;
    }

    async fn history_by_owner_key_shows_everything_and_by_email_only_public_titles(backend: Backend) {
        let app = spawn(backend).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(page_id(&make_page(&app, Some(ANN), &format!("Page {i}")).await));
        }
        make_page(&app, Some(BOB), "Bob's").await;
        let keyless = page_id(&make_page(&app, None, "Keyless").await);
        assert_eq!(patch(&app, &ids[1], Some(ANN), false).await.0, 200);
        assert_eq!(delete(&app, &ids[3], Some(ANN)).await.0, 204);

        // By owner key: every page of the key but the deleted one, with prompts, in batches.
        let mut listed = Vec::new();
        let mut path = "/api/history?limit=2".to_owned();
        loop {
            let (status, history) = call(&app, Method::GET, &path, Some(ANN), None).await;
            assert_eq!(status, 200, "{history}");
            for page in history["pages"].as_array().unwrap() {
                assert!(page["prompt"].as_str().unwrap().starts_with("secret prompt for Page"));
                listed.push((page["title"].as_str().unwrap().to_owned(), page["status"].as_str().unwrap().to_owned()));
            }
            match history["next_before"].as_str() {
                Some(before) => path = format!("/api/history?limit=2&before={before}"),
                None => break,
            }
        }
        let expected = [("Page 4", "published"), ("Page 2", "published"), ("Page 1", "unpublished"), ("Page 0", "published")];
        assert_eq!(listed, expected.map(|(t, s)| (t.to_owned(), s.to_owned())));

        // By email, without the key: published pages, titles and URLs, never a prompt.
        let response = app.get("/api/history?email=ann@example.com").await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(!text.contains("prompt"), "{text}");
        let history: Value = serde_json::from_str(&text).unwrap();
        let titles: Vec<&str> = history["pages"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Keyless", "Bob's", "Page 4", "Page 2", "Page 0"]);
        let first = &history["pages"][0];
        assert_eq!(first["id"], keyless.as_str());
        assert!(first["live_url"].as_str().unwrap().ends_with(&format!("/p/{keyless}")));
        let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "id", "live_url", "title"]);

        // A bad key is refused, not taken for nobody's.
        let (status, body) = call(&app, Method::GET, "/api/history", Some("short"), None).await;
        assert_eq!((status.as_u16(), code(&body)), (400, "invalid_owner_key"));
        app.stop().await;
    }

    async fn reports_are_filed_checked_and_rate_limited_per_ip(backend: Backend) {
        let app = spawn_with(backend, |config| config.rate_limits.rate_limit_reports_per_ip = 4).await;
        let id = page_id(&make_page(&app, Some(ANN), "Suspicious").await);
        let path = format!("/api/pages/{id}/reports");
        let report = |body: Value| call(&app, Method::POST, &path, None, Some(body));

        let (status, body) = report(json!({"reason": "phishing", "details": "asks for my bank login", "contact": "eve@example.com"})).await;
        assert_eq!(status, 202, "{body}");
        assert!(uuid::Uuid::try_parse(body["report_id"].as_str().unwrap()).is_ok());

        let (status, body) = report(json!({"reason": "boring"})).await;
        assert_eq!((status.as_u16(), code(&body)), (422, "invalid_reason"));
        assert_eq!(body["error"]["field"], "reason");
        let (status, body) = report(json!({"details": "no reason"})).await;
        assert_eq!((status.as_u16(), code(&body)), (422, "invalid_reason"));
        let (status, body) = report(json!({"reason": "spam", "details": "x".repeat(2001)})).await;
        assert_eq!((status.as_u16(), code(&body)), (422, "details_too_long"));
        let (status, body) = call(&app, Method::POST, &format!("/api/pages/{UNKNOWN}/reports"), None, Some(json!({"reason": "spam"}))).await;
        assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));

        // An unpublished page cannot be reported: for a stranger it is not there.
        let hidden = page_id(&make_page(&app, Some(ANN), "Hidden").await);
        assert_eq!(patch(&app, &hidden, Some(ANN), false).await.0, 200);
        let (status, body) = call(&app, Method::POST, &format!("/api/pages/{hidden}/reports"), None, Some(json!({"reason": "spam"}))).await;
        assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));

        // Four a minute from one IP (refused ones too, but not malformed ones).
        assert_eq!(report(json!({"reason": "other"})).await.0, 202);
        let response = app.client.post(app.url(&path)).json(&json!({"reason": "spam"})).send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "rate_limited");
        app.stop().await;
    }

    async fn the_admin_resolves_reports_and_takes_pages_down(backend: Backend) {
        let app = spawn(backend).await;
        let bad = page_id(&make_page(&app, Some(ANN), "Bad").await);
        let fine = page_id(&make_page(&app, Some(ANN), "Fine").await);
        let file = async |id: &str, reason: &str| {
            let (status, body) = call(&app, Method::POST, &format!("/api/pages/{id}/reports"), None, Some(json!({"reason": reason, "details": format!("{reason} here")}))).await;
            assert_eq!(status, 202, "{body}");
            body["report_id"].as_str().unwrap().to_owned()
        };
        let on_bad = file(&bad, "phishing").await;
        let also_on_bad = file(&bad, "malware").await;
        let on_fine = file(&fine, "spam").await;

        // The queue: admin only.
        assert_eq!(app.get_json("/api/admin/reports").await.0, 401);
        assert_eq!(call(&app, Method::GET, "/api/admin/reports", Some(ANN), None).await.0, 401);
        let (status, queue) = call(&app, Method::GET, "/api/admin/reports?status=open", Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200, "{queue}");
        let reports = queue["reports"].as_array().unwrap();
        let ids: Vec<&str> = reports.iter().map(|r| r["report_id"].as_str().unwrap()).collect();
        assert_eq!(ids, [on_fine.as_str(), also_on_bad.as_str(), on_bad.as_str()]);
        let oldest = &reports[2];
        assert_eq!(oldest["page_id"], bad.as_str());
        assert_eq!(oldest["title"], "Bad");
        assert_eq!(oldest["reason"], "phishing");
        assert_eq!(oldest["details"], "phishing here");
        assert_eq!(oldest["page_reports"], 2);
        assert!(oldest["live_url"].as_str().unwrap().ends_with(&format!("/p/{bad}")));
        assert!(oldest["created_at"].is_string());
        let (status, body) = call(&app, Method::GET, "/api/admin/reports?status=closed", Some(ADMIN_TOKEN), None).await;
        assert_eq!((status.as_u16(), code(&body)), (400, "invalid_parameter"));

        // Dismissed: the page stays; a report resolves once.
        let resolve = |id: String, action: &'static str| {
            let app = &app;
            async move {
                call(app, Method::POST, &format!("/api/admin/reports/{id}/resolve"), Some(ADMIN_TOKEN), Some(json!({"action": action}))).await
            }
        };
        let (status, body) = resolve(on_fine.clone(), "dismiss").await;
        assert_eq!((status.as_u16(), body["resolution"].as_str(), body["page_status"].as_str()), (200, Some("dismiss"), Some("published")));
        assert_eq!(resolve(on_fine.clone(), "takedown").await.0, 409);
        let (status, body) = resolve(UNKNOWN.to_owned(), "dismiss").await;
        assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));
        let (status, body) = resolve(on_bad.clone(), "ban").await;
        assert_eq!((status.as_u16(), code(&body)), (422, "invalid_action"));
        assert_eq!(live(&app, &fine).await.0, 200);

        // Taken down on a report: 410 with the plain page, never cached; all its reports resolved.
        assert_eq!(live(&app, &bad).await.0, 200, "cached before the takedown");
        let (status, body) = resolve(on_bad.clone(), "takedown").await;
        assert_eq!((status.as_u16(), body["page_status"].as_str()), (200, Some("removed")));
        let response = app.get(&format!("/p/{bad}")).await;
        assert_eq!(response.status(), 410);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(response.text().await.unwrap().contains("This page was removed"));
        let (status, meta) = app.get_json(&format!("/api/pages/{bad}")).await;
        assert_eq!((status, meta["status"].as_str()), (200, Some("removed")));
        assert!(meta.get("prompt").is_none(), "a stranger does not see a removed page's prompt");
        let (status, body) = patch(&app, &bad, Some(ANN), true).await;
        assert_eq!((status.as_u16(), code(&body)), (409, "conflict"));
        assert_eq!(patch(&app, &bad, Some(ADMIN_TOKEN), true).await.0, 409);
        let (status, queue) = call(&app, Method::GET, "/api/admin/reports?status=resolved", Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200);
        let resolved: Vec<(&str, &str)> = queue["reports"].as_array().unwrap().iter().map(|r| (r["report_id"].as_str().unwrap(), r["resolution"].as_str().unwrap())).collect();
        assert_eq!(resolved, [(on_fine.as_str(), "dismiss"), (also_on_bad.as_str(), "takedown"), (on_bad.as_str(), "takedown")]);

        // Taken down directly.
        let direct = page_id(&make_page(&app, None, "Direct").await);
        let path = format!("/api/admin/pages/{direct}/takedown");
        assert_eq!(call(&app, Method::POST, &path, None, Some(json!({"reason": "x"}))).await.0, 401);
        let (status, body) = call(&app, Method::POST, &path, Some(ADMIN_TOKEN), Some(json!({"reason": " "}))).await;
        assert_eq!((status.as_u16(), code(&body)), (422, "invalid_reason"));
        let (status, body) = call(&app, Method::POST, &format!("/api/admin/pages/{UNKNOWN}/takedown"), Some(ADMIN_TOKEN), Some(json!({"reason": "x"}))).await;
        assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));
        let (status, body) = call(&app, Method::POST, &path, Some(ADMIN_TOKEN), Some(json!({"reason": "malware download"}))).await;
        assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("removed")));
        assert_eq!(live(&app, &direct).await.0, 410);
        // The owner may still delete a removed page; it stays removed.
        assert_eq!(delete(&app, &bad, Some(ANN)).await.0, 204);
        let (status, html) = live(&app, &bad).await;
        assert_eq!(status, 410);
        assert!(html.contains("This page was removed"));

        let (status, stats) = call(&app, Method::GET, "/api/admin/stats", Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200);
        assert_eq!(stats["moderation"], json!({"open_reports": 0, "resolved_reports": 3, "takedowns": 2}));
        app.stop().await;
    }

    async fn every_served_page_carries_the_report_link_unless_it_is_turned_off(backend: Backend) {
        let app = spawn(backend.clone()).await;
        let id = page_id(&make_page(&app, None, "Linked").await);
        let response = app.get(&format!("/p/{id}")).await;
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let html = response.text().await.unwrap();
        let link = format!("href=\"{}\"", app.url(&format!("/report?page={id}")));
        let at = html.find(&link).unwrap_or_else(|| panic!("{link} in {html}"));
        assert!(at > html.find("<h1>Linked</h1>").unwrap(), "after the page's own body");
        assert!(html[at..].contains(">Report</a></body>"), "last in the body");
        assert!(!html.contains("<script"), "no script");
        assert!(csp.contains("style-src-attr 'unsafe-inline'"), "its style attribute is allowed: {csp}");
        let form = app.get(&format!("/report?page={id}")).await;
        assert_eq!(form.status(), 200);
        assert!(form.text().await.unwrap().contains("Report a page"));
        app.stop().await;

        let app = spawn_with(backend, |config| config.pages.report_link = false).await;
        let id = page_id(&make_page(&app, None, "Unlinked").await);
        let response = app.get(&format!("/p/{id}")).await;
        let unlinked_csp = response.headers()["content-security-policy"].to_str().unwrap();
        assert_eq!(unlinked_csp, csp, "the link changes nothing in the policy");
        let html = response.text().await.unwrap();
        assert!(!html.contains("/report?page="), "{html}");
        app.stop().await;
    }
}

/// Polls `/p/{id}` on `app` until it answers `status`; how long that took, or `None` after two
/// seconds.
async fn answers_within_2s(app: &TestApp, id: &str, status: u16) -> Option<Duration> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(2);
    loop {
        if live(app, id).await.0 == status {
            return Some(started.elapsed());
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Instance `b` serves what `a` changes within two seconds: unpublished, republished, taken
/// down. Each starts from `b` holding the page in its cache, which lives a minute: only the
/// notice can make it change in time.
async fn changes_on_a_reach_b_within_2s(a: &TestApp, b: &TestApp) {
    let id = page_id(&make_page(a, Some(ANN), "Everywhere").await);
    assert_eq!(live(b, &id).await.0, 200, "b caches the page");
    assert_eq!(live(b, &id).await.0, 200);

    assert_eq!(patch(a, &id, Some(ANN), false).await.0, 200);
    let took = answers_within_2s(b, &id, 404).await;
    assert!(
        took.is_some(),
        "b still serves the unpublished page after 2 s"
    );

    assert_eq!(patch(a, &id, Some(ANN), true).await.0, 200);
    assert!(
        answers_within_2s(b, &id, 200).await.is_some(),
        "b does not serve the republished page within 2 s"
    );
    assert_eq!(live(b, &id).await.0, 200, "b caches it again");

    let path = format!("/api/admin/pages/{id}/takedown");
    let (status, _) = call(
        a,
        Method::POST,
        &path,
        Some(ADMIN_TOKEN),
        Some(json!({"reason": "phishing"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        answers_within_2s(b, &id, 410).await.is_some(),
        "b still serves the removed page after 2 s"
    );

    let deleted = page_id(&make_page(a, Some(ANN), "Short-lived").await);
    assert_eq!(live(b, &deleted).await.0, 200);
    assert_eq!(delete(a, &deleted, Some(ANN)).await.0, 204);
    assert!(
        answers_within_2s(b, &deleted, 410).await.is_some(),
        "b still serves the deleted page after 2 s"
    );
}

/// Two instances on one PostgreSQL database, without Redis: the database's `NOTIFY` carries
/// the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_follow_a_change_within_2s() {
    let Some(backend) = postgres_backend() else {
        return;
    };
    let a = spawn(backend).await;
    let b = a
        .spawn_sibling_with(|config| {
            config.server.admin_token = Some(SecretString::from(ADMIN_TOKEN))
        })
        .await;
    changes_on_a_reach_b_within_2s(&a, &b).await;
    b.stop().await;
    a.stop().await;
}

/// Two instances that share Redis but whose database cannot tell them (SQLite: no `NOTIFY`):
/// Redis's notice carries the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_change_reaches_the_other_instance_within_2s() {
    let Some(redis) = redis_url() else {
        return;
    };
    let a = spawn_with(Backend::Sqlite, |config| {
        config.cluster.redis_url = Some(redis.clone().into())
    })
    .await;
    let b = a
        .spawn_sibling_with(|config| {
            config.server.admin_token = Some(SecretString::from(ADMIN_TOKEN));
            config.cluster.redis_url = Some(redis.clone().into());
        })
        .await;
    changes_on_a_reach_b_within_2s(&a, &b).await;
    b.stop().await;
    a.stop().await;
}
