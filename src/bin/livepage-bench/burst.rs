//! The burst benchmark: how many whole generations per second the server gets through when the
//! upstream answers instantly — so that what is measured is LivePage's own work per page:
//! recording the generation, relaying its deltas, sanitizing the page and saving it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::Bench;
use crate::client::{self, Counters, Outcome, Protocol};
use crate::database::Database;
use crate::process::Server;
use crate::upstream::Upstream;

#[derive(Debug, Clone, Copy)]
pub struct BurstOptions {
    pub generations: usize,
    /// Generations in flight at once.
    pub concurrency: usize,
    pub deltas: usize,
}

#[derive(Debug)]
pub struct BurstReport {
    pub backend: &'static str,
    pub options: BurstOptions,
    pub completed: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
    /// Server CPU milliseconds per generation.
    pub cpu_ms_per_generation: f64,
    pub peak_kib: u64,
}

impl BurstReport {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64()
    }
}

pub async fn run(
    bench: &Bench,
    database: Database,
    options: BurstOptions,
) -> anyhow::Result<BurstReport> {
    let upstream = Upstream::start(options.deltas, Duration::ZERO, false).await?;
    let env = bench.server_env(&upstream, database.url(), options.concurrency);
    let server = Server::start(&bench.server, &env, bench.server_open_files).await?;
    let before = server.usage()?;
    let started = Instant::now();
    let outcomes = generate_all(bench, &server, options).await;
    let wall = started.elapsed();
    let after = server.usage()?;
    server.stop().await?;
    let backend = database.backend();
    database.cleanup().await?;

    let completed = outcomes.iter().filter(|o| o.error.is_none()).count();
    let first_error = outcomes.iter().find_map(|o| o.error.clone());
    Ok(BurstReport {
        backend,
        options,
        completed,
        errors: outcomes.len() - completed,
        first_error,
        wall,
        cpu_ms_per_generation: (after.cpu_seconds - before.cpu_seconds) * 1000.0
            / options.generations.max(1) as f64,
        peak_kib: after.hwm_kib,
    })
}

/// `concurrency` workers take generations off a shared count until all are done.
async fn generate_all(bench: &Bench, server: &Server, options: BurstOptions) -> Vec<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let url: Arc<str> = server.url("/api/generate").into();
    let counters = Arc::new(Counters::default());
    let mut workers = JoinSet::new();
    for _ in 0..options.concurrency.max(1) {
        let (http, url, next, counters) = (
            bench.http.clone(),
            Arc::clone(&url),
            Arc::clone(&next),
            Arc::clone(&counters),
        );
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= options.generations {
                    return outcomes;
                }
                let body = client::generate_body(n);
                outcomes.push(
                    client::follow(&http, &url, body, &counters, 0, Protocol::LivePage).await,
                );
            }
        });
    }
    workers.join_all().await.into_iter().flatten().collect()
}
