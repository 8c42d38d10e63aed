//! The database going away and coming back while the service runs.

use std::net::SocketAddr;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use livepage::mock::{Content, Script};
use livepage::store::testing::FreshDatabase;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{body, last, postgres_backend, spawn_on};

/// A TCP proxy in front of PostgreSQL that the test can cut (every connection dropped, new
/// ones refused) and restore, like a database restart or a network partition.
struct Proxy {
    address: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let watcher = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !*watcher.borrow() {
                    drop(client); // refused while down
                    continue;
                }
                tokio::spawn(forward(client, target, watcher.subscribe()));
            }
        });
        Self { address, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !up) => {} // the outage drops live connections too
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_rides_out_a_database_outage_and_recovers_without_a_restart() {
    let Some(backend) = postgres_backend() else {
        return;
    };
    let database = FreshDatabase::create(&backend).await;
    let mut url = url::Url::parse(database.url()).unwrap();
    let target = SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap_or(5432),
    );
    let proxy = Proxy::start(target).await;
    url.set_port(Some(proxy.address.port())).unwrap();
    let app = spawn_on(url.as_str(), |config| {
        config.storage.db_acquire_timeout = Duration::from_millis(500)
    })
    .await;

    let before = app.generate(&body("before the outage")).await;
    assert_eq!(last(&before).event, "completed");
    let page_url = last(&before).data["live_url"].as_str().unwrap().to_owned();

    // The database goes away in the middle of a generation: it cannot save, and says so.
    app.mock.push(Script {
        content: Content::Deltas((0..20).map(|i| format!("<p>{i}</p>")).collect()),
        pace: Duration::from_millis(10),
        ..Script::default()
    });
    let response = app.post_generate(&body("during the outage")).await;
    let mut events = response.bytes_stream().eventsource();
    while events.next().await.unwrap().unwrap().event != "delta" {}
    proxy.cut(); // the generation row is written; the page cannot be
    let ending = events
        .fold(None, |_, event| async move { Some(event.unwrap()) })
        .await
        .unwrap();
    assert_eq!(ending.event, "error");
    let error: serde_json::Value = serde_json::from_str(&ending.data).unwrap();
    assert_eq!(error["code"], "storage_unavailable", "{error}");

    // The server keeps answering what it can.
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(
        app.get(&page_url.replace(&app.url(""), "")).await.status(),
        503
    );

    // The database returns: no restart needed.
    proxy.restore();
    assert_eq!(app.get("/readyz").await.status(), 200);
    let after = app.generate(&body("after the outage")).await;
    assert_eq!(last(&after).event, "completed");
    assert_eq!(
        app.client.get(&page_url).send().await.unwrap().status(),
        200
    );

    app.stop().await;
    database.cleanup().await;
}
