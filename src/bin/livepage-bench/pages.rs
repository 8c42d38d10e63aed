//! The live pages benchmark: `GET /p/{id}` requests per second over a fixed number of
//! connections, and the same bytes served from disk by nginx as the best one could do.
//!
//! The load comes from `wrk` when it is installed (it is cheaper per request than anything we
//! would write), otherwise from a built-in loop of keep-alive requests.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tokio::process::Command;
use tokio::task::JoinSet;

use crate::Bench;
use crate::client::{self, Counters, Protocol};
use crate::database::Database;
use crate::nginx::{self, Nginx};
use crate::process::Server;
use crate::upstream::Upstream;

#[derive(Debug, Clone, Copy)]
pub struct PagesOptions {
    pub connections: usize,
    pub duration: Duration,
    pub deltas: usize,
}

/// One load run against one URL.
#[derive(Debug, Clone)]
pub struct Load {
    pub tool: &'static str,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx responses and socket errors.
    pub errors: u64,
    /// Server CPU seconds per 10,000 requests, when the server is ours to read.
    pub cpu_per_10k: Option<f64>,
}

#[derive(Debug)]
pub struct PagesReport {
    pub options: PagesOptions,
    pub page_bytes: usize,
    pub livepage: Load,
    /// `None` when nginx is not installed.
    pub nginx: Option<Load>,
}

pub async fn run(bench: &Bench, options: PagesOptions) -> anyhow::Result<PagesReport> {
    let upstream = Upstream::start(options.deltas, Duration::ZERO, false).await?;
    let database = Database::sqlite("pages")?;
    let env = bench.server_env(&upstream, database.url(), 64);
    let server = Server::start(&bench.server, &env, bench.server_open_files).await?;
    let live_url = publish_one(bench, &server).await?;
    let page = bench.http.get(&live_url).send().await?.error_for_status()?;
    let headers = page.headers().clone();
    let body = page.bytes().await?;

    let before = server.usage()?;
    let mut livepage = load(&bench.http, &live_url, options).await?;
    let after = server.usage()?;
    livepage.cpu_per_10k = Some(per_10k(
        after.cpu_seconds - before.cpu_seconds,
        &livepage,
        options,
    ));
    server.stop().await?;
    database.cleanup().await?;

    let path = url::Url::parse(&live_url)?.path().to_owned();
    let nginx = match Nginx::find() {
        Some(nginx) => Some(nginx_load(bench, &nginx, &path, &body, &headers, options).await?),
        None => {
            eprintln!("nginx is not installed: no reference figures (apt-get install -y nginx)");
            None
        }
    };
    Ok(PagesReport {
        options,
        page_bytes: body.len(),
        livepage,
        nginx,
    })
}

fn per_10k(cpu_seconds: f64, load: &Load, options: PagesOptions) -> f64 {
    let requests = load.requests_per_second * options.duration.as_secs_f64();
    cpu_seconds * 10_000.0 / requests.max(1.0)
}

/// Runs one generation to its end and returns its live URL.
async fn publish_one(bench: &Bench, server: &Server) -> anyhow::Result<String> {
    let url = server.url("/api/generate");
    let outcome = client::follow(
        &bench.http,
        &url,
        client::generate_body(0),
        &Counters::default(),
        0,
        Protocol::LivePage,
    )
    .await;
    let completed = outcome
        .completed
        .with_context(|| format!("the generation failed: {:?}", outcome.error))?;
    let completed: serde_json::Value = serde_json::from_str(&completed)?;
    completed["live_url"]
        .as_str()
        .map(str::to_owned)
        .context("`completed` without live_url")
}

/// Load on `url` with `wrk`, or the built-in loop when `wrk` is not installed.
async fn load(http: &reqwest::Client, url: &str, options: PagesOptions) -> anyhow::Result<Load> {
    match nginx::which("wrk") {
        Some(wrk) => wrk_load(&wrk, url, options).await,
        None => Ok(builtin_load(http, url, options).await),
    }
}

async fn wrk_load(wrk: &Path, url: &str, options: PagesOptions) -> anyhow::Result<Load> {
    let output = Command::new(wrk)
        .args([
            "--latency",
            "-t2",
            &format!("-c{}", options.connections),
            &format!("-d{}s", options.duration.as_secs().max(1)),
            url,
        ])
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}");
    }
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

/// Requests/sec, the 50% and 99% latencies, and the errors from `wrk --latency`'s report.
fn parse_wrk(text: &str) -> Option<Load> {
    let value_after = |label: &str| {
        let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
        line.trim_start()[label.len()..].split_whitespace().next()
    };
    let errors = ["Non-2xx or 3xx responses:", "Socket errors:"]
        .iter()
        .filter_map(|label| {
            let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
            // Only the counts after the label: the label itself has digits ("2xx").
            let counts = &line.trim_start()[label.len()..];
            Some(
                counts
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum::<u64>(),
            )
        })
        .sum();
    Some(Load {
        tool: "wrk",
        requests_per_second: value_after("Requests/sec:")?.parse().ok()?,
        p50_ms: wrk_millis(value_after("50%")?)?,
        p99_ms: wrk_millis(value_after("99%")?)?,
        errors,
        cpu_per_10k: None,
    })
}

/// `812.00us`, `1.23ms`, `1.02s` → milliseconds.
fn wrk_millis(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(number / 1000.0),
        "ms" => Some(number),
        "s" => Some(number * 1000.0),
        "m" => Some(number * 60_000.0),
        _ => None,
    }
}

/// `connections` tasks, each sending keep-alive GETs back to back until the time is up.
async fn builtin_load(http: &reqwest::Client, url: &str, options: PagesOptions) -> Load {
    let deadline = Instant::now() + options.duration;
    let mut tasks = JoinSet::new();
    for _ in 0..options.connections {
        let (http, url) = (http.clone(), url.to_owned());
        tasks.spawn(async move {
            let mut latencies = Histogram::<u64>::new(3).expect("static precision");
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = match http.get(&url).send().await {
                    Ok(response) => {
                        response.status().is_success() && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                errors += u64::from(!ok);
                latencies.saturating_record(
                    u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX),
                );
            }
            (latencies, errors)
        });
    }
    let mut all = Histogram::<u64>::new(3).expect("static precision");
    let mut errors = 0;
    for (latencies, task_errors) in tasks.join_all().await {
        let _ = all.add(&latencies);
        errors += task_errors;
    }
    Load {
        tool: "built-in",
        requests_per_second: all.len() as f64 / options.duration.as_secs_f64(),
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        errors,
        cpu_per_10k: None,
    }
}

/// Serves `body` at `path` from disk with nginx (with LivePage's security headers), loads it
/// the same way, and stops nginx.
async fn nginx_load(
    bench: &Bench,
    nginx: &Path,
    path: &str,
    body: &[u8],
    headers: &reqwest::header::HeaderMap,
    options: PagesOptions,
) -> anyhow::Result<Load> {
    let file = path.trim_start_matches('/').to_owned();
    let prepare = |dir: &Path| {
        let file = dir.join("root").join(&file);
        std::fs::create_dir_all(file.parent().context("a page path has a parent")?)?;
        Ok(std::fs::write(&file, body)?)
    };
    let server = Nginx::start(nginx, |dir, port| static_site(dir, port, headers), prepare).await?;
    let result = async {
        let probe = server.probe()?;
        let before = probe.usage()?.cpu_seconds;
        let mut load = load(&bench.http, &server.url(path), options).await?;
        let after = probe.usage()?.cpu_seconds;
        load.cpu_per_10k = Some(per_10k(after - before, &load, options));
        Ok(load)
    }
    .await;
    server.stop().await;
    result
}

/// The `http {}` body serving `{prefix}/root` with LivePage's page headers.
fn static_site(dir: &Path, port: u16, headers: &reqwest::header::HeaderMap) -> String {
    let mut add_headers = String::new();
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "cache-control",
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            add_headers.push_str(&format!(
                "            add_header {name} \"{value}\" always;\n"
            ));
        }
    }
    format!(
        "    sendfile on;\n    tcp_nopush on;\n    keepalive_requests 1000000;\n\
         \x20   server {{\n        listen 127.0.0.1:{port};\n        root {}/root;\n\
         \x20       location /p/ {{\n            default_type \"text/html; charset=utf-8\";\n\
         {add_headers}        }}\n    }}\n",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read() {
        let text = "Running 10s test @ http://127.0.0.1:1/p/x\n  2 threads and 64 connections\n\
            \x20 Latency Distribution\n     50%    1.20ms\n     75%    2.00ms\n     90%    3.00ms\n\
            \x20    99%  812.00us\n  123456 requests in 10.00s, 1.00GB read\n\
            \x20 Non-2xx or 3xx responses: 7\nRequests/sec:  12345.67\nTransfer/sec:    100.00MB\n";
        let load = parse_wrk(text).unwrap();
        assert_eq!(load.requests_per_second, 12345.67);
        assert_eq!((load.p50_ms, load.p99_ms), (1.2, 0.812));
        assert_eq!(load.errors, 7);
    }
}
