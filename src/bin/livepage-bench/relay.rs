//! The relay benchmark: N concurrent generations streaming stamped deltas at a set pace, and
//! what each delta costs the server in latency, CPU and memory.
//!
//! CPU and memory are sampled from `/proc` while the run goes on (`sampling`). The figures that
//! compare with a plain relay (CPU per 100k deltas, memory per stream) come from the *steady
//! window*: the samples during which every stream was open, so that starting generations (a
//! database insert each) and finishing them (sanitize and save) do not blur what relaying
//! costs. The whole-run CPU per delta, everything included, is reported next to it.
//!
//! With the yardstick on, the same streams also go through nginx (`proxy_buffering off`)
//! straight to the mock: what relaying costs a server that does nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinSet;

use crate::Bench;
use crate::client::{self, Counters, Outcome, Protocol, Tally};
use crate::database::Database;
use crate::nginx::Nginx;
use crate::process::{Probe, Server, Usage};
use crate::sampling::{
    Sample, Sampler, cpu_per_100k_between, per_100k, stamp_window, steady_window,
};
use crate::upstream::Upstream;

#[derive(Debug, Clone, Copy)]
pub struct RelayOptions {
    pub streams: usize,
    pub deltas: usize,
    /// Deltas per second of each stream.
    pub rate: u32,
    /// New streams started per second while ramping up.
    pub open_rate: u32,
}

/// What relays the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    LivePage,
    Nginx,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Self::LivePage => "LivePage",
            Self::Nginx => "nginx",
        }
    }
}

/// What one relay run measured.
#[derive(Debug)]
pub struct RelayReport {
    pub via: Via,
    pub options: RelayOptions,
    /// Streams, deltas, latencies.
    pub tally: Tally,
    /// Server CPU seconds per 100,000 deltas in the steady window, and over the whole run.
    pub cpu_per_100k_steady: Option<f64>,
    pub cpu_per_100k_total: f64,
    pub peak_kib: u64,
    /// (RSS with every stream open − idle RSS) / streams.
    pub kib_per_stream: Option<f64>,
    pub wall: Duration,
}

pub async fn run(bench: &Bench, via: Via, options: RelayOptions) -> anyhow::Result<RelayReport> {
    let pace = Duration::from_secs(1) / options.rate.max(1);
    let upstream = Upstream::start(options.deltas, pace, true).await?;
    let measured = match via {
        Via::LivePage => through_livepage(bench, &upstream, options).await?,
        Via::Nginx => through_nginx(bench, &upstream, options).await?,
    };
    Ok(report(via, options, measured))
}

async fn through_livepage(
    bench: &Bench,
    upstream: &Upstream,
    options: RelayOptions,
) -> anyhow::Result<Measured> {
    let database = match &bench.relay_database {
        Some(url) => Database::Given(url.clone()),
        None => Database::sqlite("relay")?,
    };
    let env = bench.server_env(upstream, database.url(), options.streams);
    let server = Server::start(&bench.server, &env, bench.server_open_files).await?;
    let target = Target {
        probe: server.probe(),
        url: server.url("/api/generate"),
        protocol: Protocol::LivePage,
    };
    // One instant generation first, so that lazily built parts (database connections, the
    // sanitizer, the HTTP client's pool) count as idle memory, not per stream.
    upstream.push_instant(options.deltas);
    warm_up(bench, &target).await?;
    let measured = measure(bench, &target, options).await;
    server.stop().await?;
    database.cleanup().await?;
    measured
}

async fn through_nginx(
    bench: &Bench,
    upstream: &Upstream,
    options: RelayOptions,
) -> anyhow::Result<Measured> {
    let binary = Nginx::find().context("the yardstick needs nginx (apt-get install -y nginx)")?;
    let port = upstream.url.port().context("the mock's URL has a port")?;
    let nginx = Nginx::start(&binary, |_, listen| proxy(listen, port), |_| Ok(())).await?;
    let target = Target {
        probe: nginx.probe()?,
        url: nginx.url("/chat/completions"),
        protocol: Protocol::Upstream,
    };
    upstream.push_instant(options.deltas);
    let measured = async {
        warm_up(bench, &target).await?;
        measure(bench, &target, options).await
    }
    .await;
    nginx.stop().await;
    measured
}

/// nginx as a streaming reverse proxy: `proxy_buffering off`, keep-alive to the upstream.
fn proxy(listen: u16, upstream_port: u16) -> String {
    format!(
        "    upstream mock {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}\n\
         \x20   server {{\n        listen 127.0.0.1:{listen};\n        location / {{\n\
         \x20           proxy_pass http://mock;\n            proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n            proxy_buffering off;\n\
         \x20           proxy_read_timeout 300s;\n        }}\n    }}\n"
    )
}

/// Where the streams go and how they are read.
struct Target {
    /// The relay's processes.
    probe: Probe,
    url: String,
    protocol: Protocol,
}

/// What [`measure`] saw.
struct Measured {
    outcomes: Vec<Outcome>,
    idle: Usage,
    end: Usage,
    samples: Vec<Sample>,
    wall: Duration,
}

async fn warm_up(bench: &Bench, target: &Target) -> anyhow::Result<()> {
    let outcome = client::follow(
        &bench.http,
        &target.url,
        body(target.protocol, 0),
        &Counters::default(),
        0,
        target.protocol,
    )
    .await;
    match outcome.error {
        Some(error) => anyhow::bail!("the warm-up stream failed: {error}"),
        None => Ok(()),
    }
}

fn body(protocol: Protocol, n: usize) -> String {
    match protocol {
        Protocol::LivePage => client::generate_body(n),
        Protocol::Upstream => client::chat_body(n),
    }
}

/// Runs the streams against `target`, sampling it meanwhile.
async fn measure(
    bench: &Bench,
    target: &Target,
    options: RelayOptions,
) -> anyhow::Result<Measured> {
    let idle = target.probe.usage()?;
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let sampler = Sampler::start(vec![target.probe], &counters);
    let outcomes = open_streams(bench, target, options, &counters).await;
    let wall = started.elapsed();
    let samples = sampler.stop().await;
    let end = target.probe.usage()?;
    Ok(Measured {
        outcomes,
        idle,
        end,
        samples,
        wall,
    })
}

/// Starts `streams` streams at `open_rate` per second and waits for all of them to end.
async fn open_streams(
    bench: &Bench,
    target: &Target,
    options: RelayOptions,
    counters: &Arc<Counters>,
) -> Vec<Outcome> {
    let url: Arc<str> = target.url.as_str().into();
    let protocol = target.protocol;
    let gap = Duration::from_secs(1) / options.open_rate.max(1);
    let mut ticks = tokio::time::interval(gap);
    let mut tasks = JoinSet::new();
    for n in 0..options.streams {
        ticks.tick().await;
        let (http, url, counters) = (bench.http.clone(), Arc::clone(&url), Arc::clone(counters));
        let body = body(protocol, n + 1);
        tasks.spawn(async move {
            client::follow(&http, &url, body, &counters, options.deltas, protocol).await
        });
    }
    tasks.join_all().await
}

fn report(via: Via, options: RelayOptions, measured: Measured) -> RelayReport {
    let Measured {
        outcomes,
        idle,
        end,
        samples,
        wall,
    } = measured;
    let steady = steady_window(&samples, options.streams);
    let tally = Tally::of(&outcomes, steady.map(stamp_window));
    RelayReport {
        via,
        options,
        cpu_per_100k_steady: steady.and_then(|(a, b)| cpu_per_100k_between(a, b, 0)),
        cpu_per_100k_total: per_100k(end.cpu_seconds - idle.cpu_seconds, tally.deltas)
            .unwrap_or(0.0),
        peak_kib: end.hwm_kib,
        kib_per_stream: steady.map(|(a, b)| {
            let open_rss = a.usage[0].rss_kib.max(b.usage[0].rss_kib);
            open_rss.saturating_sub(idle.rss_kib) as f64 / options.streams as f64
        }),
        tally,
        wall,
    }
}
