//! Operations: `/metrics` after a scripted workload (parsed by a strict OpenMetrics parser), the
//! admin stats on both backends, and the real binary's JSON logs.

use std::collections::HashSet;
use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use livepage::app::Application;
use livepage::mock::{Content, Script};
use livepage::store::testing::FreshDatabase;
use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use secrecy::SecretString;
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::{
    Backend, TestApp, backend_tests, body, last, read_events, spawn_app, spawn_app_with,
    test_config,
};

const ADMIN_TOKEN: &str = "ops-test-admin-token-7c1e";

/// How long the binary may take to start or to finish writing its logs.
const PROCESS_DEADLINE: Duration = Duration::from_secs(60);

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// An app with an admin token, and without the fallback page, so an upstream refusal is a
/// failure with a code of its own.
async fn spawn_ops_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.generation.fallback = false;
        config.server.admin_token = Some(SecretString::from(ADMIN_TOKEN));
    })
    .await
}

/// What the scripted workload did, as its client saw it.
struct Workload {
    /// The ids of the two generations that made pages, in order.
    completed_ids: Vec<String>,
    /// Their `completed` events' data.
    completed: Vec<Value>,
}

impl Workload {
    fn live_url(&self, index: usize) -> &str {
        self.completed[index]["live_url"].as_str().unwrap()
    }

    fn page_id(&self, index: usize) -> &str {
        self.completed[index]["page_id"].as_str().unwrap()
    }

    fn usage_sum(&self, field: &str) -> f64 {
        self.completed
            .iter()
            .map(|c| c["usage"][field].as_f64().unwrap())
            .fold(0.0, |sum, value| sum + value)
    }
}

/// One generation the upstream refuses (401: `upstream_rejected`), two that make pages, and
/// three views: two of the first page, one of the second.
async fn run_workload(app: &TestApp) -> Workload {
    app.mock.push(Script {
        status: Some(401),
        ..Script::default()
    });
    let refused = app.generate(&body("a page the upstream refuses")).await;
    assert_eq!(last(&refused).data["code"], "upstream_rejected");

    let mut workload = Workload {
        completed_ids: Vec::new(),
        completed: Vec::new(),
    };
    for prompt in ["a landing page for a bakery", "a portfolio for a potter"] {
        let events = app.generate(&body(prompt)).await;
        assert_eq!(last(&events).event, "completed", "{:?}", last(&events));
        let id = events[0].data["generation_id"].as_str().unwrap();
        workload.completed_ids.push(id.to_owned());
        workload.completed.push(last(&events).data.clone());
    }
    for index in [0, 0, 1] {
        let page = app
            .client
            .get(workload.live_url(index))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
    }
    workload
}

/// `GET /metrics` at `url`, parsed; any malformed line fails the parse.
async fn scrape(client: &reqwest::Client, url: &str) -> (Exposition, String) {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let parsed = parse_openmetrics(&text)
        .unwrap_or_else(|err| panic!("/metrics is not valid OpenMetrics ({err:?}):\n{text}"));
    (parsed, text)
}

/// The one sample of `family` whose labels include `labels`.
fn sample<'a>(
    metrics: &'a Exposition,
    family: &str,
    labels: &[(&str, &str)],
) -> &'a OpenMetricsValue {
    let family = metrics
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no metric family {family}"));
    let mut matching = family.iter_samples().filter(|sample| {
        let set = sample.get_labelset().unwrap();
        labels
            .iter()
            .all(|(name, value)| set.get_label_value(name) == Some(*value))
    });
    let found = matching
        .next()
        .unwrap_or_else(|| panic!("no sample of {} with {labels:?}", family.family_name));
    assert!(
        matching.next().is_none(),
        "several samples match {labels:?}"
    );
    &found.value
}

/// A counter's or gauge's value.
fn value(metrics: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(metrics, family, labels) {
        OpenMetricsValue::Counter(counter) => counter.value.as_f64(),
        OpenMetricsValue::Gauge(gauge) => gauge.as_f64(),
        other => panic!("{family} is not a counter or gauge: {other:?}"),
    }
}

/// How many observations a histogram has.
fn observations(metrics: &Exposition, family: &str, labels: &[(&str, &str)]) -> u64 {
    match sample(metrics, family, labels) {
        OpenMetricsValue::Histogram(histogram) => histogram.count.unwrap(),
        other => panic!("{family} is not a histogram: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_scripted_workload_by_outcome_code_and_route_template() {
    let app = spawn_ops_app(Backend::Sqlite).await;
    let workload = run_workload(&app).await;
    let (metrics, text) = scrape(&app.client, &app.url("/metrics")).await;

    assert_eq!(value(&metrics, "livepage_generations_started", &[]), 3.0);
    let finished = "livepage_generations_finished";
    let completed = [("outcome", "completed"), ("code", "")];
    assert_eq!(value(&metrics, finished, &completed), 2.0);
    let refused = [("outcome", "failed"), ("code", "upstream_rejected")];
    assert_eq!(value(&metrics, finished, &refused), 1.0);
    assert_eq!(value(&metrics, "livepage_page_views", &[]), 3.0);
    assert_eq!(value(&metrics, "livepage_generations_running", &[]), 0.0);
    assert_eq!(value(&metrics, "livepage_generations_queued", &[]), 0.0);

    let page_views = [("route", "/p/{id}"), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&metrics, "livepage_http_requests", &page_views), 3.0);
    let latency = "livepage_http_request_duration_seconds";
    assert_eq!(observations(&metrics, latency, &page_views[..2]), 3);
    for index in 0..2 {
        assert!(
            !text.contains(workload.page_id(index)),
            "a raw page path leaked into a label"
        );
    }

    let model = app.config.upstream.model.to_string();
    for (kind, field) in [
        ("prompt", "prompt_tokens"),
        ("completion", "completion_tokens"),
    ] {
        let labels = [("model", model.as_str()), ("kind", kind)];
        let tokens = value(&metrics, "livepage_upstream_tokens", &labels);
        assert_eq!(tokens, workload.usage_sum(field), "{kind} tokens");
    }
    let cost = value(&metrics, "livepage_upstream_cost", &[("model", &model)]);
    assert!((cost - workload.usage_sum("cost")).abs() < 1e-12, "{cost}");
    let deltas = value(&metrics, "livepage_upstream_deltas", &[]);
    assert_eq!(deltas, workload.usage_sum("completion_tokens"));

    let model = [("model", model.as_str())];
    let first_token = "livepage_upstream_first_token_seconds";
    assert_eq!(observations(&metrics, first_token, &model), 2);
    let sanitize = "livepage_sanitize_duration_seconds";
    assert_eq!(observations(&metrics, sanitize, &[("kind", "final")]), 2);
    let database = "livepage_db_query_duration_seconds";
    let inserts = [("operation", "insert_generation")];
    assert_eq!(observations(&metrics, database, &inserts), 3);
    assert_eq!(value(&metrics, "livepage_upstream_retries", &[]), 0.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_and_its_generation_show_in_the_gauges() {
    let app = spawn_app(Backend::Sqlite).await;
    app.mock.push(Script {
        content: Content::Deltas((0..500).map(|i| format!("<p>{i}</p>")).collect()),
        pace: Duration::from_millis(20),
        ..Script::default()
    });
    let response = app.post_generate(&body("a slow page")).await;
    assert_eq!(response.status(), 200);
    let (metrics, _) = scrape(&app.client, &app.url("/metrics")).await;
    assert_eq!(value(&metrics, "livepage_sse_subscribers", &[]), 1.0);
    assert_eq!(value(&metrics, "livepage_generations_running", &[]), 1.0);

    let events = read_until_cancelled(&app, response).await;
    assert_eq!(events.last().unwrap()["code"], "cancelled");
    app.stop().await;
}

/// Reads the stream, cancelling its generation once the first delta arrives.
async fn read_until_cancelled(app: &TestApp, response: reqwest::Response) -> Vec<Value> {
    let mut stream = response.bytes_stream().eventsource();
    let mut events = Vec::new();
    let mut cancelled = false;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        let data: Value = serde_json::from_str(&event.data).unwrap();
        if event.event == "delta" && !cancelled {
            let id = events
                .first()
                .and_then(|started: &Value| started["generation_id"].as_str())
                .unwrap()
                .to_owned();
            let url = app.url(&format!("/api/generations/{id}/cancel"));
            assert_eq!(app.client.post(url).send().await.unwrap().status(), 200);
            cancelled = true;
        }
        events.push(data);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_metrics_address_metrics_are_served_there_and_not_on_the_main_router() {
    let database = FreshDatabase::create(&Backend::Sqlite).await;
    let mut config = test_config(database.url(), "http://127.0.0.1:9/v1/");
    config.server.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.server.addr = listener.local_addr().unwrap();
    let main = format!("http://{}", config.server.addr);
    let app = Application::build(config, listener).await.unwrap();
    let private = format!("http://{}", app.metrics_addr().expect("a metrics listener"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let public = client.get(format!("{main}/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let error: Value = public.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    let health = client.get(format!("{main}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let (metrics, _) = scrape(&client, &format!("{private}/metrics")).await;
    // The main listener's requests are counted; the private one's own are not.
    let not_found = [("route", "unmatched"), ("status", "404")];
    assert_eq!(value(&metrics, "livepage_http_requests", &not_found), 1.0);
    let other = client
        .get(format!("{private}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics is served there");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    database.cleanup().await;
}

backend_tests! {
    async fn admin_stats_match_a_scripted_workload_exactly(backend: Backend) {
        let app = spawn_ops_app(backend).await;
        let workload = run_workload(&app).await;
        let (status, stats) = admin_stats(&app, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{stats}");

        let (first_token, duration) = stored_latencies(&app, &workload).await;
        let model = app.config.upstream.model.to_string();
        for window in ["totals", "last_24h", "last_7d"] {
            let stats = &stats[window];
            assert_eq!(stats["pages"], 2, "{window}");
            assert_eq!(stats["views"], 3, "{window}");
            assert_eq!(stats["models"].as_array().unwrap().len(), 1, "{window}");
            assert_eq!(stats["models"][0]["model"], model.as_str());
            for scope in [stats, &stats["models"][0]] {
                assert_generation_totals(scope, &workload, &first_token, &duration);
            }
        }

        let top = stats["top_pages"].as_array().unwrap();
        assert_eq!(top.len(), 2);
        for (entry, (index, views)) in top.iter().zip([(0, 2), (1, 1)]) {
            assert_eq!(entry["id"], workload.page_id(index));
            assert_eq!(entry["views"], views);
            assert_eq!(entry["live_url"], workload.live_url(index));
            assert_eq!(entry["title"], workload.completed[index]["title"]);
        }
        app.stop().await;
    }
}

/// The numbers of the workload's three generations, as a window or a model shows them.
fn assert_generation_totals(
    scope: &Value,
    workload: &Workload,
    first_token: &[f64],
    duration: &[f64],
) {
    let generations =
        json!({"total": 3, "running": 0, "completed": 2, "failed": 1, "cancelled": 0});
    assert_eq!(scope["generations"], generations);
    assert_eq!(scope["error_codes"], json!({"upstream_rejected": 1}));
    let tokens = json!({
        "prompt": workload.usage_sum("prompt_tokens") as u64,
        "completion": workload.usage_sum("completion_tokens") as u64,
    });
    assert_eq!(scope["tokens"], tokens);
    assert_close(&scope["cost"], workload.usage_sum("cost"));
    for (field, values) in [("first_token_ms", first_token), ("duration_ms", duration)] {
        assert_close(&scope[field]["p50"], percentile(values, 0.5));
        assert_close(&scope[field]["p95"], percentile(values, 0.95));
    }
}

/// Equal up to float parsing: serde_json (without `float_roundtrip`) may read a number one unit
/// in the last place away from the value that was written, so JSON floats are compared within
/// a hair rather than bit for bit.
fn assert_close(actual: &Value, expected: f64) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("a number, got {actual}"));
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} != {expected}"
    );
}

/// PostgreSQL's `percentile_cont`: linear interpolation between the two nearest ranks.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = p * (sorted.len() - 1) as f64;
    let below = position.floor();
    let lo = sorted[below as usize];
    match sorted.get(below as usize + 1) {
        Some(hi) if position > below => lo + (position - below) * (hi - lo),
        _ => lo,
    }
}

/// The stored first-token times and durations of the workload's completed generations.
async fn stored_latencies(app: &TestApp, workload: &Workload) -> (Vec<f64>, Vec<f64>) {
    let mut first_token = Vec::new();
    let mut duration = Vec::new();
    for id in &workload.completed_ids {
        let (status, generation) = app.get_json(&format!("/api/generations/{id}")).await;
        assert_eq!(status, 200);
        first_token.push(generation["first_token_ms"].as_f64().unwrap());
        duration.push(generation["duration_ms"].as_f64().unwrap());
    }
    (first_token, duration)
}

async fn admin_stats(app: &TestApp, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url("/api/admin/stats"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_need_the_configured_bearer_token() {
    let app = spawn_ops_app(Backend::Sqlite).await;
    for token in [
        None,
        Some("not-the-token"),
        Some("ops-test-admin-token-7c1"),
    ] {
        let response = match token {
            Some(token) => app
                .client
                .get(app.url("/api/admin/stats"))
                .bearer_auth(token),
            None => app.client.get(app.url("/api/admin/stats")),
        }
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "unauthorized");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_token_the_admin_api_is_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    assert!(app.config.server.admin_token.is_none());
    let (status, error) = admin_stats(&app, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_and_carry_the_generation_and_request_spans() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("livepage.db").display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"))
        .env_clear()
        .env("LIVEPAGE_LOG_FORMAT", "json")
        .env("LIVEPAGE_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &database_url)
        .env("LIVEPAGE_DEMO_PACE", "0ms")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the livepage binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut logs = Vec::new();
    let address = loop {
        let line = tokio::time::timeout(PROCESS_DEADLINE, lines.next_line())
            .await
            .expect("the server starts in time")
            .unwrap()
            .expect("the server logs `listening` before exiting");
        let entry = log_entry(&line);
        logs.push(entry.clone());
        if entry["message"] == "listening" {
            break entry["addr"]
                .as_str()
                .expect("`listening` has addr")
                .to_owned();
        }
    };

    let response = reqwest::Client::new()
        .post(format!("http://{address}/api/generate"))
        .header("x-request-id", "ops-log-test-1")
        .json(&body("a page for the log test"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "ops-log-test-1");
    let events = read_events(response).await;
    assert_eq!(last(&events).event, "completed");
    let generation_id = events[0].data["generation_id"].as_str().unwrap();

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    while let Some(line) = tokio::time::timeout(PROCESS_DEADLINE, lines.next_line())
        .await
        .expect("stdout closes once the process is gone")
        .unwrap()
    {
        logs.push(log_entry(&line));
    }

    let saved = logs
        .iter()
        .find(|entry| entry["message"] == "page saved")
        .expect("a `page saved` line");
    assert_eq!(saved["span"]["name"], "generation");
    assert_eq!(saved["span"]["id"], generation_id);
    let request = saved["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["name"] == "request")
        .expect("the generation runs in the span of the request that started it");
    assert_eq!(request["request_id"], "ops-log-test-1");
    assert_eq!(request["route"], "/api/generate");
    let finished = logs
        .iter()
        .find(|entry| entry["span"]["route"] == "/api/generate" && entry["status"] == 200)
        .expect("a response line for the request");
    assert_eq!(finished["span"]["method"], "POST");
}

/// One stdout line: a JSON object with distinct keys, a level, and a message or fields.
fn log_entry(line: &str) -> Value {
    let entry: Value =
        serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}"));
    if let Err(err) = serde_json::from_str::<DistinctKeys>(line) {
        panic!("{err}: {line}");
    }
    let level = entry["level"].as_str().unwrap_or_default();
    assert!(
        ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
        "no level: {line}"
    );
    assert!(
        entry["message"].is_string() || entry["fields"].is_object(),
        "no message: {line}"
    );
    entry
}

/// A JSON object whose keys are all distinct. `serde_json::Value` silently keeps the last of
/// two equal keys, and so do many log pipelines: a field named like one the formatter writes
/// (`message`, `level`, …) would hide it.
struct DistinctKeys;

impl<'de> Deserialize<'de> for DistinctKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DistinctKeys)
    }
}

impl<'de> Visitor<'de> for DistinctKeys {
    type Value = DistinctKeys;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(DistinctKeys)
    }
}
