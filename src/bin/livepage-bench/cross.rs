//! The cross-instance benchmark: N stamped streams produced on one instance (A) and followed on
//! another (B) through Redis, next to the same streams followed in memory on A itself — what
//! following a generation from any instance costs in latency, and in CPU on A, on B and in
//! `redis-server`.
//!
//! Two instances share a generation when they share the database (a scratch PostgreSQL
//! database, created for each run and dropped after it) and `REDIS_URL`. Each run measures one
//! [`Path`] of the events:
//! - **in memory**: A alone, without Redis; its own client reads the stream (`POST
//!   /api/generate`), as in the relay benchmark;
//! - **Redis, on A**: A with `REDIS_URL`, so it publishes every event to the generation's Redis
//!   Stream, and the stream is still read on A: what publishing adds;
//! - **Redis, on B**: the client starts the generation on A, reads A's stream only up to its
//!   `started` event (the generation goes on without it), then follows
//!   `GET /api/generations/{id}/events` on B, which copies the events from Redis (one `XREAD
//!   BLOCK` over all the generations it follows). A then publishes and relays to nobody.
//!
//! A delta's added latency is measured as in the relay benchmark, at whichever client reads
//! it: from the mock's send stamp to the client. CPU per 100k deltas is taken over the steady
//! window (every stream open at its reader), per process, and over the whole run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::Bench;
use crate::client::{self, Counters, Outcome, Protocol, Tally};
use crate::database::Database;
use crate::process::{Probe, Server, Usage};
use crate::redis_server::RedisServer;
use crate::sampling::{
    Sample, Sampler, cpu_per_100k_between, per_100k, stamp_window, steady_window,
};
use crate::upstream::Upstream;

/// How a follower on B asks again while B answers 404 for the generation. A sends `started`
/// before it has written the generation's row, which is how B finds the generation; B itself
/// waits a moment for the row of a generation made moments ago (`generation::follow`), so a
/// 404 here means the row took longer than that.
const NOT_FOUND_RETRY: Duration = Duration::from_millis(5);
const NOT_FOUND_GIVE_UP: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct CrossOptions {
    pub streams: usize,
    pub deltas: usize,
    /// Deltas per second of each stream.
    pub rate: u32,
    /// New streams started per second while ramping up.
    pub open_rate: u32,
}

/// Where a generation's events are read, and through what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Path {
    /// On A, from its own log; no Redis.
    InMemory,
    /// On A, which also publishes to Redis.
    OnA,
    /// On B, copied from Redis.
    OnB,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Self::InMemory => "in memory, on A",
            Self::OnA => "Redis, on A",
            Self::OnB => "Redis, on B",
        }
    }

    fn uses_redis(self) -> bool {
        self != Self::InMemory
    }
}

/// CPU seconds per 100,000 deltas of each process (`None`: not in the run, or not measured).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub redis: Option<f64>,
}

impl Cpu {
    /// All the processes together.
    pub fn sum(&self) -> Option<f64> {
        let parts = [self.a, self.b, self.redis];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct CrossReport {
    pub path: Path,
    pub options: CrossOptions,
    /// Streams, deltas and latencies, as read by the clients.
    pub tally: Tally,
    /// `GET …/events` on B answered 404 and asked again (the row was not written yet).
    pub retried_gets: u64,
    pub cpu_steady: Option<Cpu>,
    pub cpu_total: Cpu,
    pub peak_kib_a: u64,
    pub peak_kib_b: Option<u64>,
    pub wall: Duration,
}

/// Runs `options.streams` streams along `path`, on a scratch database made on the PostgreSQL
/// server of `postgres_admin`.
pub async fn run(
    bench: &Bench,
    redis: &RedisServer,
    postgres_admin: &str,
    path: Path,
    options: CrossOptions,
) -> anyhow::Result<CrossReport> {
    let pace = Duration::from_secs(1) / options.rate.max(1);
    let upstream = Upstream::start(options.deltas, pace, true).await?;
    let database = Database::scratch_postgres(postgres_admin, "cross").await?;
    let measured = on_instances(bench, redis, &upstream, &database, path, options).await;
    database.cleanup().await?;
    let measured = measured?;
    let generations: Vec<Uuid> = measured.generations().collect();
    if path.uses_redis() {
        redis.forget(&generations).await?;
    }
    Ok(report(path, options, measured))
}

/// Starts the instances on `database`, runs the streams and stops the instances.
async fn on_instances(
    bench: &Bench,
    redis: &RedisServer,
    upstream: &Upstream,
    database: &Database,
    path: Path,
    options: CrossOptions,
) -> anyhow::Result<Measured> {
    let mut env = bench.server_env(upstream, database.url(), options.streams);
    if path.uses_redis() {
        env.push(("REDIS_URL".to_owned(), redis.url.clone()));
    }
    // One after the other: both run the migrations of the shared database at start-up.
    let a = Server::start(&bench.server, &env, bench.server_open_files).await?;
    let b = match path {
        Path::OnB => Some(Server::start(&bench.server, &env, bench.server_open_files).await?),
        Path::InMemory | Path::OnA => None,
    };
    let target = Target {
        generate_url: a.url("/api/generate"),
        follower: b.as_ref().map(|b| b.url("")),
        watched: Watched::new(&a, b.as_ref(), redis.probe.filter(|_| path.uses_redis())),
    };
    let measured = async {
        // One instant generation along the same path first, so that lazily built parts
        // (database connections, the sanitizer, HTTP and Redis clients) count as idle.
        upstream.push_instant(options.deltas);
        let warm_up = follow(&bench.http, &target, 0, 0, &Counters::default()).await;
        if let Some(error) = &warm_up.outcome.error {
            anyhow::bail!("the warm-up stream failed: {error}");
        }
        let mut measured = measure(bench, &target, options).await?;
        measured.warm_up = warm_up.generation;
        Ok(measured)
    }
    .await;
    a.stop().await?;
    if let Some(b) = b {
        b.stop().await?;
    }
    measured
}

/// Where the streams start and are followed, and which processes are watched.
#[derive(Clone)]
struct Target {
    /// A's `POST /api/generate`.
    generate_url: String,
    /// B's base URL, when the streams are followed there.
    follower: Option<String>,
    watched: Watched,
}

/// The processes a run reads from `/proc`, in the order of the probes.
#[derive(Clone)]
struct Watched {
    probes: Vec<Probe>,
    /// The index of B's probe.
    b: Option<usize>,
    /// The index of `redis-server`'s probe.
    redis: Option<usize>,
}

impl Watched {
    /// A at index 0, then B and Redis when they take part.
    fn new(a: &Server, b: Option<&Server>, redis: Option<Probe>) -> Self {
        let mut probes = vec![a.probe()];
        let mut push = |probe: Probe| {
            probes.push(probe);
            probes.len() - 1
        };
        let b = b.map(|b| push(b.probe()));
        let redis = redis.map(&mut push);
        Self { probes, b, redis }
    }

    fn usage(&self) -> anyhow::Result<Vec<Usage>> {
        self.probes.iter().map(Probe::usage).collect()
    }

    /// The CPU of each process per 100k deltas, from `per_probe` (which answers by index).
    fn cpu(&self, per_probe: impl Fn(usize) -> Option<f64>) -> Cpu {
        Cpu {
            a: per_probe(0),
            b: self.b.and_then(&per_probe),
            redis: self.redis.and_then(&per_probe),
        }
    }
}

/// One stream as its client saw it.
struct Followed {
    outcome: Outcome,
    /// The generation's id, from its `started` event.
    generation: Option<Uuid>,
    /// GETs answered 404 before B knew the generation.
    retried_gets: u32,
}

/// What [`measure`] saw.
struct Measured {
    streams: Vec<Followed>,
    /// The warm-up's generation, not part of the figures.
    warm_up: Option<Uuid>,
    idle: Vec<Usage>,
    end: Vec<Usage>,
    samples: Vec<Sample>,
    watched: Watched,
    wall: Duration,
}

impl Measured {
    /// Every generation the run started.
    fn generations(&self) -> impl Iterator<Item = Uuid> + '_ {
        let streams = self.streams.iter().filter_map(|stream| stream.generation);
        streams.chain(self.warm_up)
    }
}

/// Runs the streams, sampling the processes meanwhile.
async fn measure(
    bench: &Bench,
    target: &Target,
    options: CrossOptions,
) -> anyhow::Result<Measured> {
    let idle = target.watched.usage()?;
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let sampler = Sampler::start(target.watched.probes.clone(), &counters);
    let streams = open_streams(bench, target, options, &counters).await;
    let wall = started.elapsed();
    let samples = sampler.stop().await;
    let end = target.watched.usage()?;
    Ok(Measured {
        streams,
        warm_up: None,
        idle,
        end,
        samples,
        watched: target.watched.clone(),
        wall,
    })
}

/// Starts `streams` streams at `open_rate` per second and waits for all of them to end.
async fn open_streams(
    bench: &Bench,
    target: &Target,
    options: CrossOptions,
    counters: &Arc<Counters>,
) -> Vec<Followed> {
    let target = Arc::new(target.clone());
    let gap = Duration::from_secs(1) / options.open_rate.max(1);
    let mut ticks = tokio::time::interval(gap);
    let mut tasks = JoinSet::new();
    for n in 0..options.streams {
        ticks.tick().await;
        let (http, target, counters) = (
            bench.http.clone(),
            Arc::clone(&target),
            Arc::clone(counters),
        );
        tasks.spawn(async move { follow(&http, &target, n + 1, options.deltas, &counters).await });
    }
    tasks.join_all().await
}

/// Starts generation `n` on A and follows it where `target` says.
async fn follow(
    http: &reqwest::Client,
    target: &Target,
    n: usize,
    deltas: usize,
    counters: &Counters,
) -> Followed {
    let body = client::generate_body(n);
    match &target.follower {
        None => {
            let outcome = client::follow(
                http,
                &target.generate_url,
                body,
                counters,
                deltas,
                Protocol::LivePage,
            )
            .await;
            Followed {
                generation: outcome.generation_id,
                outcome,
                retried_gets: 0,
            }
        }
        Some(follower) => follow_elsewhere(http, target, follower, body, deltas, counters).await,
    }
}

/// Starts a generation on A, reads A's stream up to `started`, then follows the generation's
/// events on `follower`. The time to the first delta counts from the start on A.
async fn follow_elsewhere(
    http: &reqwest::Client,
    target: &Target,
    follower: &str,
    body: String,
    deltas: usize,
    counters: &Counters,
) -> Followed {
    let sent = Instant::now();
    let generation = match client::start(http, &target.generate_url, body).await {
        Ok(id) => id,
        Err(error) => {
            return Followed {
                outcome: Outcome::failed(Protocol::LivePage, format!("on A: {error}")),
                generation: None,
                retried_gets: 0,
            };
        }
    };
    let url = format!("{follower}/api/generations/{generation}/events");
    let (outcome, retried_gets) = match open_events(http, &url).await {
        Ok((response, retried)) => {
            let outcome = client::read(response, sent, counters, deltas, Protocol::LivePage).await;
            (outcome, retried)
        }
        Err((error, retried)) => (
            Outcome::failed(Protocol::LivePage, format!("on B: {error}")),
            retried,
        ),
    };
    Followed {
        outcome,
        generation: Some(generation),
        retried_gets,
    }
}

/// `GET url`, asked again while it answers 404; with the number of 404s.
async fn open_events(
    http: &reqwest::Client,
    url: &str,
) -> Result<(reqwest::Response, u32), (String, u32)> {
    let deadline = Instant::now() + NOT_FOUND_GIVE_UP;
    let mut retried = 0;
    loop {
        let response = http
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => return Ok((response, retried)),
            Ok(response)
                if response.status() == reqwest::StatusCode::NOT_FOUND
                    && Instant::now() < deadline =>
            {
                retried += 1;
                tokio::time::sleep(NOT_FOUND_RETRY).await;
            }
            Ok(response) => return Err((format!("HTTP {}", response.status()), retried)),
            Err(err) => return Err((format!("request: {err}"), retried)),
        }
    }
}

fn report(path: Path, options: CrossOptions, measured: Measured) -> CrossReport {
    let Measured {
        streams,
        idle,
        end,
        samples,
        watched,
        wall,
        ..
    } = measured;
    let steady = steady_window(&samples, options.streams);
    let outcomes = streams.iter().map(|stream| &stream.outcome);
    let tally = Tally::of(outcomes, steady.map(stamp_window));
    let whole_run = |i: usize| per_100k(end[i].cpu_seconds - idle[i].cpu_seconds, tally.deltas);
    CrossReport {
        path,
        options,
        retried_gets: streams
            .iter()
            .map(|stream| u64::from(stream.retried_gets))
            .sum(),
        cpu_steady: steady.map(|(a, b)| watched.cpu(|i| cpu_per_100k_between(a, b, i))),
        cpu_total: watched.cpu(whole_run),
        peak_kib_a: end[0].hwm_kib,
        peak_kib_b: watched.b.map(|i| end[i].hwm_kib),
        tally,
        wall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_counts_only_the_processes_measured() {
        let cpu = Cpu {
            a: Some(1.5),
            b: None,
            redis: Some(0.5),
        };
        assert_eq!(cpu.sum(), Some(2.0));
        assert_eq!(Cpu::default().sum(), None);
    }
}
