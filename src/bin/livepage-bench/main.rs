//! `livepage-bench`: what a stream costs, and how far one machine goes.
//!
//! Starts the real `livepage` binary as a child process against the mock upstream (served in
//! this process), drives it from a client in this process, and prints Markdown tables:
//! - **relay**: N concurrent stamped streams at a set pace — added latency per delta, time to
//!   the first delta, errors, server CPU per 100k deltas, peak memory and memory per stream;
//! - **burst**: whole generations per second from an instant upstream, on SQLite and, with
//!   `--postgres`, on a scratch PostgreSQL database;
//! - **pages**: `GET /p/{id}` requests per second, next to nginx serving the same bytes;
//! - **cross** (not run by default; needs `--postgres` and a Redis): streams produced on one
//!   instance and followed on another through Redis, next to the same streams followed in
//!   memory — added latency, and CPU per 100k deltas of both instances and of `redis-server`.
//!
//! Build both binaries first (`cargo build --release`), then see `--help` and BENCHMARKS.md.
//!
//! # Layout
//! - `process`: the server child process and its `/proc` figures; scratch directories.
//! - `database`: SQLite in a scratch directory, or a scratch PostgreSQL database.
//! - `upstream`: the mock upstream and the page it streams.
//! - `client`: one generation's stream, read cheaply, with each delta's latency.
//! - `nginx`: nginx as the yardstick, as a streaming proxy and as a static file server.
//! - `sampling`: usage sampled while streams run; the steady window.
//! - `redis_server`: the Redis of the cross-instance runs, its process and its keys.
//! - `relay`, `burst`, `pages`, `cross`: the benchmarks.
//! - `report`: the tables.

mod burst;
mod client;
mod cross;
mod database;
mod nginx;
mod pages;
mod process;
mod redis_server;
mod relay;
mod report;
mod sampling;
mod upstream;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use crate::database::Database;
use crate::redis_server::RedisServer;
use crate::upstream::Upstream;

#[derive(Debug, Parser)]
#[command(
    name = "livepage-bench",
    about = "Benchmarks the livepage binary: relay cost, burst throughput, live page serving."
)]
struct Args {
    /// The `livepage` binary to run (default: the one next to this binary).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Which benchmarks to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "relay,burst,pages")]
    only: Vec<Section>,
    /// Concurrent streams of each relay run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    streams: Vec<usize>,
    /// Content deltas per generation.
    #[arg(long, default_value_t = 400)]
    deltas: usize,
    /// Deltas per second of each relay stream.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Also relay each run's streams through nginx (`proxy_buffering off`), as the yardstick.
    #[arg(long)]
    yardstick: bool,
    /// Relay streams started per second while ramping up.
    #[arg(long, default_value_t = 2000)]
    open_rate: u32,
    /// The relay server's database (default: SQLite in a scratch directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Also run the burst on PostgreSQL, in a scratch database created on this server; the
    /// cross-instance runs need it (their instances share a scratch database there).
    #[arg(long)]
    postgres: Option<String>,
    /// The Redis the instances of the cross-instance runs share (`REDIS_URL`).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Concurrent streams of each cross-instance run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    cross_streams: Vec<usize>,
    /// Where the cross-instance runs read the streams, comma-separated: in memory on the
    /// instance that runs them, on it with Redis on, on the other instance through Redis.
    #[arg(long, value_delimiter = ',', default_value = "in-memory,on-a,on-b")]
    cross_paths: Vec<cross::Path>,
    /// Generations in the burst.
    #[arg(long, default_value_t = 1000)]
    burst: usize,
    /// Burst generations in flight at once.
    #[arg(long, default_value_t = 32)]
    burst_concurrency: usize,
    /// Connections of the live pages load.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long each live pages load runs.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The server's open-file limit (soft and hard `RLIMIT_NOFILE`), e.g. to see its
    /// admission refuse streams past it (default: the bench's own, raised to the hard limit).
    #[arg(long)]
    server_open_files: Option<u64>,
    /// `RUST_LOG` of the server (it must let `livepage::app`'s `listening` line through).
    #[arg(long, default_value = "warn,livepage::app=info")]
    server_log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Relay,
    Burst,
    Pages,
    Cross,
}

/// What every benchmark shares.
pub struct Bench {
    /// The `livepage` binary.
    pub server: PathBuf,
    /// One client for every request: streams, page loads, warm-ups.
    pub http: reqwest::Client,
    pub server_log: String,
    /// `--database-url` for the relay runs.
    pub relay_database: Option<String>,
    /// `--server-open-files`.
    pub server_open_files: Option<u64>,
}

impl Bench {
    /// The server's environment for a run: our mock as the upstream, no rate limits, `slots`
    /// generations at once, and timeouts that only a broken run would reach.
    pub fn server_env(
        &self,
        upstream: &Upstream,
        database_url: &str,
        slots: usize,
    ) -> Vec<(String, String)> {
        let slots = slots.max(1).to_string();
        [
            ("OPENROUTER_API_KEY", "bench"),
            ("OPENROUTER_BASE_URL", upstream.url.as_str()),
            ("DATABASE_URL", database_url),
            ("LIVEPAGE_RATE_LIMIT_PER_IP", "0"),
            ("LIVEPAGE_RATE_LIMIT_PER_EMAIL", "0"),
            ("LIVEPAGE_MAX_CONCURRENT", &slots),
            ("LIVEPAGE_MAX_QUEUED", &slots),
            // A failure should show as an error, not hide behind a retry or a fallback page.
            ("LIVEPAGE_MAX_ATTEMPTS", "1"),
            ("LIVEPAGE_FALLBACK", "false"),
            ("LIVEPAGE_CONNECT_TIMEOUT", "60s"),
            ("LIVEPAGE_FIRST_TOKEN_TIMEOUT", "120s"),
            ("LIVEPAGE_IDLE_TIMEOUT", "120s"),
            ("LIVEPAGE_GENERATION_TIMEOUT", "30m"),
            ("LIVEPAGE_DB_ACQUIRE_TIMEOUT", "60s"),
            ("LIVEPAGE_SHUTDOWN_GRACE", "60s"),
            ("RUST_LOG", &self.server_log),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let most_streams = args.streams.iter().chain(&args.cross_streams).max();
    raise_open_files(most_streams.copied().unwrap_or(0));
    let bench = Bench {
        server: server_binary(args.server.clone())?,
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?,
        server_log: args.server_log.clone(),
        relay_database: args.database_url.clone(),
        server_open_files: args.server_open_files,
    };
    println!("{}", report::machine());
    if args.only.contains(&Section::Relay) {
        run_relay(&bench, &args).await?;
    }
    if args.only.contains(&Section::Burst) {
        run_burst(&bench, &args).await?;
    }
    if args.only.contains(&Section::Pages) {
        run_pages(&bench, &args).await?;
    }
    if args.only.contains(&Section::Cross) {
        run_cross(&bench, &args).await?;
    }
    Ok(())
}

async fn run_relay(bench: &Bench, args: &Args) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for &streams in &args.streams {
        eprintln!("relay: {streams} streams…");
        let options = relay::RelayOptions {
            streams,
            deltas: args.deltas,
            rate: args.rate,
            open_rate: args.open_rate,
        };
        reports.push(relay::run(bench, relay::Via::LivePage, options).await?);
        if args.yardstick {
            eprintln!("relay: {streams} streams through nginx…");
            reports.push(relay::run(bench, relay::Via::Nginx, options).await?);
        }
    }
    println!("{}", report::relay(&reports));
    Ok(())
}

async fn run_burst(bench: &Bench, args: &Args) -> anyhow::Result<()> {
    let options = burst::BurstOptions {
        generations: args.burst,
        concurrency: args.burst_concurrency,
        deltas: args.deltas,
    };
    eprintln!("burst: {} generations on SQLite…", args.burst);
    let mut reports = vec![burst::run(bench, Database::sqlite("burst")?, options).await?];
    if let Some(admin_url) = &args.postgres {
        eprintln!("burst: {} generations on PostgreSQL…", args.burst);
        let database = Database::scratch_postgres(admin_url, "burst").await?;
        reports.push(burst::run(bench, database, options).await?);
    }
    println!("{}", report::burst(&reports));
    Ok(())
}

async fn run_pages(bench: &Bench, args: &Args) -> anyhow::Result<()> {
    eprintln!(
        "pages: {} connections for {:?}…",
        args.connections, args.duration
    );
    let options = pages::PagesOptions {
        connections: args.connections,
        duration: args.duration,
        deltas: args.deltas,
    };
    println!("{}", report::pages(&pages::run(bench, options).await?));
    Ok(())
}

async fn run_cross(bench: &Bench, args: &Args) -> anyhow::Result<()> {
    let postgres = args.postgres.as_deref().context(
        "the cross-instance runs need --postgres (an admin URL): both instances share a scratch database there",
    )?;
    let redis = RedisServer::connect(&args.redis).await?;
    let mut reports = Vec::new();
    for &streams in &args.cross_streams {
        for &path in &args.cross_paths {
            eprintln!("cross: {streams} streams, {}…", path.name());
            let options = cross::CrossOptions {
                streams,
                deltas: args.deltas,
                rate: args.rate,
                open_rate: args.open_rate,
            };
            reports.push(cross::run(bench, &redis, postgres, path, options).await?);
        }
    }
    println!("{}", report::cross(&reports));
    Ok(())
}

/// Each stream holds a socket in the client, the mock and twice in the server: raise the soft
/// limit to the hard one (the server child inherits it).
fn raise_open_files(streams: usize) {
    let needed = (streams as u64) * 2 + 1024;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => {
            eprintln!(
                "warning: open files limited to {limit}; {streams} streams need about {needed}"
            );
        }
        Ok(_) => {}
        Err(err) => eprintln!("warning: could not raise RLIMIT_NOFILE: {err}"),
    }
}

/// `--server`, or `livepage` next to this binary (`cargo build --release` builds both).
fn server_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary has a directory")?
            .join("livepage"),
    };
    anyhow::ensure!(
        path.is_file(),
        "{} not found: run `cargo build --release` first, or pass --server",
        path.display()
    );
    Ok(path)
}
