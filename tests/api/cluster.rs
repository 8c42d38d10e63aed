//! Several instances on one PostgreSQL database and one Redis, as behind a round-robin load
//! balancer: any instance streams any generation live and resumes it exactly, a dead instance
//! costs its followers a clear error, a Redis outage costs the producing instance nothing, and
//! a client that has seen the end is told to stop (docs/ARCHITECTURE.md, "Several instances").

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use livepage::mock::MockUpstream;
use livepage::store::testing::FreshDatabase;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

use crate::helpers::{
    API_KEY, Backend, ServerProcess, TestApp, body, expected, paced, postgres_backend, redis_url,
    spawn_app_with, spawn_on,
};

/// One event as it came over the wire: the id and data exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw {
    id: String,
    event: String,
    data: String,
}

impl Raw {
    fn seq(&self) -> u64 {
        self.id.parse().expect("a numeric id")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }
}

type Events = Pin<Box<dyn Stream<Item = Raw> + Send>>;

/// Reads a response's events as a client does, one at a time.
fn events(response: reqwest::Response) -> Events {
    assert_eq!(response.status(), 200, "an event stream");
    Box::pin(response.bytes_stream().eventsource().map(|event| {
        let event = event.expect("a well-formed SSE stream");
        Raw {
            id: event.id,
            event: event.event,
            data: event.data,
        }
    }))
}

/// `GET …/events` on `app`, after `last` when given.
async fn follow(app: &TestApp, id: &str, last: Option<u64>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/api/generations/{id}/events")));
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    request.send().await.expect("GET events")
}

/// Starts a generation on `app` and returns its stream, having read `started`, and the id.
async fn start(app: &TestApp) -> (Events, Raw, String) {
    let mut stream = events(app.post_generate(&body("a bakery")).await);
    let started = stream.next().await.expect("started");
    let id = started.json()["generation_id"].as_str().unwrap().to_owned();
    (stream, started, id)
}

fn text(events: &[Raw]) -> String {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.json()["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Two or more instances sharing one PostgreSQL database and Redis; `None` when either is not
/// configured (a skip, which fails in CI).
async fn cluster(size: usize) -> Option<Vec<TestApp>> {
    let (Some(backend), Some(redis)) = (postgres_backend(), redis_url()) else {
        return None;
    };
    let first = spawn_app_with(backend, |config| {
        config.cluster.redis_url = Some(redis.clone().into())
    })
    .await;
    let mut apps = vec![first];
    for _ in 1..size {
        let sibling = apps[0]
            .spawn_sibling_with(|config| config.cluster.redis_url = Some(redis.clone().into()))
            .await;
        apps.push(sibling);
    }
    Some(apps)
}

async fn stop_all(apps: Vec<TestApp>) {
    // The first owns the database: stop it last.
    for app in apps.into_iter().rev() {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_started_on_one_instance_streams_live_on_another() {
    let Some(apps) = cluster(2).await else { return };
    let (a, b) = (&apps[0], &apps[1]);
    a.mock.push(paced(150, 10));
    let (mut on_a, started, id) = start(a).await;

    let followed = follow(b, &id, None).await;
    let on_b = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut first_delta = None;
        let mut stream = events(followed);
        while let Some(event) = stream.next().await {
            if event.event == "delta" && first_delta.is_none() {
                first_delta = Some(Instant::now());
            }
            received.push(event);
        }
        (received, first_delta)
    });
    let mut produced = vec![started];
    while let Some(event) = on_a.next().await {
        produced.push(event);
    }
    let completed_on_a = Instant::now();
    let (followed, first_delta_on_b) = on_b.await.unwrap();

    assert_eq!(produced.last().unwrap().event, "completed");
    assert_eq!(text(&produced), expected(150));
    assert_eq!(
        followed, produced,
        "the follower gets the same events, ids and bytes as the producer sends"
    );
    assert!(
        first_delta_on_b.unwrap() < completed_on_a,
        "deltas reach the other instance while the page is being written"
    );

    let (status, ready) = b.get_json("/readyz").await;
    assert_eq!((status, ready["redis"].as_str()), (200, Some("ok")));
    stop_all(apps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generations_followed_on_one_instance_share_one_reader() {
    // A Redis of the test's own, so that its client list holds these instances only.
    let Some((mut redis, a, b)) = pair_on_own_redis().await else {
        return;
    };
    let url = redis.url();
    const GENERATIONS: usize = 6;
    let mut producers = Vec::new();
    let mut followers = Vec::new();
    for _ in 0..GENERATIONS {
        a.mock.push(paced(120, 10));
        let (on_a, started, id) = start(&a).await;
        producers.push(tokio::spawn(async move {
            let mut produced = vec![started];
            produced.extend(on_a.collect::<Vec<_>>().await);
            produced
        }));
        let on_b = events(follow(&b, &id, None).await);
        followers.push(tokio::spawn(on_b.collect::<Vec<_>>()));
    }

    // While they run, B never holds more than one reading connection.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut most_readers = 0;
    while !followers.iter().all(|follower| follower.is_finished()) {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut conn)
            .await
            .unwrap();
        let readers = clients
            .lines()
            .filter(|client| client.contains(" name=livepage-tail "))
            .count();
        most_readers = most_readers.max(readers);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        most_readers, 1,
        "{GENERATIONS} generations followed on B through one reading connection"
    );

    for (producer, follower) in producers.into_iter().zip(followers) {
        let produced = producer.await.unwrap();
        assert_eq!(produced.last().unwrap().event, "completed");
        assert_eq!(
            follower.await.unwrap(),
            produced,
            "each follower gets its own generation"
        );
    }
    b.stop().await;
    a.stop().await;
    redis.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_anywhere_resumes_exactly_on_another_instance() {
    let Some(apps) = cluster(3).await else { return };
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    apps[0].mock.push(paced(300, 6));
    let (mut stream, started, id) = start(&apps[0]).await;
    let mut seen = vec![started];

    // Twenty cuts at random places, the first on the instance that runs the generation, each
    // resumed on B or C with the last id the client saw.
    for _ in 0..20 {
        for _ in 0..rng.random_range(1..=20) {
            match stream.next().await {
                Some(event) => seen.push(event),
                None => break,
            }
        }
        if seen.last().unwrap().event == "completed" {
            break;
        }
        drop(stream);
        let next = &apps[rng.random_range(1..=2)];
        stream = events(follow(next, &id, Some(seen.last().unwrap().seq())).await);
    }
    while let Some(event) = stream.next().await {
        seen.push(event);
    }

    assert_eq!(seen.last().unwrap().event, "completed");
    assert_eq!(text(&seen), expected(300), "every delta once, in order");
    assert!(
        seen.windows(2).all(|w| w[0].seq() < w[1].seq()),
        "ids strictly increase across instances"
    );
    stop_all(apps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_learns_that_the_instance_running_its_generation_died() {
    let (Some(backend), Some(redis)) = (postgres_backend(), redis_url()) else {
        return;
    };
    let database = FreshDatabase::create(&backend).await;
    let mock = MockUpstream::new(paced(3_000, 20));
    let (mock_url, _mock) = mock.spawn().await.unwrap();
    let mut producer = ServerProcess::start(&[
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", &redis),
        ("OPENROUTER_API_KEY", API_KEY),
        ("OPENROUTER_BASE_URL", mock_url.as_str()),
    ])
    .await;
    let follower = spawn_on(database.url(), |config| {
        config.cluster.redis_url = Some(redis.clone().into());
    })
    .await;

    let response = reqwest::Client::new()
        .post(producer.url("/api/generate"))
        .json(&body("a bakery"))
        .send()
        .await
        .unwrap();
    let mut on_producer = events(response);
    let id = on_producer.next().await.unwrap().json()["generation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut on_follower = events(follow(&follower, &id, None).await);
    let mut last = on_follower.next().await.unwrap();
    while last.event != "delta" {
        last = on_follower.next().await.unwrap();
    }

    producer.child.start_kill().unwrap(); // SIGKILL: no drain, no goodbye
    producer.child.wait().await.unwrap();
    let killed = Instant::now();
    let ending = tokio::time::timeout(Duration::from_secs(30), async {
        let mut ending = last;
        while let Some(event) = on_follower.next().await {
            ending = event;
        }
        ending
    })
    .await
    .expect("the follower's stream ends: nothing waits forever");
    let noticed = killed.elapsed();

    assert_eq!(ending.event, "error");
    assert_eq!(ending.json()["code"], "instance_lost");
    assert_eq!(ending.json()["retryable"], true);
    assert!(
        noticed < Duration::from_secs(15),
        "noticed after {noticed:?}"
    );
    let (_, status) = follower.get_json(&format!("/api/generations/{id}")).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error_code"], "instance_lost");
    let again = follow(&follower, &id, Some(ending.seq())).await;
    assert_eq!(
        again.status(),
        204,
        "a client that has seen the end is told to stop"
    );

    follower.stop().await;
    database.cleanup().await;
}

/// A `redis-server` of the test's own, which it can stop and start again.
struct RedisServer {
    child: tokio::process::Child,
    port: u16,
}

impl RedisServer {
    async fn start(port: u16) -> Self {
        let mut child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts (it is installed by .ci/run)");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A `redis-server` of the test's own and two instances sharing it and one PostgreSQL
/// database; `None` when PostgreSQL or Redis is not configured (a skip, which fails in CI).
async fn pair_on_own_redis() -> Option<(RedisServer, TestApp, TestApp)> {
    let backend = postgres_backend()?;
    redis_url()?;
    let redis = RedisServer::start(free_port().await).await;
    let url = redis.url();
    let a = spawn_app_with(backend, |config| {
        config.cluster.redis_url = Some(url.clone().into())
    })
    .await;
    let b = a
        .spawn_sibling_with(|config| config.cluster.redis_url = Some(url.clone().into()))
        .await;
    Some((redis, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_costs_the_producer_nothing_and_followers_resume_after_it() {
    let Some((mut redis, a, b)) = pair_on_own_redis().await else {
        return;
    };
    a.mock.push(paced(200, 10));
    let (mut on_a, started, id) = start(&a).await;
    let mut on_b = events(follow(&b, &id, None).await);
    let mut seen_on_b = vec![on_b.next().await.unwrap()];
    while seen_on_b.last().unwrap().event != "delta" {
        seen_on_b.push(on_b.next().await.unwrap());
    }

    redis.kill().await;
    let mut produced = vec![started];
    while let Some(event) = on_a.next().await {
        produced.push(event);
    }
    assert_eq!(
        produced.last().unwrap().event,
        "completed",
        "the producer's own stream is whole"
    );
    assert_eq!(text(&produced), expected(200));
    let live_url = produced.last().unwrap().json()["live_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = a.client.get(&live_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the page is saved");
    let (_, ready) = a.get_json("/readyz").await;
    assert_eq!(ready["redis"], "unreachable");
    assert_eq!(ready["status"], "degraded");

    // The follower elsewhere is told the live stream is unavailable here, in an event without
    // an id, so that its last event id (which a client keeps from event to event) stays on the
    // last real event…
    let notice = loop {
        let event = on_b
            .next()
            .await
            .expect("the follower is told, not left hanging");
        if matches!(event.event.as_str(), "error" | "completed") {
            break event;
        }
        seen_on_b.push(event);
    };
    assert_eq!(
        notice.event, "error",
        "Redis was still down when the follower gave up"
    );
    assert_eq!(
        notice.id,
        seen_on_b.last().unwrap().id,
        "the notice has no id of its own"
    );
    assert_eq!(notice.json()["code"], "stream_unavailable");
    assert_eq!(notice.json()["retryable"], true);
    assert!(on_b.next().await.is_none(), "and its stream ends");

    // …and once Redis is back (empty: it keeps nothing on disk), the producer publishes the
    // generation again and the follower resumes exactly where it was.
    redis = RedisServer::start(redis.port).await;
    let key = format!("livepage:generation:{id}:events");
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let republished = async {
        loop {
            let length: u64 = redis::cmd("XLEN")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            if length > 0 {
                let last: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
                    .arg(&key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if last[0]
                    .1
                    .iter()
                    .any(|(field, value)| field == "e" && value == "completed")
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), republished)
        .await
        .expect("the producer publishes again once Redis is back");
    let resumed: Vec<Raw> = events(follow(&b, &id, Some(seen_on_b.last().unwrap().seq())).await)
        .collect()
        .await;
    seen_on_b.extend(resumed);
    assert_eq!(seen_on_b.last().unwrap().event, "completed");
    assert_eq!(
        seen_on_b,
        produced[..seen_on_b.len()],
        "the same events as the producer's"
    );
    assert_eq!(seen_on_b.len(), produced.len());

    b.stop().await;
    a.stop().await;
    redis.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_any_instance_reaches_the_one_running_it_through_redis() {
    let Some(apps) = cluster(2).await else { return };
    let (a, b) = (&apps[0], &apps[1]);
    a.mock.push(paced(500, 20));
    let (mut on_a, _, id) = start(a).await;
    while on_a.next().await.unwrap().event != "delta" {}

    let cancelled = b
        .client
        .post(b.url(&format!("/api/generations/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let view: Value = cancelled.json().await.unwrap();
    assert_eq!(view["status"], "cancelled");
    let ending = on_a.collect::<Vec<_>>().await.pop().unwrap();
    assert_eq!(ending.json()["code"], "cancelled");
    stop_all(apps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_has_seen_the_final_event_is_told_to_stop_by_every_instance() {
    let Some(apps) = cluster(2).await else { return };
    let (a, b) = (&apps[0], &apps[1]);
    a.mock.push(paced(20, 0));
    let (on_a, started, id) = start(a).await;
    let mut all = vec![started];
    all.extend(on_a.collect::<Vec<_>>().await);
    let last = all.last().unwrap().clone();
    assert_eq!(last.event, "completed");

    for app in [a, b] {
        assert_eq!(follow(app, &id, Some(last.seq())).await.status(), 204);
        assert_eq!(follow(app, &id, Some(last.seq() + 5)).await.status(), 204);
        let tail: Vec<Raw> = events(follow(app, &id, Some(last.seq() - 1)).await)
            .collect()
            .await;
        assert_eq!(
            tail,
            std::slice::from_ref(&last),
            "one step before the end: the end, as it was sent"
        );
    }
    stop_all(apps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_has_seen_the_final_event_is_told_to_stop_without_redis() {
    for retained in [true, false] {
        // Without a retained log, the instance answers from the database.
        let app = spawn_app_with(Backend::Sqlite, |config| {
            if !retained {
                config.generation.event_retention_max = 0;
            }
        })
        .await;
        app.mock.push(paced(10, 0));
        let (on_app, started, id) = start(&app).await;
        let mut all = vec![started];
        all.extend(on_app.collect::<Vec<_>>().await);
        let last = all.last().unwrap().clone();
        assert_eq!(last.event, "completed");

        assert_eq!(follow(&app, &id, Some(last.seq())).await.status(), 204);
        let tail: Vec<Raw> = events(follow(&app, &id, Some(last.seq() - 1)).await)
            .collect()
            .await;
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].event, "completed");
        assert_eq!(
            tail[0].id, last.id,
            "the end keeps its id (retained log: {retained})"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generations_left_running_by_a_gone_instance_are_failed_at_start_up() {
    let postgres = postgres_backend();
    let redis = redis_url();
    let mut cases = vec![(Backend::Sqlite, None)];
    if let (Some(backend), Some(redis)) = (postgres, redis) {
        cases.push((backend, Some(redis)));
    }
    for (backend, redis) in cases {
        let configure = |config: &mut livepage::config::Config| {
            config.cluster.redis_url = redis.clone().map(Into::into)
        };
        let app = spawn_app_with(backend, configure).await;
        let id = uuid::Uuid::now_v7();
        let gone = uuid::Uuid::new_v4();
        app.database()
            .execute(&format!(
                "INSERT INTO generations (id, email, prompt, page_type, theme, model, status,
                                          created_at, instance_id)
                 VALUES ('{id}', 'ann@example.com', 'bread', 'landing', 'modern', 'a/b', 'running',
                         '2026-12-07T10:00:00.000000Z', '{gone}')"
            ))
            .await;
        let restarted = app.spawn_sibling_with(configure).await;
        let (_, status) = restarted.get_json(&format!("/api/generations/{id}")).await;
        assert_eq!(status["status"], "failed", "{status}");
        assert_eq!(status["error_code"], "instance_lost");
        restarted.stop().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn a_bad_redis_url_stops_start_up_naming_it_never_its_password() {
    let database = FreshDatabase::create(&Backend::Sqlite).await;
    for url in ["redis//not-a-url", "redis://:hunter2-secret@127.0.0.1:1/0"] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepage"))
            .env_clear()
            .env("DATABASE_URL", database.url())
            .env("LIVEPAGE_ADDR", "127.0.0.1:0")
            .env("REDIS_URL", url)
            .output()
            .await
            .unwrap();
        assert!(
            !output.status.success(),
            "REDIS_URL={url} must stop start-up"
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(all.contains("REDIS_URL"), "{all}");
        assert!(!all.contains("hunter2-secret"), "{all}");
    }
    database.cleanup().await;
}
