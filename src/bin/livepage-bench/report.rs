//! The benchmark's output: Markdown tables, ready to paste into BENCHMARKS.md.

use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::burst::BurstReport;
use crate::cross::{CrossReport, Path};
use crate::pages::{Load, PagesReport};
use crate::relay::RelayReport;

/// The machine the figures come from: cores, CPU model, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown", |(_, name)| name.trim());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    format!(
        "Machine: {cores} cores, {model}, {:.1} GiB memory\n",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

pub fn relay(reports: &[RelayReport]) -> String {
    let mut out = String::from(
        "## Relay\n\n\
         | relay | streams | deltas/s each | completed | refused (503) | errors | deltas | added p50 | added p99 | added max | first delta p50 / p99 | CPU s / 100k deltas (steady) | (whole run) | peak RSS | RSS / stream | wall |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {:.2} | {:.0} MiB | {} | {:.1} s |",
            r.via.name(),
            r.options.streams,
            r.options.rate,
            r.tally.completed,
            r.tally.refused,
            r.tally.errors,
            r.tally.deltas,
            quantile(&r.tally.latency, 0.5),
            quantile(&r.tally.latency, 0.99),
            millis(r.tally.latency.max()),
            quantile(&r.tally.first_delta, 0.5),
            quantile(&r.tally.first_delta, 0.99),
            r.cpu_per_100k_steady
                .map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.2}")),
            r.cpu_per_100k_total,
            r.peak_kib as f64 / 1024.0,
            r.kib_per_stream
                .map_or_else(|| "–".to_owned(), |kib| format!("{kib:.1} KiB")),
            r.wall.as_secs_f64(),
        );
    }
    append_errors(&mut out, reports.iter().map(|r| &r.tally.first_error));
    out
}

pub fn burst(reports: &[BurstReport]) -> String {
    let mut out = String::from(
        "## Burst (instant upstream)\n\n\
         | database | generations | in flight | deltas each | completed | errors | generations/s | server CPU ms / generation | peak RSS |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.0} MiB |",
            r.backend,
            r.options.generations,
            r.options.concurrency,
            r.options.deltas,
            r.completed,
            r.errors,
            r.per_second(),
            r.cpu_ms_per_generation,
            r.peak_kib as f64 / 1024.0,
        );
    }
    append_errors(&mut out, reports.iter().map(|r| &r.first_error));
    out
}

pub fn pages(report: &PagesReport) -> String {
    let mut out = format!(
        "## Live pages (`GET /p/{{id}}`, {} bytes, {} connections, {:?})\n\n\
         | server | load | requests/s | p50 | p99 | errors | server CPU s / 10k requests |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
        report.page_bytes, report.options.connections, report.options.duration,
    );
    load_row(&mut out, "LivePage", &report.livepage);
    if let Some(nginx) = &report.nginx {
        load_row(&mut out, "nginx (static file)", nginx);
        let _ = writeln!(
            out,
            "\nLivePage serves {:.0}% of nginx's requests per second.",
            100.0 * report.livepage.requests_per_second / nginx.requests_per_second
        );
    }
    out
}

/// The cross-instance target from the issue: the p99 added latency of a stream followed on B.
const CROSS_P99_TARGET_MS: f64 = 25.0;
/// … and the producer's CPU per delta, at most this many times the in-memory path's.
const CROSS_CPU_RATIO_TARGET: f64 = 2.0;

pub fn cross(reports: &[CrossReport]) -> String {
    let mut out = String::from(
        "## Cross-instance (Redis)\n\n\
         | path | streams | deltas/s each | completed | errors | deltas | added p50 | added p99 | added max | steady p50 / p99 | backlog deltas | first delta p50 / p99 | CPU s / 100k deltas (steady): A | B | redis-server | all | (whole run: A / B / redis) | peak RSS A / B | GETs retried | wall |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let steady = r.cpu_steady.unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} / {} | {} | {} | {} | {} | {} / {} / {} | {:.0} / {} | {} | {:.1} s |",
            r.path.name(),
            r.options.streams,
            r.options.rate,
            r.tally.completed,
            r.tally.errors,
            r.tally.deltas,
            quantile(&r.tally.latency, 0.5),
            quantile(&r.tally.latency, 0.99),
            millis(r.tally.latency.max()),
            quantile(&r.tally.steady_latency, 0.5),
            quantile(&r.tally.steady_latency, 0.99),
            r.tally.backlog,
            quantile(&r.tally.first_delta, 0.5),
            quantile(&r.tally.first_delta, 0.99),
            cpu(steady.a),
            cpu(steady.b),
            cpu(steady.redis),
            cpu(steady.sum()),
            cpu(r.cpu_total.a),
            cpu(r.cpu_total.b),
            cpu(r.cpu_total.redis),
            r.peak_kib_a as f64 / 1024.0,
            r.peak_kib_b.map_or_else(
                || "–".to_owned(),
                |kib| format!("{:.0} MiB", kib as f64 / 1024.0)
            ),
            r.retried_gets,
            r.wall.as_secs_f64(),
        );
    }
    append_errors(&mut out, reports.iter().map(|r| &r.tally.first_error));
    for remote in reports.iter().filter(|r| r.path == Path::OnB) {
        let in_memory = reports
            .iter()
            .find(|r| r.path == Path::InMemory && r.options.streams == remote.options.streams);
        cross_targets(&mut out, remote, in_memory);
    }
    out
}

/// How a run followed on B compares with the targets.
fn cross_targets(out: &mut String, remote: &CrossReport, in_memory: Option<&CrossReport>) {
    let streams = remote.options.streams;
    let p99_ms = |histogram: &hdrhistogram::Histogram<u64>| {
        (!histogram.is_empty()).then(|| histogram.value_at_quantile(0.99) as f64 / 1000.0)
    };
    if let Some(all) = p99_ms(&remote.tally.latency) {
        let steady = p99_ms(&remote.tally.steady_latency).map_or_else(
            || "no steady window".to_owned(),
            |p99| format!("{p99:.2} ms"),
        );
        let _ = writeln!(
            out,
            "\n{streams} streams followed on B: p99 added latency {all:.2} ms over every delta ({steady} in the steady window); target ≤ {CROSS_P99_TARGET_MS} ms: {}.",
            met(all <= CROSS_P99_TARGET_MS),
        );
    }
    let steady = |r: &CrossReport| r.cpu_steady.unwrap_or_default();
    let Some(in_memory) = in_memory else {
        return;
    };
    if let (Some(producer), Some(alone)) = (steady(remote).a, steady(in_memory).a) {
        let ratio = producer / alone;
        let _ = writeln!(
            out,
            "A's CPU per delta, streams followed on B / in memory: {producer:.2} / {alone:.2} = {ratio:.2}× (target ≤ {CROSS_CPU_RATIO_TARGET}×: {}).",
            met(ratio <= CROSS_CPU_RATIO_TARGET),
        );
    }
    if let (Some(all), Some(alone)) = (steady(remote).sum(), steady(in_memory).a) {
        let _ = writeln!(
            out,
            "A, B and redis-server together / in memory: {all:.2} / {alone:.2} = {:.2}×.",
            all / alone
        );
    }
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "**not met**" }
}

fn cpu(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.2}"))
}

fn load_row(out: &mut String, server: &str, load: &Load) {
    let _ = writeln!(
        out,
        "| {server} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |",
        load.tool,
        load.requests_per_second,
        load.p50_ms,
        load.p99_ms,
        load.errors,
        load.cpu_per_10k
            .map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.3}")),
    );
}

fn append_errors<'a>(out: &mut String, errors: impl Iterator<Item = &'a Option<String>>) {
    for error in errors.flatten() {
        let _ = writeln!(out, "\nFirst error: {error}");
    }
}

/// A quantile of a histogram of microseconds, in milliseconds.
fn quantile(histogram: &Histogram<u64>, q: f64) -> String {
    if histogram.is_empty() {
        return "–".to_owned();
    }
    millis(histogram.value_at_quantile(q))
}

fn millis(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}
