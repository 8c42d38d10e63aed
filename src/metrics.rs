//! Operational metrics: what LivePage does and what it costs, in the Prometheus data model.
//!
//! There is one [`Metrics`] per application, not a process-wide recorder, so that every instance
//! (and every test, many of which run in one process) counts only its own work. It owns the
//! registry and hands out cheap handles — atomics behind an `Arc` — to the parts that record:
//! [`GenerationMetrics`] to the generation registry, [`DbLatency`] to the store, [`HttpMetrics`]
//! to the request middleware, and the page-view counter and SSE-subscriber gauge to the handlers.
//!
//! Nothing here is touched per delta, the relay's hot path: a generation adds its delta count
//! once, at its end. Handles whose labels are known up front are resolved once at start-up; the
//! rest (by model, route or error code) are looked up at most once per generation, request or
//! database call.
//!
//! The exposition is OpenMetrics text (what the official `prometheus-client` crate writes), which
//! Prometheus negotiates and prefers. Units are in the names (`_seconds`), not in `# UNIT` lines,
//! which some parsers reject on histograms.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::Usage;

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of requests that matched no route: their raw paths are unbounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) from the upstream request to its first token: fast models answer
/// in well under a second, slow or overloaded ones take tens of seconds.
const FIRST_TOKEN_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0];
/// Whole generations: a page takes from seconds to a few minutes.
const GENERATION_BUCKETS: [f64; 10] = [1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 180.0, 300.0];
/// Sanitizing one document: sub-millisecond for a preview, tens of milliseconds for a big page.
const SANITIZE_BUCKETS: [f64; 10] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
];
/// HTTP handlers up to the response head (an SSE response's head comes at once).
const HTTP_BUCKETS: [f64; 11] = [
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// One store call, pool wait included.
const DB_BUCKETS: [f64; 11] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A family of histograms that all share one set of buckets.
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    /// `completed`, `failed` or `cancelled` (the stored status).
    outcome: &'static str,
    /// The error code; empty for a completed generation.
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelOutcomeLabels {
    model: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    /// `prompt` or `completion`.
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

/// Every metric of one application, and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub generation: GenerationMetrics,
    pub http: HttpMetrics,
    pub db: DbLatency,
    /// Views of `/p/{id}` pages (counted when served, before the batched database write).
    pub page_views: Counter,
    /// SSE responses currently open; hold a [`GaugeGuard`] on it for each.
    pub sse_subscribers: Gauge,
    /// Set from the generation registry at each scrape: the registry already knows them.
    running: Gauge,
    queued: Gauge,
}

/// The generation registry's load, read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub running: usize,
    pub queued: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric, all under the `livepage_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("livepage");
        let generation = GenerationMetrics::register(&mut registry);
        let http = HttpMetrics::register(&mut registry);
        let db = DbLatency::register(&mut registry);
        let page_views = Counter::default();
        registry.register("page_views", "Views of published pages", page_views.clone());
        let sse_subscribers = Gauge::default();
        registry.register(
            "sse_subscribers",
            "Open SSE responses (generation event streams)",
            sse_subscribers.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "generations_running",
            "Generations started and not yet finished",
            running.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "generations_queued",
            "Generations waiting for an upstream slot",
            queued.clone(),
        );
        Self {
            registry,
            generation,
            http,
            db,
            page_views,
            sse_subscribers,
            running,
            queued,
        }
    }

    /// The exposition text ([`CONTENT_TYPE`]), with the gauges of `load` brought up to date.
    pub fn render(&self, load: Load) -> Result<String, std::fmt::Error> {
        self.running.set(gauge_value(load.running));
        self.queued.set(gauge_value(load.queued));
        let mut text = String::with_capacity(16 * 1024);
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// What generations record, from start to end.
#[derive(Debug, Clone)]
pub struct GenerationMetrics {
    started: Counter,
    finished: Family<FinishedLabels, Counter>,
    fallbacks: Counter,
    retries: Counter,
    continuations: Counter,
    deltas: Counter,
    first_token: HistogramFamily<ModelLabels>,
    duration: HistogramFamily<ModelOutcomeLabels>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    sanitize_final: Histogram,
    sanitize_preview: Histogram,
}

/// Which sanitizing a duration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitizing {
    /// The finished document, once per generation.
    Final,
    /// A throttled snapshot for a `preview` event.
    Preview,
}

/// How one generation ended, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct Ended<'a> {
    pub model: &'a str,
    /// The stored status: `completed`, `failed` or `cancelled`.
    pub outcome: &'static str,
    /// The error code of a generation that produced no page.
    pub code: Option<&'static str>,
    /// The page is the fallback page.
    pub fallback: bool,
    /// Tokens and cost are paid for whether or not a page came of them.
    pub usage: Option<Usage>,
    /// Content deltas relayed.
    pub deltas: u64,
    pub duration: Duration,
}

impl GenerationMetrics {
    fn register(registry: &mut Registry) -> Self {
        let sanitize: HistogramFamily<KindLabels> =
            Family::new_with_constructor(|| Histogram::new(SANITIZE_BUCKETS));
        // Resolved once here: a clone shares the family's series, so recording is a plain
        // observe with no label lookup.
        let sanitize_kind = |kind| sanitize.get_or_create(&KindLabels { kind }).clone();
        let metrics = Self {
            started: Counter::default(),
            finished: Family::default(),
            fallbacks: Counter::default(),
            retries: Counter::default(),
            continuations: Counter::default(),
            deltas: Counter::default(),
            first_token: Family::new_with_constructor(|| Histogram::new(FIRST_TOKEN_BUCKETS)),
            duration: Family::new_with_constructor(|| Histogram::new(GENERATION_BUCKETS)),
            tokens: Family::default(),
            cost: Family::default(),
            sanitize_final: sanitize_kind("final"),
            sanitize_preview: sanitize_kind("preview"),
        };
        registry.register(
            "generations_started",
            "Generations accepted (each then ends exactly once)",
            metrics.started.clone(),
        );
        registry.register(
            "generations_finished",
            "Generations ended, by outcome and error code",
            metrics.finished.clone(),
        );
        registry.register(
            "generations_fallback",
            "Completed generations that served the fallback page",
            metrics.fallbacks.clone(),
        );
        registry.register(
            "upstream_retries",
            "Upstream attempts retried before the first token",
            metrics.retries.clone(),
        );
        registry.register(
            "upstream_continuations",
            "Upstream requests that continue a page the model stopped writing at its length limit",
            metrics.continuations.clone(),
        );
        registry.register(
            "upstream_deltas",
            "Content deltas relayed from the upstream",
            metrics.deltas.clone(),
        );
        registry.register(
            "upstream_first_token_seconds",
            "From sending the upstream request to its first content delta (successful attempts)",
            metrics.first_token.clone(),
        );
        registry.register(
            "generation_duration_seconds",
            "Whole generations, from acceptance to their end, by model and outcome",
            metrics.duration.clone(),
        );
        registry.register(
            "upstream_tokens",
            "Tokens reported by the upstream, by model and kind (prompt or completion)",
            metrics.tokens.clone(),
        );
        registry.register(
            "upstream_cost",
            "Cost reported by the upstream, in its credits (US dollars on OpenRouter)",
            metrics.cost.clone(),
        );
        registry.register(
            "sanitize_duration_seconds",
            "Sanitizing one document, by kind (final or preview)",
            sanitize,
        );
        metrics
    }

    pub fn started(&self) {
        self.started.inc();
    }

    /// An upstream attempt failed before the first token and is tried again.
    pub fn retried(&self) {
        self.retries.inc();
    }

    /// The model stopped at its length limit and is asked to continue.
    pub fn continued(&self) {
        self.continuations.inc();
    }

    /// The first content delta of an upstream attempt, `waited` after its request was sent.
    pub fn first_token(&self, model: &str, waited: Duration) {
        self.first_token
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .observe(waited.as_secs_f64());
    }

    /// The histogram of one kind of sanitizing, to time it with [`time()`] (an owned handle can
    /// move into a sanitizer job).
    pub fn sanitize(&self, kind: Sanitizing) -> &Histogram {
        match kind {
            Sanitizing::Final => &self.sanitize_final,
            Sanitizing::Preview => &self.sanitize_preview,
        }
    }

    /// Records how a generation ended, with what it cost.
    pub fn ended(&self, ended: &Ended<'_>) {
        self.finished
            .get_or_create(&FinishedLabels {
                outcome: ended.outcome,
                code: ended.code.unwrap_or_default(),
            })
            .inc();
        if ended.fallback {
            self.fallbacks.inc();
        }
        self.deltas.inc_by(ended.deltas);
        let model = ended.model.to_owned();
        self.duration
            .get_or_create(&ModelOutcomeLabels {
                model: model.clone(),
                outcome: ended.outcome,
            })
            .observe(ended.duration.as_secs_f64());
        if let Some(usage) = ended.usage {
            self.add_usage(model, usage);
        }
    }

    fn add_usage(&self, model: String, usage: Usage) {
        for (kind, count) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            let labels = TokenLabels {
                model: model.clone(),
                kind,
            };
            self.tokens.get_or_create(&labels).inc_by(count);
        }
        if let Some(cost) = usage.cost.filter(|cost| cost.is_finite() && *cost > 0.0) {
            self.cost.get_or_create(&ModelLabels { model }).inc_by(cost);
        }
    }
}

/// Requests by route template, method and status, and their latency.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
}

impl HttpMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS)),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route template and method",
            metrics.latency.clone(),
        );
        metrics
    }

    /// One answered request; `route` is its template (`/p/{id}`), never the raw path.
    pub fn record(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        let requests = RequestLabels {
            route: route.to_owned(),
            method,
            status,
        };
        self.requests.get_or_create(&requests).inc();
        let latency = RouteLabels {
            route: requests.route,
            method,
        };
        self.latency
            .get_or_create(&latency)
            .observe(took.as_secs_f64());
    }
}

/// The latency of store calls, by operation (the store method's name).
#[derive(Debug, Clone)]
pub struct DbLatency {
    latency: HistogramFamily<OperationLabels>,
}

impl DbLatency {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            latency: Family::new_with_constructor(|| Histogram::new(DB_BUCKETS)),
        };
        registry.register(
            "db_query_duration_seconds",
            "Store calls, by operation, from asking for a connection to the answer",
            metrics.latency.clone(),
        );
        metrics
    }

    pub fn observe(&self, operation: &'static str, took: Duration) {
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
    }
}

/// Runs `work`, recording how long it took in `histogram`.
pub fn time<T>(histogram: &Histogram, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    histogram.observe(started.elapsed().as_secs_f64());
    result
}

/// Holds a gauge one higher for as long as it lives. An SSE response owns one, so a stream
/// that ends any way at all — finished, client gone, server stopping — uncounts itself.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use openmetrics_parser::openmetrics::parse_openmetrics;
    use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};

    use super::*;

    fn scrape(metrics: &Metrics) -> MetricsExposition<OpenMetricsType, OpenMetricsValue> {
        let text = metrics.render(Load::default()).unwrap();
        parse_openmetrics(&text).unwrap_or_else(|err| panic!("{err:?} in:\n{text}"))
    }

    fn text(metrics: &Metrics) -> String {
        metrics.render(Load::default()).unwrap()
    }

    #[test]
    fn a_fresh_registry_is_valid_openmetrics_with_every_unlabelled_series_at_zero() {
        let metrics = Metrics::new();
        let scrape = scrape(&metrics);
        for family in [
            "livepage_generations_started",
            "livepage_generations_running",
            "livepage_generations_queued",
            "livepage_page_views",
            "livepage_sse_subscribers",
            "livepage_upstream_retries",
            "livepage_upstream_continuations",
            "livepage_upstream_deltas",
        ] {
            let family = &scrape.families[family];
            assert_eq!(family.iter_samples().count(), 1, "{}", family.family_name);
        }
        assert!(text(&metrics).contains("livepage_generations_started_total 0\n"));
    }

    #[test]
    fn an_ended_generation_counts_its_outcome_cost_and_deltas() {
        let metrics = Metrics::new();
        let usage = Usage {
            prompt_tokens: 12,
            completion_tokens: 340,
            cost: Some(0.5),
        };
        let ended = Ended {
            model: "a/b",
            outcome: "failed",
            code: Some("upstream_error"),
            fallback: false,
            usage: Some(usage),
            deltas: 340,
            duration: Duration::from_millis(1_500),
        };
        metrics.generation.ended(&ended);
        metrics.generation.ended(&ended);
        let text = text(&metrics);
        for line in [
            r#"livepage_generations_finished_total{outcome="failed",code="upstream_error"} 2"#,
            r#"livepage_upstream_tokens_total{model="a/b",kind="completion"} 680"#,
            r#"livepage_upstream_tokens_total{model="a/b",kind="prompt"} 24"#,
            r#"livepage_upstream_cost_total{model="a/b"} 1.0"#,
            "livepage_upstream_deltas_total 680",
            r#"livepage_generation_duration_seconds_count{model="a/b",outcome="failed"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        scrape(&metrics);
    }

    #[test]
    fn the_load_gauges_show_the_registry_at_scrape_time() {
        let metrics = Metrics::new();
        let text = metrics
            .render(Load {
                running: 3,
                queued: 2,
            })
            .unwrap();
        assert!(text.contains("livepage_generations_running 3\n"), "{text}");
        assert!(text.contains("livepage_generations_queued 2\n"), "{text}");
    }

    #[test]
    fn a_gauge_guard_counts_only_while_it_lives() {
        let gauge = Gauge::default();
        let first = GaugeGuard::new(&gauge);
        let second = GaugeGuard::new(&gauge);
        assert_eq!(gauge.get(), 2);
        drop(first);
        assert_eq!(gauge.get(), 1);
        drop(second);
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn timing_returns_the_work_and_records_one_observation() {
        let metrics = Metrics::new();
        let timer = metrics.generation.sanitize(Sanitizing::Preview);
        assert_eq!(time(timer, || 42), 42);
        let text = text(&metrics);
        let line = r#"livepage_sanitize_duration_seconds_count{kind="preview"} 1"#;
        assert!(text.contains(line), "{text}");
    }
}
