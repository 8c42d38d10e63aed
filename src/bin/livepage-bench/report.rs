//! The benchmark's output: Markdown tables, ready to paste into BENCHMARKS.md.

use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::burst::BurstReport;
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
         | relay | streams | deltas/s each | completed | errors | deltas | added p50 | added p99 | added max | first delta p50 / p99 | CPU s / 100k deltas (steady) | (whole run) | peak RSS | RSS / stream | wall |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {:.2} | {:.0} MiB | {} | {:.1} s |",
            r.via.name(),
            r.options.streams,
            r.options.rate,
            r.completed,
            r.errors,
            r.deltas,
            quantile(&r.latency, 0.5),
            quantile(&r.latency, 0.99),
            millis(r.latency.max()),
            quantile(&r.first_delta, 0.5),
            quantile(&r.first_delta, 0.99),
            r.cpu_per_100k_steady
                .map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.2}")),
            r.cpu_per_100k_total,
            r.peak_kib as f64 / 1024.0,
            r.kib_per_stream
                .map_or_else(|| "–".to_owned(), |kib| format!("{kib:.1} KiB")),
            r.wall.as_secs_f64(),
        );
    }
    append_errors(&mut out, reports.iter().map(|r| &r.first_error));
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
