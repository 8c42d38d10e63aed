//! Streams that survive: resume, many watchers, cancel, backpressure, timeouts, rate limits,
//! idempotency and graceful shutdown.

use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use livepage::config::Config;
use livepage::mock::{Fault, Script};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, SseEvent, TestApp, backend_tests, body, deltas, expected, last, paced,
    postgres_backend, read_events, spawn_app, spawn_app_with,
};

/// Starts a long generation on `app` and reads its stream up to the first delta, by which time
/// the generation is recorded in the database. Returns the rest of the stream and the id.
async fn start_relaying(
    app: &TestApp,
) -> (
    impl Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Unpin,
    String,
) {
    app.mock.push(paced(500, 20));
    let response = app.post_generate(&body("a bakery")).await;
    let mut stream = response.bytes_stream().eventsource();
    let started: Value = serde_json::from_str(&stream.next().await.unwrap().unwrap().data).unwrap();
    let id = started["generation_id"].as_str().unwrap().to_owned();
    while stream.next().await.unwrap().unwrap().event != "delta" {}
    (stream, id)
}

/// The `code` of a stream's last event, read to its end.
async fn final_code(
    stream: impl Stream<Item = Result<Event, EventStreamError<reqwest::Error>>>,
) -> Value {
    let rest: Vec<_> = stream.collect().await;
    let last: Value = serde_json::from_str(&rest.last().unwrap().as_ref().unwrap().data).unwrap();
    last["code"].clone()
}

/// Reads up to `count` events from a response, then drops the connection.
async fn read_some(response: reqwest::Response, count: usize) -> Vec<SseEvent> {
    let mut stream = response.bytes_stream().eventsource();
    let mut events = Vec::new();
    while events.len() < count {
        let Some(event) = stream.next().await else {
            break;
        };
        let event = event.unwrap();
        events.push(SseEvent {
            id: event.id.parse().unwrap(),
            event: event.event,
            data: serde_json::from_str(&event.data).unwrap(),
        });
    }
    events
}

async fn resume(
    app: &TestApp,
    events_url: &str,
    last_id: u64,
    via_header: bool,
) -> reqwest::Response {
    let request = if via_header {
        app.client
            .get(events_url)
            .header("last-event-id", last_id.to_string())
    } else {
        app.client
            .get(format!("{events_url}?last_event_id={last_id}"))
    };
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

fn assert_gapless(events: &[SseEvent]) {
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "ids must strictly increase, no duplicates"
    );
}

backend_tests! {
    async fn a_client_cut_off_anywhere_resumes_to_exactly_the_models_output(backend: Backend) {
        let app = spawn_app(backend).await;
        let seed: u64 = rand::rng().random();
        println!("cut points seeded with {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        const PARTS: usize = 30;
        for round in 0..12 {
            app.mock.push(paced(PARTS, 1));
            // One cut in the first rounds, two in the later ones; alternate header and query.
            let cuts = if round < 6 { 1 } else { 2 };
            let mut seen = Vec::new();
            let mut response = app.post_generate(&body("a bakery")).await;
            for cut in 0..cuts {
                let at = rng.random_range(1..=PARTS);
                seen.extend(read_some(response, at).await);
                let events_url = seen[0].data["events_url"].as_str().unwrap().to_owned();
                if last(&seen).event == "completed" {
                    // Cut just after the end: the client is told there is nothing more.
                    let again = app.client.get(&events_url).header("last-event-id", last(&seen).id.to_string()).send().await.unwrap();
                    assert_eq!(again.status(), 204);
                    response = again;
                    break;
                }
                response = resume(&app, &events_url, last(&seen).id, (round + cut) % 2 == 0).await;
            }
            if response.status() == 200 {
                seen.extend(read_events(response).await);
            }
            assert_gapless(&seen);
            assert_eq!(last(&seen).event, "completed", "round {round}");
            assert_eq!(
                deltas(&seen),
                expected(PARTS),
                "round {round} (seed {seed})"
            );
        }
        app.stop().await;
    }
}

backend_tests! {
    async fn a_finished_generation_replays_its_whole_log_and_closes(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(paced(5, 0));
        let original = app.generate(&body("a bakery")).await;
        let events_url = original[0].data["events_url"].as_str().unwrap();
        let replay = read_events(app.client.get(events_url).send().await.unwrap()).await;
        assert_eq!(replay.iter().map(|e| e.id).collect::<Vec<_>>(), original.iter().map(|e| e.id).collect::<Vec<_>>());
        assert_eq!(deltas(&replay), expected(5));
        let tail = read_events(resume(&app, events_url, original[3].id, true).await).await;
        assert_eq!(tail.first().unwrap().id, original[4].id);
        app.stop().await;
    }

    async fn another_instance_sums_up_a_generation_from_the_database(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(paced(3, 0));
        let original = app.generate(&body("a bakery")).await;
        let id = original[0].data["generation_id"].as_str().unwrap();

        let sibling = app.spawn_sibling().await;
        let summary = read_events(sibling.get(&format!("/api/generations/{id}/events")).await).await;
        assert_eq!(summary.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["started", "completed"]);
        assert_eq!(summary[1].data["live_url"], last(&original).data["live_url"]);
        assert_eq!(summary[1].data["title"], last(&original).data["title"]);

        // A client resuming there with the id it last saw gets the ending, with a later id.
        let seen = original[2].id;
        let tail = read_events(resume(&sibling, &sibling.url(&format!("/api/generations/{id}/events")), seen, true).await).await;
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].event, "completed");
        assert!(tail[0].id > seen);
        sibling.stop().await;
        app.stop().await;
    }

    async fn any_instance_cancels_a_generation_another_one_runs(backend: Backend) {
        // Instances share a PostgreSQL database behind a load balancer; a SQLite file has one.
        let shared = matches!(backend, Backend::Postgres { .. });
        let app = spawn_app(backend).await;
        let sibling = app.spawn_sibling().await;
        let (stream, id) = start_relaying(&app).await;

        let cancel = format!("/api/generations/{id}/cancel");
        let elsewhere = sibling.client.post(sibling.url(&cancel)).send().await.unwrap();
        if !shared {
            assert_eq!(elsewhere.status(), 409);
            let refused: Value = elsewhere.json().await.unwrap();
            assert_eq!(refused["error"]["code"], "conflict");
            let here = app.client.post(app.url(&cancel)).send().await.unwrap();
            assert_eq!(here.status(), 200, "the generation ran on");
        } else {
            assert_eq!(elsewhere.status(), 200);
            let status: Value = elsewhere.json().await.unwrap();
            assert_eq!(status["status"], "cancelled");
            assert_eq!(status["error_code"], "cancelled");
        }
        assert_eq!(final_code(stream).await, "cancelled");
        app.mock.wait_for_disconnects(1).await;
        let (_, history) = app.get_json("/api/history?email=ann@example.com").await;
        assert_eq!(history["pages"], json!([]));

        let again = sibling.client.post(sibling.url(&cancel)).send().await.unwrap();
        assert_eq!(again.status(), 409, "finished by now");
        sibling.stop().await;
        app.stop().await;
    }

    async fn cancelling_stops_the_upstream_and_saves_nothing(backend: Backend) {
        let app = spawn_app(backend).await;
        let (stream, id) = start_relaying(&app).await;

        let cancelled = app.client.post(app.url(&format!("/api/generations/{id}/cancel"))).send().await.unwrap();
        assert_eq!(cancelled.status(), 200);
        let status: Value = cancelled.json().await.unwrap();
        assert_eq!(status["status"], "cancelled");
        assert_eq!(status["error_code"], "cancelled");

        assert_eq!(final_code(stream).await, "cancelled");
        app.mock.wait_for_disconnects(1).await; // the upstream connection was closed
        let (_, history) = app.get_json("/api/history?email=ann@example.com").await;
        assert_eq!(history["pages"], json!([]));

        let again = app.client.post(app.url(&format!("/api/generations/{id}/cancel"))).send().await.unwrap();
        assert_eq!(again.status(), 409);
        let unknown = app.client.post(app.url("/api/generations/00000000-0000-0000-0000-000000000000/cancel")).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
        app.stop().await;
    }
}

/// The ids of the connections of this test's database that listen for cancels.
async fn listening(database: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN \"livepage_cancel\"%'",
    )
    .fetch_all(database)
    .await
    .unwrap()
}

/// The connection an instance listens for cancels on can be cut (a database restart, a proxy
/// timing it out): the instance listens again, and a cancel made elsewhere still reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_listening_connection_is_listened_on_again() {
    let Some(backend) = postgres_backend() else {
        return;
    };
    let app = spawn_app(backend).await;
    let sibling = app.spawn_sibling().await;
    let database = sqlx::PgPool::connect(app.database().url()).await.unwrap();
    let cut = listening(&database).await;
    assert_eq!(cut.len(), 2, "one listening connection per instance");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
        .bind(&cut)
        .execute(&database)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let now = listening(&database).await;
            if now.len() == 2 && now.iter().all(|pid| !cut.contains(pid)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("both instances listen again on new connections");

    let (stream, id) = start_relaying(&app).await;
    let cancel = sibling
        .client
        .post(sibling.url(&format!("/api/generations/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    assert_eq!(final_code(stream).await, "cancelled");
    database.close().await;
    sibling.stop().await;
    app.stop().await;
}

backend_tests! {
    async fn many_watchers_each_get_every_event_and_a_slow_one_blocks_nobody(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(paced(200, 1));
        let first = app.post_generate(&body("a bakery")).await;
        let mut first = first.bytes_stream().eventsource();
        let started: Value = serde_json::from_str(&first.next().await.unwrap().unwrap().data).unwrap();
        let events_url = started["events_url"].as_str().unwrap().to_owned();

        // A watcher that connects and then reads nothing until everyone else is done.
        let slow = app.client.get(&events_url).send().await.unwrap();
        let watchers = (0..4).map(|_| {
            let (client, url) = (app.client.clone(), events_url.clone());
            tokio::spawn(async move { read_events(client.get(url).send().await.unwrap()).await })
        });
        let mut all = Vec::new();
        for watcher in futures_util::future::join_all(watchers).await {
            all.push(watcher.unwrap());
        }
        while first.next().await.is_some() {}
        all.push(read_events(slow).await);
        for events in &all {
            assert_eq!(last(events).event, "completed");
            assert_eq!(deltas(events), expected(200));
            assert_eq!(
                events.iter().map(|e| e.id).collect::<Vec<_>>(),
                all[0].iter().map(|e| e.id).collect::<Vec<_>>()
            );
        }
        app.stop().await;
    }
}

backend_tests! {
    async fn beyond_the_concurrency_limit_generations_queue_then_get_503(backend: Backend) {
        let app = spawn_app_with(backend, |config| {
            config.generation.max_concurrent = 1;
            config.generation.max_queued = 1;
        })
        .await;
        app.mock.push(paced(40, 10));
        app.mock.push(paced(3, 0));
        let running = app.post_generate(&body("first")).await;
        let mut running = running.bytes_stream().eventsource();
        while running.next().await.unwrap().unwrap().event != "delta" {}

        let queued = app.post_generate(&body("second")).await;
        let mut queued = queued.bytes_stream().eventsource();
        let progress = loop {
            let event = queued.next().await.unwrap().unwrap();
            if event.event == "progress" {
                break serde_json::from_str::<Value>(&event.data).unwrap();
            }
        };
        assert_eq!(progress["stage"], "queued");
        assert_eq!(progress["queue_position"], 0);

        let refused = app.post_generate(&body("third")).await;
        assert_eq!(refused.status(), 503);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(
            refused.json::<Value>().await.unwrap()["error"]["code"],
            "queue_full"
        );

        while running.next().await.is_some() {}
        let rest: Vec<_> = queued.collect().await;
        let done: Value = serde_json::from_str(&rest.last().unwrap().as_ref().unwrap().data).unwrap();
        assert!(
            done["live_url"].is_string(),
            "the queued generation ran once a slot freed"
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn a_generation_over_its_time_limit_ends_with_generation_timeout(backend: Backend) {
        let app = spawn_app_with(backend, |config| {
            config.generation.generation_timeout = Duration::from_millis(300)
        })
        .await;
        app.mock.push(paced(100, 20));
        let events = app.generate(&body("a bakery")).await;
        assert_eq!(last(&events).data["code"], "generation_timeout");
        app.mock.wait_for_disconnects(1).await;
        app.stop().await;
    }
}

backend_tests! {
    async fn instances_on_postgresql_spend_from_one_rate_limit_budget(backend: Backend) {
        // Behind a load balancer, a client's requests land on any instance.
        let shared = matches!(backend, Backend::Postgres { .. });
        fn two_a_minute(config: &mut Config) {
            config.rate_limits.rate_limit_per_email = 2;
        }
        let app = spawn_app_with(backend, two_a_minute).await;
        let sibling = app.spawn_sibling_with(two_a_minute).await;
        let post = |app: &TestApp| {
            app.client
                .post(app.url("/api/generate"))
                .json(&json!({"email": "ann@example.com", "prompt": "a bakery"}))
                .send()
        };
        assert_eq!(post(&app).await.unwrap().status(), 200);
        assert_eq!(post(&sibling).await.unwrap().status(), 200);
        let third = post(&app).await.unwrap();
        if shared {
            assert_eq!(third.status(), 429, "both instances spent from one budget");
            let retry_after: u64 = third.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=30).contains(&retry_after), "{retry_after}");
        } else {
            assert_eq!(third.status(), 200, "each instance of a SQLite file counts on its own");
        }
        sibling.stop().await;
        app.stop().await;
    }

    async fn rate_limits_per_email_and_per_client_ip(backend: Backend) {
        let app = spawn_app_with(backend, |config| {
            config.rate_limits.rate_limit_per_email = 2;
            config.rate_limits.rate_limit_per_ip = 3;
            config.rate_limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        })
        .await;
        let post = |email: &str, client_ip: &str| {
            app.client
                .post(app.url("/api/generate"))
                .header("x-forwarded-for", client_ip)
                .json(&json!({"email": email, "prompt": "a bakery"}))
                .send()
        };
        for _ in 0..2 {
            assert_eq!(
                post("ann@example.com", "203.0.113.1")
                    .await
                    .unwrap()
                    .status(),
                200
            );
        }
        let limited = post("ann@example.com", "203.0.113.2").await.unwrap();
        assert_eq!(limited.status(), 429);
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after));
        assert_eq!(
            limited.json::<Value>().await.unwrap()["error"]["code"],
            "rate_limited"
        );

        // The first client IP has one generation left; another IP behind the proxy has its own.
        assert_eq!(
            post("bob@example.com", "203.0.113.1")
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            post("cat@example.com", "203.0.113.1")
                .await
                .unwrap()
                .status(),
            429
        );
        assert_eq!(
            post("cat@example.com", "203.0.113.9")
                .await
                .unwrap()
                .status(),
            200
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn an_idempotency_key_attaches_repeats_to_the_first_generation(backend: Backend) {
        let app = spawn_app(backend).await;
        app.mock.push(paced(20, 5));
        let send = |key: &str, body: Value| {
            app.client
                .post(app.url("/api/generate"))
                .header("idempotency-key", key)
                .json(&body)
                .send()
        };
        let first = send("order-42", body("a bakery")).await.unwrap();
        let repeat = send("order-42", body("a bakery")).await.unwrap();
        let (first, repeat) = (read_events(first).await, read_events(repeat).await);
        assert_eq!(
            first[0].data["generation_id"],
            repeat[0].data["generation_id"]
        );
        assert_eq!(
            deltas(&repeat),
            expected(20),
            "the repeat streams from the start"
        );
        assert_eq!(app.mock.requests().len(), 1, "one paid generation");

        let reused = send("order-42", body("a flower shop")).await.unwrap();
        assert_eq!(reused.status(), 422);
        assert_eq!(
            reused.json::<Value>().await.unwrap()["error"]["code"],
            "idempotency_key_reused"
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn on_shutdown_running_generations_finish_and_new_ones_are_refused(backend: Backend) {
        let mut app = spawn_app(backend).await;
        app.mock.push(paced(30, 10));
        let running = app.post_generate(&body("a bakery")).await;
        let mut running = running.bytes_stream().eventsource();
        while running.next().await.unwrap().unwrap().event != "delta" {}

        app.begin_shutdown();
        // Draining: the server still answers, but starts nothing new.
        let refused = loop {
            let response = app.post_generate(&body("too late")).await;
            if response.status() != 200 {
                break response;
            }
            // Raced the shutdown signal: that one was accepted and must finish too.
            read_events(response).await;
        };
        assert_eq!(refused.status(), 503);
        assert_eq!(
            refused.json::<Value>().await.unwrap()["error"]["code"],
            "shutting_down"
        );
        let rest: Vec<_> = running.collect().await;
        let done: Value = serde_json::from_str(&rest.last().unwrap().as_ref().unwrap().data).unwrap();
        assert!(
            done["live_url"].is_string(),
            "the running generation completed: {done}"
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn generations_still_running_past_the_drain_deadline_end_with_shutdown(backend: Backend) {
        let mut app = spawn_app_with(backend, |config| {
            config.server.shutdown_grace = Duration::from_millis(200)
        })
        .await;
        app.mock.push(Script {
            fault: Some(Fault::Stall { after: 1 }),
            ..paced(5, 0)
        });
        let running = app.post_generate(&body("a bakery")).await;
        app.begin_shutdown();
        let events = read_events(running).await;
        assert_eq!(last(&events).data["code"], "shutdown");
        app.stop().await;
    }
}

backend_tests! {
    async fn past_the_retention_limit_the_oldest_log_gives_way_to_a_summary(backend: Backend) {
        let app = spawn_app_with(backend, |config| config.generation.event_retention_max = 1).await;
        app.mock.push(paced(3, 0));
        let first = app.generate(&body("first")).await;
        app.mock.push(paced(3, 0));
        let second = app.generate(&body("second")).await;

        let replay = |events: &[SseEvent]| {
            let url = events[0].data["events_url"].as_str().unwrap().to_owned();
            let client = app.client.clone();
            async move { read_events(client.get(url).send().await.unwrap()).await }
        };
        let summary = replay(&first).await;
        assert_eq!(summary.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["started", "completed"]);
        assert_eq!(summary[1].data["live_url"], last(&first).data["live_url"]);
        assert_eq!(replay(&second).await.len(), second.len(), "the newest log is still whole");
        app.stop().await;
    }
}
