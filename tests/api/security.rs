//! Security: the upstream API key never leaves the process, every kind of response is served
//! under the headers of docs/ARCHITECTURE.md, "Serving a page" (live pages per style mode, the UI, the API), and the
//! upstream chunk parser takes whatever a hostile upstream sends without panicking.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use livepage::mock::{Content, Fault, MockUpstream, Script};
use livepage::sanitize::{PageStyles, Styles, TAILWIND_CDN_URL, styles_of};
use livepage::upstream::chunk;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;

use crate::helpers::{API_KEY, Backend, TestApp, body, last, spawn_app, spawn_app_with, spawn_on};

// ---------------------------------------------------------------------------------------------
// The API key

/// The real binary with every log line it writes, on stdout and stderr.
struct LoggedServer {
    child: tokio::process::Child,
    base: String,
    output: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl LoggedServer {
    /// Starts the binary on an ephemeral port with the most verbose logging, and waits for
    /// its `listening` line.
    async fn start(env: &[(&str, &str)]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LIVEPAGE_ADDR", "127.0.0.1:0")
            .env("LIVEPAGE_LOG_FORMAT", "json")
            // Everything any crate logs, ours and the HTTP client's included.
            .env("RUST_LOG", "trace")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the livepage binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            tokio::spawn(collect(stdout, Arc::clone(&output), Some(listening_tx))),
            tokio::spawn(collect(stderr, Arc::clone(&output), None)),
        ];
        let address = tokio::time::timeout(Duration::from_secs(30), listening_rx)
            .await
            .expect("the server logs `listening` within 30 s")
            .expect("the server logs `listening` before exiting");
        LoggedServer {
            child,
            base: format!("http://{address}"),
            output,
            readers,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server with SIGTERM and returns all it wrote.
    async fn stop(mut self) -> String {
        let pid = self.child.id().expect("still running").to_string();
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server exits after SIGTERM")
            .unwrap();
        assert_eq!(exit.code(), Some(0));
        for reader in self.readers {
            reader.await.unwrap();
        }
        self.output.lock().unwrap().clone()
    }
}

/// Appends every line of `stream` to `output`; sends the address of the `listening` line.
async fn collect(
    stream: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    mut listening: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(entry) = serde_json::from_str::<Value>(&line)
            .ok()
            .filter(|entry| entry["message"] == "listening")
            && let Some(sender) = listening.take()
        {
            let _ = sender.send(entry["addr"].as_str().unwrap_or_default().to_owned());
        }
        let mut output = output.lock().unwrap();
        output.push_str(&line);
        output.push('\n');
    }
}

/// An upstream whose error messages quote the key it was sent, as some providers and proxies
/// do ("Incorrect API key provided: sk-…"). In turn, it rejects a request outright (401), breaks
/// a stream off after the first delta with an error chunk, and with an error that is a bare
/// string (`{"error": "…"}`), which is no chunk at all: the parser's message quotes it.
async fn spawn_key_echoing_upstream() -> String {
    async fn echo(State(requests): State<Arc<AtomicUsize>>, headers: HeaderMap) -> Response {
        let sent = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .trim_start_matches("Bearer ")
            .to_owned();
        let message = format!("Incorrect API key provided: {sent}");
        let error = match requests.fetch_add(1, Ordering::SeqCst) % 3 {
            0 => {
                let error = json!({"error": {"message": message, "code": 401}});
                return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
            }
            1 => json!({"id": "gen-1", "error": {"message": message, "code": 401},
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}),
            _ => json!({"error": message}),
        };
        let delta = json!({"id": "gen-1", "choices": [{"index": 0,
            "delta": {"role": "assistant", "content": "<html><body><p>Hi"},
            "finish_reason": null}]});
        let body = format!("data: {delta}\n\ndata: {error}\n\ndata: [DONE]\n\n");
        ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/chat/completions", post(echo))
        .with_state(Arc::new(AtomicUsize::new(0)));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/")
}

/// One generation over HTTP: the raw event stream and the id of its generation.
async fn generate_raw(
    client: &reqwest::Client,
    server: &LoggedServer,
    prompt: &str,
) -> (String, String) {
    let mut request = body(prompt);
    request["preview"] = json!(true);
    let response = client
        .post(server.url("/api/generate"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = response.text().await.unwrap();
    let started = stream
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .and_then(|data| serde_json::from_str::<Value>(data).ok())
        .expect("a started event");
    let id = started["generation_id"].as_str().unwrap().to_owned();
    (stream, id)
}

/// A response's headers and body, as text.
async fn fetch(client: &reqwest::Client, url: String) -> String {
    let response = client.get(url).send().await.unwrap();
    let headers = format!("{:?}", response.headers());
    format!("{headers}\n{}\n", response.text().await.unwrap())
}

/// Everything a client can read about the generation `id`: its status, its replayed events
/// and, when it made one, its page (metadata and the live page itself).
async fn everything_about(client: &reqwest::Client, server: &LoggedServer, id: &str) -> String {
    let status: Value = client
        .get(server.url(&format!("/api/generations/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen = status.to_string();
    seen += &fetch(client, server.url(&format!("/api/generations/{id}/events"))).await;
    if let Some(page_id) = status["page_id"].as_str() {
        seen += &fetch(client, server.url(&format!("/api/pages/{page_id}"))).await;
        seen += &fetch(client, server.url(&format!("/p/{page_id}"))).await;
    }
    seen
}

/// Every file under `dir`, as lossy text.
fn files_under(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            text += &String::from_utf8_lossy(&std::fs::read(&path).unwrap());
        }
    }
    text
}

fn assert_no_key(what: &str, text: &str) {
    let key_part = &API_KEY[API_KEY.len() - 16..];
    assert!(
        !text.contains(API_KEY) && !text.contains(key_part),
        "the API key appears in {what}:\n{}",
        text.lines()
            .filter(|line| line.contains(key_part))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_never_appears_in_logs_events_responses_or_the_database() {
    let mock = MockUpstream::new(Script::default());
    let (mock_url, _mock) = mock.spawn().await.unwrap();
    let page = |title: &str| {
        Content::Deltas(vec![
            format!("<html><head><title>{title}</title></head><body><h1 class=\"p-4\">"),
            format!("{title}</h1></body></html>"),
        ])
    };
    let scripts = [
        Script {
            content: page("Works"),
            ..Script::default()
        },
        Script {
            status: Some(401),
            ..Script::default()
        },
        Script {
            status: Some(503),
            ..Script::default()
        },
        Script {
            status: Some(503),
            ..Script::default()
        },
        Script {
            content: page("Breaks"),
            fault: Some(Fault::MidStreamError {
                after: 1,
                empty_choices: false,
            }),
            ..Script::default()
        },
        Script {
            content: page("Garbles"),
            fault: Some(Fault::Malformed { after: 1 }),
            ..Script::default()
        },
    ];
    for script in scripts {
        mock.push(script);
    }
    let echo_url = spawn_key_echoing_upstream().await;
    let database_dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}",
        database_dir.path().join("livepage.db").display()
    );
    let settings = |base_url: &str, fallback: &str| {
        vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("OPENROUTER_API_KEY".to_owned(), API_KEY.to_owned()),
            ("OPENROUTER_BASE_URL".to_owned(), base_url.to_owned()),
            ("LIVEPAGE_MAX_ATTEMPTS".to_owned(), "2".to_owned()),
            ("LIVEPAGE_RETRY_BASE".to_owned(), "10ms".to_owned()),
            ("LIVEPAGE_FALLBACK".to_owned(), fallback.to_owned()),
            ("LIVEPAGE_RATE_LIMIT_PER_IP".to_owned(), "0".to_owned()),
            ("LIVEPAGE_RATE_LIMIT_PER_EMAIL".to_owned(), "0".to_owned()),
        ]
    };
    let client = reqwest::Client::new();
    let mut seen = String::new();
    let mut terminals = Vec::new();
    for (base_url, fallback, runs) in [
        (mock_url.as_str(), "true", 5),
        (echo_url.as_str(), "false", 3),
    ] {
        let env = settings(base_url, fallback);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = LoggedServer::start(&env).await;
        for run in 0..runs {
            let (stream, id) = generate_raw(&client, &server, &format!("a page, try {run}")).await;
            terminals.push(terminal_of(&stream));
            seen += &stream;
            seen += &everything_about(&client, &server, &id).await;
        }
        for path in [
            "/api/history?email=ann@example.com",
            "/metrics",
            "/readyz",
            "/api/options",
            "/",
        ] {
            seen += &fetch(&client, server.url(path)).await;
        }
        let logs = server.stop().await;
        assert!(
            logs.contains("\"level\":\"TRACE\"") && logs.contains("generation failed"),
            "verbose logs of failures were written:\n{logs}"
        );
        assert_no_key("the server's output", &logs);
    }

    assert_eq!(
        terminals,
        [
            "completed",
            // With the fallback on, failing before the first token gives the fallback page.
            "completed fallback",
            "completed fallback",
            "error upstream_error",
            "error upstream_protocol",
            "error upstream_rejected",
            "error upstream_error",
            "error upstream_protocol",
        ],
        "every way of ending was exercised"
    );
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {API_KEY}"))),
        "the key was really sent upstream"
    );
    assert!(
        seen.contains("Incorrect API key provided: [redacted]"),
        "the echoing upstream was heard, its quote of the key blanked out"
    );
    assert_no_key("events and responses", &seen);
    assert_no_key("the database", &files_under(database_dir.path()));
}

/// `completed` (with ` fallback` when it was the fallback page) or `error {code}`.
fn terminal_of(stream: &str) -> String {
    let mut terminal = String::new();
    let mut event = "";
    for line in stream.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            let data: Value = serde_json::from_str(data).unwrap_or_default();
            terminal = match event {
                "completed" if data["fallback"] == true => "completed fallback".to_owned(),
                "completed" => "completed".to_owned(),
                "error" => format!("error {}", data["code"].as_str().unwrap_or_default()),
                _ => continue,
            };
        }
    }
    terminal
}

// ---------------------------------------------------------------------------------------------
// Headers

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header on {}", response.url()))
        .to_str()
        .unwrap()
}

/// Generates a small styled page and returns its `completed` data.
async fn make_page(app: &TestApp) -> Value {
    app.mock.push(Script {
        content: Content::Deltas(vec![
            "<html lang=\"en\" class=\"scroll-smooth\"><head><title>Crumb</title>".into(),
            "<script>alert(1)</script></head><body class=\"bg-slate-50\">".into(),
            "<h1 class=\"text-4xl md:text-6xl bg-gradient-to-r from-indigo-600 to-pink-500\">"
                .into(),
            "Crumb</h1><p style=\"color: red\">Bread</p></body></html>".into(),
        ]),
        ..Script::default()
    });
    let events = app.generate(&body("a bakery called Crumb")).await;
    let completed = last(&events);
    assert_eq!(completed.event, "completed", "{events:#?}");
    completed.data.clone()
}

fn style_hash(css: &str) -> String {
    let digest = Sha256::digest(css.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The headers every live page gets, whatever its styles.
fn assert_page_basics(response: &reqwest::Response) {
    let csp = header(response, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "img-src https: data:",
        "font-src 'self' https: data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(csp.starts_with("sandbox"), "{csp}");
    assert!(!csp.contains("allow-same-origin"), "{csp}");
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert!(
        response.headers().get("x-frame-options").is_none(),
        "pages may be embedded"
    );
    assert!(response.headers().get("etag").is_some());
}

#[tokio::test]
async fn a_compiled_page_runs_no_script_and_allows_only_its_own_stylesheet() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(
        app.config.pages.styles,
        Styles::Compiled,
        "compiled styles are the default"
    );
    let page = make_page(&app).await;
    let response = app
        .get(&format!("/p/{}", page["page_id"].as_str().unwrap()))
        .await;
    assert_eq!(response.status(), 200);
    assert_page_basics(&response);
    let csp = header(&response, "content-security-policy").to_owned();
    let document = response.text().await.unwrap();

    let PageStyles::Inline(css) = styles_of(&document) else {
        panic!("a compiled page has its stylesheet inline:\n{document}");
    };
    assert!(
        css.contains(".md\\:text-6xl") && css.contains(".bg-gradient-to-r"),
        "{css}"
    );
    assert!(csp.starts_with("sandbox; "), "no allow-scripts: {csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert!(
        csp.contains(&format!("style-src {};", style_hash(css))),
        "{csp}"
    );
    assert!(csp.contains("style-src-attr 'unsafe-inline'"), "{csp}");
    assert!(!document.contains("<script"), "{document}");
    assert!(document.contains("<html lang=\"en\" class=\"scroll-smooth\">"));

    let (_, meta) = app
        .get_json(&format!("/api/pages/{}", page["page_id"].as_str().unwrap()))
        .await;
    assert_eq!(meta["meta_data"]["styles"], "compiled");
    app.stop().await;
}

#[tokio::test]
async fn a_cdn_page_may_run_only_the_pinned_tailwind_script() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.pages.styles = Styles::Cdn).await;
    let page = make_page(&app).await;
    let response = app
        .client
        .get(page["live_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_page_basics(&response);
    let csp = header(&response, "content-security-policy").to_owned();
    assert!(csp.starts_with("sandbox allow-scripts; "), "{csp}");
    assert!(
        csp.contains(&format!("script-src {TAILWIND_CDN_URL};")),
        "{csp}"
    );
    let document = response.text().await.unwrap();
    assert_eq!(styles_of(&document), PageStyles::Cdn);
    assert_eq!(document.matches("<script").count(), 1, "{document}");
    let (_, meta) = app
        .get_json(&format!("/api/pages/{}", page["page_id"].as_str().unwrap()))
        .await;
    assert_eq!(meta["meta_data"]["styles"], "cdn");
    app.stop().await;
}

#[tokio::test]
async fn the_policy_follows_how_the_stored_page_was_built_not_the_current_setting() {
    let app = spawn_app(Backend::Sqlite).await;
    let compiled = make_page(&app).await;
    let cdn_instance = spawn_on(app.database().url(), |config| {
        config.pages.styles = Styles::Cdn
    })
    .await;
    let cdn = make_page(&cdn_instance).await;
    for (instance, page, expected) in [
        (&cdn_instance, &compiled, "sandbox; "),
        (&app, &cdn, "sandbox allow-scripts; "),
    ] {
        let path = format!("/p/{}", page["page_id"].as_str().unwrap());
        let response = instance.get(&path).await;
        let csp = header(&response, "content-security-policy");
        assert!(csp.starts_with(expected), "{path}: {csp}");
        // A revalidation answers with the same policy.
        let etag = header(&response, "etag").to_owned();
        let again = instance
            .client
            .get(instance.url(&path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(header(&again, "content-security-policy"), csp);
    }
    cdn_instance.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn the_ui_is_served_under_a_strict_policy_and_cannot_be_framed() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/", "/assets/app.js"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let csp = header(&response, "content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "frame-src 'self'",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: CSP lacks {directive}: {csp}"
            );
        }
        assert!(
            !csp.contains("'unsafe-eval'") && !csp.contains("script-src 'self' 'unsafe-inline'")
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "referrer-policy"), "no-referrer");
        assert_eq!(
            header(&response, "cross-origin-opener-policy"),
            "same-origin"
        );
        assert!(header(&response, "permissions-policy").contains("camera=()"));
        // The UI's own caching is left alone.
        assert_eq!(header(&response, "cache-control"), "no-cache");
    }
    app.stop().await;
}

#[tokio::test]
async fn icon_fonts_are_served_to_pages_of_any_origin() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/fonts/material-symbols-outlined.woff2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "font/woff2");
    // A page is a sandboxed document with an opaque origin: its font loads are cross-origin.
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&response, "cross-origin-resource-policy"),
        "cross-origin"
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let etag = header(&response, "etag").to_owned();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"wOF2", "a WOFF2 file");

    let again = app
        .client
        .get(app.url("/fonts/material-symbols-outlined.woff2"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let missing = app.get("/fonts/../Cargo.toml").await;
    assert_eq!(missing.status(), 404);
    let missing = app.get("/fonts/comic-sans.woff2").await;
    assert_eq!(missing.status(), 404);
    let (_, error) = app.get_json("/fonts/comic-sans.woff2").await;
    assert_eq!(error["error"]["code"], "not_found", "{error}");
    app.stop().await;
}

#[tokio::test]
async fn api_responses_are_not_cached_framed_or_rendered() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = make_page(&app).await;
    let page_id = page["page_id"].as_str().unwrap();
    let generation =
        app.get_json(&format!("/api/pages/{page_id}")).await.1["meta_data"]["generation_id"]
            .as_str()
            .unwrap()
            .to_owned();
    for path in [
        format!("/api/generations/{generation}"),
        format!("/api/pages/{page_id}"),
        "/api/history?email=ann@example.com".to_owned(),
        "/api/nothing-here".to_owned(),
        "/healthz".to_owned(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(header(&response, "cache-control"), "no-store", "{path}");
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(
            header(&response, "content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header(&response, "cross-origin-resource-policy"),
            "same-origin",
            "{path}"
        );
    }
    // An event stream keeps the `no-cache` SSE asks for.
    let events = app
        .get(&format!("/api/generations/{generation}/events"))
        .await;
    assert_eq!(header(&events, "cache-control"), "no-cache");
    assert_eq!(header(&events, "x-frame-options"), "DENY");
    app.stop().await;
}

/// A page's link gets shared, and so may a generation's: nothing reachable from either names
/// the person who made it.
#[tokio::test]
async fn a_shared_link_does_not_reveal_who_made_the_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = make_page(&app).await;
    let page_id = page["page_id"].as_str().unwrap();
    let (_, meta) = app.get_json(&format!("/api/pages/{page_id}")).await;
    let generation = meta["meta_data"]["generation_id"].as_str().unwrap();
    let mut seen = meta.to_string();
    for path in [
        format!("/p/{page_id}"),
        format!("/api/generations/{generation}"),
        format!("/api/generations/{generation}/events"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        seen += &response.text().await.unwrap();
    }
    assert!(
        seen.contains(generation) && seen.contains("Crumb"),
        "{seen}"
    );
    assert!(!seen.to_lowercase().contains("ann@example.com"), "{seen}");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A hostile upstream: the chunk parser

/// Field names of real chunks, so that generated objects hit the parser's paths.
const CHUNK_KEYS: &[&str] = &[
    "choices",
    "delta",
    "content",
    "role",
    "reasoning",
    "finish_reason",
    "native_finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "error",
    "code",
    "message",
    "index",
    "id",
    "x",
];

/// Any JSON value, with chunk field names as object keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::from),
        prop::sample::select(&["stop", "length", "error", "", "[DONE]"][..]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(CHUNK_KEYS), inner), 0..5).prop_map(
                |fields| Value::Object(
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )
            ),
        ]
    })
}

/// A chunk's shape with any value in each of its fields.
fn chunk_like() -> impl Strategy<Value = Value> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(content, finish, native, usage, error)| {
            json!({
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish,
                             "native_finish_reason": native}],
                "usage": usage,
                "error": error,
            })
        })
}

fn parse_never_panics(data: &[u8]) {
    if let Ok(parsed) = chunk::parse(data) {
        assert!(parsed.content.is_none_or(|content| !content.is_empty()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_chunk_parser_takes_any_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_never_panics(&data);
    }

    #[test]
    fn the_chunk_parser_takes_any_json(value in json_value()) {
        parse_never_panics(value.to_string().as_bytes());
    }

    #[test]
    fn the_chunk_parser_takes_chunks_with_any_field_values(value in chunk_like()) {
        parse_never_panics(value.to_string().as_bytes());
    }
}
