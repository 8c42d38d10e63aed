//! Under load: the descriptor reserve that keeps every accepted generation able to save, and
//! connections that cost a descriptor without serving (docs/ARCHITECTURE.md, "Descriptors and
//! connections").

use std::time::{Duration, Instant};

use livepage::mock::{Content, MockUpstream, Script};
use livepage::store::testing::{Backend, FreshDatabase};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    API_KEY, ServerProcess, body, deltas, expected, last, paced, read_events, spawn_app_with,
};

/// The open-file limit the server runs under: room for a few dozen streams.
const OPEN_FILES: u64 = 160;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_descriptor_limit_new_generations_get_503_and_every_accepted_one_saves() {
    // Every generation streams for about 4 s: long enough to hold its descriptors while the
    // test opens the next ones.
    let mock = MockUpstream::new(paced(40, 100));
    let (mock_url, _mock) = mock.spawn().await.unwrap();
    let database = FreshDatabase::create(&Backend::Sqlite).await;
    let mut server = ServerProcess::start_with_open_files(
        &[
            ("DATABASE_URL", database.url()),
            ("OPENROUTER_API_KEY", API_KEY),
            ("OPENROUTER_BASE_URL", mock_url.as_str()),
            ("LIVEPAGE_FD_RESERVE", "16"),
            ("LIVEPAGE_DB_MAX_CONNECTIONS", "2"),
            ("LIVEPAGE_MAX_CONCURRENT", "1000"),
            ("LIVEPAGE_MAX_QUEUED", "1000"),
            ("LIVEPAGE_RATE_LIMIT_PER_IP", "0"),
            ("LIVEPAGE_RATE_LIMIT_PER_EMAIL", "0"),
        ],
        OPEN_FILES,
    )
    .await;
    let logs = server.collect_logs();

    let client = reqwest::Client::new();
    // Each stream costs at least two descriptors: without admission, the server runs out well
    // before this many.
    let accepted = generate_until_overloaded(&client, &server, OPEN_FILES as usize).await;
    assert!(
        accepted.len() >= 10,
        "the budget left room for only {} streams",
        accepted.len()
    );

    let streams = futures_util::future::join_all(accepted.into_iter().map(read_events)).await;
    for events in &streams {
        let done = last(events);
        assert_eq!(done.event, "completed", "{}", done.data);
        assert_eq!(deltas(events), expected(40));
        let page = client
            .get(done.data["live_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "the page was saved");
    }

    // The descriptors came back with the streams' end.
    let again = client
        .post(server.url("/api/generate"))
        .json(&body("once there is room"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(last(&read_events(again).await).event, "completed");

    server.signal("TERM").await;
    assert_eq!(server.child.wait().await.unwrap().code(), Some(0));
    let logs = logs.await.unwrap().join("\n");
    assert!(!logs.contains("Too many open files"), "{logs}");
    assert!(!logs.contains("storage_unavailable"), "{logs}");
    database.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_memory_limit_new_generations_get_503_and_every_accepted_one_saves() {
    // Pages of 256 KiB, written over about 2 s: each stream holds a quarter of a megabyte
    // by its end, so that a few dozen fill the room the limit leaves.
    let part = "x".repeat(4096);
    let script = Script {
        content: Content::Deltas((0..64).map(|_| format!("<p>{part}</p>")).collect()),
        pace: Duration::from_millis(30),
        ..Script::default()
    };
    let mock = MockUpstream::new(script);
    let (mock_url, _mock) = mock.spawn().await.unwrap();
    let database = FreshDatabase::create(&Backend::Sqlite).await;
    let env = |limit: &str| {
        [
            ("DATABASE_URL", database.url().to_owned()),
            ("OPENROUTER_API_KEY", API_KEY.to_owned()),
            ("OPENROUTER_BASE_URL", mock_url.to_string()),
            ("LIVEPAGE_MAX_CONCURRENT", "1000".to_owned()),
            ("LIVEPAGE_MAX_QUEUED", "1000".to_owned()),
            ("LIVEPAGE_RATE_LIMIT_PER_IP", "0".to_owned()),
            ("LIVEPAGE_RATE_LIMIT_PER_EMAIL", "0".to_owned()),
            ("LIVEPAGE_MEMORY_LIMIT", limit.to_owned()),
        ]
    };
    let client = reqwest::Client::new();

    // What a warm server holds, from a first one without a limit, once it has made a page.
    let probe_env = env("off");
    let probe_env: Vec<_> = probe_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut probe = ServerProcess::start(&probe_env).await;
    let response = client
        .post(probe.url("/api/generate"))
        .json(&body("warm-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(last(&read_events(response).await).event, "completed");
    let warm = resident(probe.child.id().unwrap());
    probe.signal("TERM").await;
    probe.child.wait().await.unwrap();

    // Room for 32 MiB more: 128 of these streams would not fit.
    let limit = warm + (32 << 20);
    let server_env = env(&limit.to_string());
    let server_env: Vec<_> = server_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = ServerProcess::start(&server_env).await;
    let logs = server.collect_logs();
    let accepted = generate_until_overloaded(&client, &server, 2000).await;
    assert!(accepted.len() >= 5, "only {} accepted", accepted.len());
    let streams = futures_util::future::join_all(accepted.into_iter().map(read_events)).await;
    for events in &streams {
        let done = last(events);
        assert_eq!(done.event, "completed", "{}", done.data);
        let page = client
            .get(done.data["live_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "the page was saved");
    }

    server.signal("TERM").await;
    assert_eq!(server.child.wait().await.unwrap().code(), Some(0));
    let logs = logs.await.unwrap().join("\n");
    assert!(!logs.contains("storage_unavailable"), "{logs}");
    database.cleanup().await;
}

/// Starts generations on `server`, holding their streams unread, until one is refused; checks
/// that the refusal is `503 overloaded` as documented (with `Retry-After`, and the connection
/// closed: it is a descriptor the server is short of) and returns the accepted streams. Fails
/// when `at_most` are accepted: admission never refused.
async fn generate_until_overloaded(
    client: &reqwest::Client,
    server: &ServerProcess,
    at_most: usize,
) -> Vec<reqwest::Response> {
    let mut accepted = Vec::new();
    let refused = loop {
        assert!(
            accepted.len() < at_most,
            "{at_most} generations accepted and none refused"
        );
        let response = client
            .post(server.url("/api/generate"))
            .json(&body(&format!("page {}", accepted.len())))
            .send()
            .await
            .expect("the server answers");
        if response.status() != 200 {
            break response;
        }
        accepted.push(response);
    };
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        refused.headers()["connection"],
        "close",
        "a refused client does not keep a descriptor the server is short of"
    );
    let refusal: Value = refused.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "overloaded", "{refusal}");
    accepted
}

/// The resident memory of process `pid`, in bytes (`VmRSS`).
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/{pid}/status");
    kib << 10
}

/// Waits, up to `deadline`, for the server to close `tcp` (end of stream or a reset); returns
/// how long that took.
async fn closed_within(tcp: &mut TcpStream, deadline: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0; 1024];
    tokio::time::timeout(deadline, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closed the connection in time");
    started.elapsed()
}

/// Sends one whole request on `tcp` and reads its response (a `Content-Length` body).
async fn request(tcp: &mut TcpStream, path: &str) -> String {
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: livepage\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before the response");
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a Content-Length");
            if response.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

const HEADER_READ: Duration = Duration::from_millis(500);
const IDLE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_not_received_in_time_closes_the_connection() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.server.header_read_timeout = HEADER_READ;
        config.server.idle_connection_timeout = IDLE;
    })
    .await;
    let mut tcp = TcpStream::connect(app.address).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: livepage\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut tcp, Duration::from_secs(10)).await;
    assert!(
        took >= HEADER_READ - Duration::from_millis(50) && took < IDLE,
        "closed after {took:?}: the header-read timeout, not the idle one"
    );

    // A connection that sends nothing at all is held to the same time.
    let mut silent = TcpStream::connect(app.address).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(took < IDLE, "closed after {took:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.server.header_read_timeout = HEADER_READ;
        config.server.idle_connection_timeout = IDLE;
    })
    .await;
    let mut tcp = TcpStream::connect(app.address).await.unwrap();
    assert!(
        request(&mut tcp, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    // Kept alive: a second request on the same connection is served.
    assert!(
        request(&mut tcp, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let took = closed_within(&mut tcp, Duration::from_secs(10)).await;
    assert!(
        took >= IDLE - Duration::from_millis(50),
        "closed after {took:?}: before the idle timeout"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_with_gaps_longer_than_the_timeouts_stays_open() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.server.header_read_timeout = Duration::from_millis(200);
        config.server.idle_connection_timeout = Duration::from_millis(200);
    })
    .await;
    // 800 ms between deltas, and no keep-alive comment in between (every 15 s).
    app.mock.push(paced(5, 800));
    let events = app.generate(&body("a slow page")).await;
    assert_eq!(last(&events).event, "completed", "{}", last(&events).data);
    assert_eq!(deltas(&events), expected(5));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_idle_connections() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.server.idle_connection_timeout = Duration::from_secs(600);
    })
    .await;
    let mut tcp = TcpStream::connect(app.address).await.unwrap();
    assert!(
        request(&mut tcp, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stopped with an idle connection open");
    closed_within(&mut tcp, Duration::from_secs(1)).await;
}
