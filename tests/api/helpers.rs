//! The test harness: a real LivePage server on a real port, a real database of its own, and the
//! mock upstream on another real port, all in this process; and a client that reads the event
//! stream the way a browser does.

use std::net::SocketAddr;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use livepage::app::Application;
use livepage::config::Config;
use livepage::mock::{Content, MockUpstream, Script};
pub use livepage::store::testing::Backend;
use livepage::store::testing::{FreshDatabase, POSTGRES_URL_VAR};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The API key the tests configure; it must never show up in an event or a response.
pub const API_KEY: &str = "sk-or-test-4f1d9c2e-never-leak-me";

/// Declares an async test body `fn(Backend)` and runs it once per storage backend, as
/// `name::sqlite` and `name::postgres`. The PostgreSQL case runs when `LIVEPAGE_TEST_POSTGRES_URL`
/// is set; otherwise it says it was skipped — and fails in CI, where it must run.
macro_rules! backend_tests {
    ($(async fn $name:ident($backend:ident: $backend_type:ty) $body:block)+) => {$(
        async fn $name($backend: $backend_type) $body

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::postgres_backend() {
                    super::$name(backend).await;
                }
            }
        }
    )+};
}
pub(crate) use backend_tests;

/// The PostgreSQL backend when configured; in CI its absence is a failure, not a skip.
pub fn postgres_backend() -> Option<Backend> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(admin_url) if !admin_url.trim().is_empty() => Some(Backend::Postgres { admin_url }),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{POSTGRES_URL_VAR} must be set in CI: the PostgreSQL tests may not be skipped")
        }
        _ => {
            eprintln!(
                "SKIPPED: {POSTGRES_URL_VAR} is not set, so this PostgreSQL case did not run"
            );
            None
        }
    }
}

/// The variable that names the Redis the cross-instance tests use.
pub const REDIS_URL_VAR: &str = "LIVEPAGE_TEST_REDIS_URL";

/// The Redis to share generations through, when configured; in CI its absence is a failure.
pub fn redis_url() -> Option<String> {
    match std::env::var(REDIS_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{REDIS_URL_VAR} must be set in CI: the cross-instance tests may not be skipped")
        }
        _ => {
            eprintln!(
                "SKIPPED: {REDIS_URL_VAR} is not set, so this cross-instance case did not run"
            );
            None
        }
    }
}

/// A running LivePage with its own database and mock upstream.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub mock: MockUpstream,
    pub config: Config,
    database: Option<FreshDatabase>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _mock_server: JoinHandle<()>,
}

/// Settings for tests: fast retries and timeouts, quick flushes, the mock as upstream.
pub fn test_config(database_url: &str, mock_url: &str) -> Config {
    let mut config = Config::defaults();
    config.storage.database_url = database_url.to_owned();
    config.cluster.redis_url = None;
    config.upstream.openrouter_base_url = mock_url.parse().expect("mock URL");
    config.upstream.openrouter_api_key = Some(SecretString::from(API_KEY));
    config.server.public_url = None;
    config.server.pages_url = None;
    config.generation.retry_base = Duration::from_millis(10);
    config.generation.retry_max = Duration::from_millis(100);
    config.generation.first_token_timeout = Duration::from_secs(5);
    config.generation.idle_timeout = Duration::from_secs(5);
    config.storage.view_flush_interval = Duration::from_millis(50);
    config.server.shutdown_grace = Duration::from_secs(5);
    config.rate_limits.rate_limit_per_ip = 0;
    config.rate_limits.rate_limit_per_email = 0;
    config
}

/// With `TEST_LOG` set (e.g. `TEST_LOG=debug`), the servers' logs go to the test output.
fn init_test_logging() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}

/// Spawns an app on `backend` with the test configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns an app on `backend`, letting the test adjust the configuration first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    let database = FreshDatabase::create(&backend).await;
    let mut app = spawn_on(database.url(), configure).await;
    app.database = Some(database);
    app
}

/// Spawns an app (and a mock upstream of its own) on an existing database.
pub async fn spawn_on(database_url: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    init_test_logging();
    let mock = MockUpstream::new(Script::default());
    let (mock_url, mock_server) = mock.spawn().await.expect("the mock upstream starts");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let address = listener.local_addr().expect("app addr");
    let mut config = test_config(database_url, mock_url.as_str());
    config.server.addr = address;
    configure(&mut config);

    let app = Application::build(config.clone(), listener)
        .await
        .expect("the app builds");
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    TestApp {
        address,
        client: reqwest::Client::new(),
        mock,
        config,
        database: None,
        shutdown: Some(shutdown),
        server: Some(server),
        _mock_server: mock_server,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Another instance on the same database, as when several run behind a load balancer.
    pub async fn spawn_sibling(&self) -> TestApp {
        self.spawn_sibling_with(|_| {}).await
    }

    /// Another instance on the same database, configured by `configure` too.
    pub async fn spawn_sibling_with(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let public_url = self.url("/").parse().expect("the app's URL");
        spawn_on(self.database().url(), |config| {
            config.server.public_url = Some(public_url);
            configure(config);
        })
        .await
    }

    /// Asks the server to shut down gracefully, without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    pub fn database(&self) -> &FreshDatabase {
        self.database
            .as_ref()
            .expect("the database lives as long as the app")
    }

    /// `POST /api/generate` with a JSON body.
    pub async fn post_generate(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/generate"))
            .json(body)
            .send()
            .await
            .expect("POST /api/generate")
    }

    /// Starts a generation and reads its whole stream.
    pub async fn generate(&self, body: &Value) -> Vec<SseEvent> {
        let response = self.post_generate(body).await;
        assert_eq!(
            response.status(),
            200,
            "POST /api/generate answered {}",
            response.status()
        );
        read_events(response).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// Stops the server gracefully, then removes its database.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
        if let Some(database) = self.database.take() {
            database.cleanup().await;
        }
    }
}

/// A model answer of `n` deltas `<p>part {i}</p>`, one every `pace_ms`.
pub fn paced(n: usize, pace_ms: u64) -> Script {
    Script {
        content: Content::Deltas((0..n).map(|i| format!("<p>part {i}</p>")).collect()),
        pace: Duration::from_millis(pace_ms),
        ..Script::default()
    }
}

/// The text of [`paced`]`(n, …)`.
pub fn expected(n: usize) -> String {
    (0..n).map(|i| format!("<p>part {i}</p>")).collect()
}

/// A generation request body with sensible defaults.
pub fn body(prompt: &str) -> Value {
    json!({ "email": "ann@example.com", "prompt": prompt, "page_type": "landing", "theme": "modern" })
}

/// One received SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

impl SseEvent {
    pub fn text(&self) -> &str {
        self.data["text"].as_str().unwrap_or_default()
    }
}

/// Reads an SSE response to its end, as a client would.
pub async fn read_events(response: reqwest::Response) -> Vec<SseEvent> {
    let mut stream = response.bytes_stream().eventsource();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.expect("a well-formed SSE stream");
        events.push(SseEvent {
            id: event
                .id
                .parse()
                .unwrap_or_else(|_| panic!("numeric id, got {:?}", event.id)),
            data: serde_json::from_str(&event.data)
                .unwrap_or_else(|_| panic!("JSON data, got {:?}", event.data)),
            event: event.event,
        });
    }
    events
}

/// The concatenated `delta` texts.
pub fn deltas(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(SseEvent::text)
        .collect()
}

/// The last event, which must be the terminal one.
pub fn last(events: &[SseEvent]) -> &SseEvent {
    events.last().expect("at least one event")
}

/// Event names in order, with runs of `delta`/`progress` collapsed, for readable assertions.
pub fn outline(events: &[SseEvent]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for event in events {
        if names.last() != Some(&event.event)
            || !matches!(event.event.as_str(), "delta" | "progress" | "preview")
        {
            names.push(event.event.clone());
        }
    }
    names
}

/// The real `livepage` binary, running as a child process with JSON logs.
pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub address: SocketAddr,
    /// The rest of its stdout, one JSON log line each, until [`collect_logs`](Self::collect_logs).
    logs: Option<tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>>,
}

impl ServerProcess {
    /// Starts the binary with `env` on an ephemeral port and waits for its `listening` line.
    pub async fn start(env: &[(&str, &str)]) -> ServerProcess {
        Self::start_with(env, None).await
    }

    /// [`start`](Self::start), under an open-file limit (soft and hard `RLIMIT_NOFILE`) of
    /// `open_files`: the process can raise it no further.
    pub async fn start_with_open_files(env: &[(&str, &str)], open_files: u64) -> ServerProcess {
        Self::start_with(env, Some(open_files)).await
    }

    async fn start_with(env: &[(&str, &str)], open_files: Option<u64>) -> ServerProcess {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"));
        if let Some(limit) = open_files {
            // SAFETY: between fork and exec only setrlimit(2) runs, which is async-signal-safe
            // and allocates nothing.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
            }
        }
        let mut child = command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LIVEPAGE_ADDR", "127.0.0.1:0")
            .env("LIVEPAGE_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the livepage binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut logs = tokio::io::BufReader::new(stdout).lines();
        let address = loop {
            let line = logs
                .next_line()
                .await
                .expect("read the log")
                .expect("the server logs `listening` before exiting");
            let entry: Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("a JSON log line, got {line:?}"));
            if entry["message"] == "listening" {
                break entry["addr"]
                    .as_str()
                    .expect("listening has addr")
                    .parse()
                    .expect("a socket address");
            }
        };
        ServerProcess {
            child,
            address,
            logs: Some(logs),
        }
    }

    /// Reads the rest of the log as it comes, so that the process never blocks on a full pipe;
    /// the task gives its lines once the process has exited.
    pub fn collect_logs(&mut self) -> JoinHandle<Vec<String>> {
        let mut lines = self.logs.take().expect("the log is collected once");
        tokio::spawn(async move {
            let mut all = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                all.push(line);
            }
            all
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Sends a signal (`TERM`, `INT`, …) to the process.
    pub async fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = tokio::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }
}
