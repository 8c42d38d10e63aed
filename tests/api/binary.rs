//! The real binary: start-up checks and graceful shutdown on a signal.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use livepage::mock::{Content, MockUpstream, Script};
use livepage::store::StoreOptions;
use livepage::store::testing::{Backend, FreshDatabase};

use crate::helpers::{API_KEY, ServerProcess, body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_streaming_generation_finish_then_exits_cleanly() {
    let mock = MockUpstream::new(Script::default());
    let (mock_url, _mock) = mock.spawn().await.unwrap();
    mock.push(Script {
        content: Content::Deltas((0..40).map(|i| format!("<p>{i}</p>")).collect()),
        pace: Duration::from_millis(20),
        ..Script::default()
    });
    let database = FreshDatabase::create(&Backend::Sqlite).await;
    let mut server = ServerProcess::start(&[
        ("DATABASE_URL", database.url()),
        ("OPENROUTER_API_KEY", API_KEY),
        ("OPENROUTER_BASE_URL", mock_url.as_str()),
        ("LIVEPAGE_SHUTDOWN_GRACE", "20s"),
    ])
    .await;

    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/api/generate"))
        .json(&body("a bakery"))
        .send()
        .await
        .unwrap();
    let mut events = response.bytes_stream().eventsource();
    while events.next().await.unwrap().unwrap().event != "delta" {}

    server.signal("TERM").await;
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event.unwrap());
    }
    let completed = last.expect("events after SIGTERM");
    assert_eq!(completed.event, "completed", "{}", completed.data);
    let data: serde_json::Value = serde_json::from_str(&completed.data).unwrap();

    let status = server.child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "exit code after SIGTERM");
    let store = database.connect(&StoreOptions::default()).await;
    let page = store
        .page(data["page_id"].as_str().unwrap().parse().unwrap())
        .await
        .expect("the page was saved");
    assert_eq!(page.email, "ann@example.com");
    store.close().await;
    database.cleanup().await;
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    for (variable, value) in [
        ("LIVEPAGE_ADDR", "not-an-address"),
        ("LIVEPAGE_IDLE_TIMEOUT", "soon"),
        ("DATABASE_URL", "mysql://localhost/livepage"),
        ("LIVEPAGE_MAX_CONCURRENT", "0"),
        ("LIVEPAGE_MAX_CONTINUATIONS", "11"),
        ("LIVEPAGE_MAX_CONTINUATIONS", "many"),
        ("LIVEPAGE_HEADER_READ_TIMEOUT", "0s"),
        ("LIVEPAGE_IDLE_CONNECTION_TIMEOUT", "forever"),
        ("LIVEPAGE_FD_RESERVE", "-5"),
        ("LIVEPAGE_MEMORY_LIMIT", "lots"),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"))
            .env_clear()
            .env(variable, value)
            .output()
            .await
            .unwrap();
        assert!(
            !output.status.success(),
            "{variable}={value} must stop start-up"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(variable),
            "the message names {variable}: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_memory_limit_under_what_the_process_holds_stops_start_up() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"))
        .env_clear()
        .env("DATABASE_URL", "sqlite::memory:")
        .env("LIVEPAGE_ADDR", "127.0.0.1:0")
        .env("LIVEPAGE_MEMORY_LIMIT", "1MiB")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "a 1 MiB limit must stop start-up");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LIVEPAGE_MEMORY_LIMIT") && stderr.contains("every generation"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_database_password_never_appears_in_a_start_up_error() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"))
        .env_clear()
        .env(
            "DATABASE_URL",
            "postgres://livepage:hunter2-secret@127.0.0.1:1/livepage",
        )
        .env("LIVEPAGE_DB_ACQUIRE_TIMEOUT", "500ms")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("DATABASE_URL"), "{all}");
    assert!(!all.contains("hunter2-secret"), "{all}");
}

/// `ADMIN_TOKEN=` and `OPENROUTER_API_KEY=`, as a compose file or `.env` leaves them, mean
/// "unset": no admin API (an empty bearer token must not open it) and demo mode.
#[tokio::test]
async fn empty_secrets_count_as_unset() {
    let database = FreshDatabase::create(&Backend::Sqlite).await;
    let server = ServerProcess::start(&[
        ("DATABASE_URL", database.url()),
        ("ADMIN_TOKEN", ""),
        ("OPENROUTER_API_KEY", ""),
    ])
    .await;
    let client = reqwest::Client::new();
    for authorization in [None, Some("Bearer "), Some("Bearer")] {
        let mut request = client.get(server.url("/api/admin/stats"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "with {authorization:?}");
    }
    let ready: serde_json::Value = client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["demo_mode"], true, "{ready}");
    drop(server);
    database.cleanup().await;
}
