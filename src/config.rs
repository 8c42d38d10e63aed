//! Configuration: environment variables with matching command-line flags, and defaults that work.
//!
//! Every setting is read once at start-up. A bad value stops start-up with a message that names
//! the variable: clap's error names the flag and, through `value_name`, the environment
//! variable, e.g. `invalid value 'x' for '--addr <LIVEPAGE_ADDR>'`.
//!
//! The settings come in groups, one per layer that uses them (the HTTP server, storage, the
//! cluster, the upstream, generations, pages, rate limits), each a struct flattened into
//! [`Config`] and shown under its own heading in `--help`. A layer takes its group whole: the
//! generation pipeline keeps [`GenerationConfig`] as it is. Flags and variable names do not
//! depend on the grouping.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::domain::Model;
use crate::generation::Urls;
use crate::memory::MemorySetting;
use crate::sanitize::Styles;

/// The default upstream model: strong at writing complete, polished HTML.
pub const DEFAULT_MODEL: &str = "anthropic/claude-sonnet-4.5";

/// Every setting, in one group per layer that uses it; each group has its own heading in
/// `--help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "livepage",
    version,
    about = "Streams AI-written web pages live, then publishes them."
)]
pub struct Config {
    /// Log format: `text` or `json`.
    #[arg(long, env = "LIVEPAGE_LOG_FORMAT", value_name = "LIVEPAGE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    #[command(flatten)]
    pub server: ServerConfig,

    #[command(flatten)]
    pub storage: StorageConfig,

    #[command(flatten)]
    pub cluster: ClusterConfig,

    #[command(flatten)]
    pub upstream: UpstreamConfig,

    #[command(flatten)]
    pub generation: GenerationConfig,

    #[command(flatten)]
    pub pages: PageConfig,

    #[command(flatten)]
    pub rate_limits: RateLimitConfig,
}

/// Where the service listens, the URLs it gives out, and how its HTTP server treats
/// connections and streams.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP server")]
pub struct ServerConfig {
    /// Listen address.
    #[arg(
        long = "addr",
        env = "LIVEPAGE_ADDR",
        value_name = "LIVEPAGE_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: SocketAddr,

    /// Serve `/metrics` on this address (e.g. a private interface) instead of on the main one.
    #[arg(
        long,
        env = "LIVEPAGE_METRICS_ADDR",
        value_name = "LIVEPAGE_METRICS_ADDR"
    )]
    pub metrics_addr: Option<SocketAddr>,

    /// Base of absolute URLs in events (default: `http://{LIVEPAGE_ADDR}`).
    #[arg(long, env = "PUBLIC_URL", value_name = "PUBLIC_URL", value_parser = parse_base_url)]
    pub public_url: Option<Url>,

    /// Base of live page URLs, e.g. a separate cookieless origin (default: `PUBLIC_URL`).
    #[arg(long, env = "PAGES_URL", value_name = "PAGES_URL", value_parser = parse_base_url)]
    pub pages_url: Option<Url>,

    /// Bearer token for `/api/admin/*`; unset turns the admin API off.
    #[arg(long, env = "ADMIN_TOKEN", value_name = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub admin_token: Option<SecretString>,

    /// Longest a client may take to send a request head; the connection is closed after it.
    #[arg(long, env = "LIVEPAGE_HEADER_READ_TIMEOUT", value_name = "LIVEPAGE_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub header_read_timeout: Duration,

    /// How long a keep-alive connection may sit idle between requests before it is closed.
    #[arg(long, env = "LIVEPAGE_IDLE_CONNECTION_TIMEOUT", value_name = "LIVEPAGE_IDLE_CONNECTION_TIMEOUT", default_value = "60s", value_parser = parse_positive_duration)]
    pub idle_connection_timeout: Duration,

    /// Interval of SSE keep-alive comments while a stream is idle.
    #[arg(long, env = "LIVEPAGE_KEEPALIVE", value_name = "LIVEPAGE_KEEPALIVE", default_value = "15s", value_parser = parse_duration)]
    pub keepalive: Duration,

    /// Reconnection delay suggested to SSE clients (`retry:`).
    #[arg(long, env = "LIVEPAGE_SSE_RETRY", value_name = "LIVEPAGE_SSE_RETRY", default_value = "2s", value_parser = parse_duration)]
    pub sse_retry: Duration,

    /// Open files (descriptors) kept free for the work already accepted: a new generation is
    /// refused with `503 overloaded` when what it needs would leave fewer.
    #[arg(
        long,
        env = "LIVEPAGE_FD_RESERVE",
        value_name = "LIVEPAGE_FD_RESERVE",
        default_value_t = 256
    )]
    pub fd_reserve: u32,

    /// Resident memory at which new generations are refused with `503 overloaded`: `auto`
    /// (90% of the cgroup's limit, or of the machine's memory), `off`, or a size (`2GiB`).
    #[arg(
        long,
        env = "LIVEPAGE_MEMORY_LIMIT",
        value_name = "LIVEPAGE_MEMORY_LIMIT",
        default_value = "auto"
    )]
    pub memory_limit: MemorySetting,

    /// On shutdown, how long running generations may take to finish before they are cancelled.
    #[arg(long, env = "LIVEPAGE_SHUTDOWN_GRACE", value_name = "LIVEPAGE_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// The database and its connection pool.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageConfig {
    /// `sqlite://…` or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        default_value = "sqlite://livepage.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Database pool size.
    #[arg(long, env = "LIVEPAGE_DB_MAX_CONNECTIONS", value_name = "LIVEPAGE_DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,

    /// Longest wait for a pooled database connection.
    #[arg(long, env = "LIVEPAGE_DB_ACQUIRE_TIMEOUT", value_name = "LIVEPAGE_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub db_acquire_timeout: Duration,

    /// Longest a single SQL statement may run (PostgreSQL).
    #[arg(long, env = "LIVEPAGE_DB_STATEMENT_TIMEOUT", value_name = "LIVEPAGE_DB_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub db_statement_timeout: Duration,

    /// How often counted page views are written to the database.
    #[arg(long, env = "LIVEPAGE_VIEW_FLUSH_INTERVAL", value_name = "LIVEPAGE_VIEW_FLUSH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub view_flush_interval: Duration,
}

/// Several instances behind one load balancer.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterConfig {
    /// `redis://…`: share every generation's live events with the other instances through
    /// Redis (several instances behind a load balancer). Unset: events stay in this process.
    #[arg(
        long,
        env = "REDIS_URL",
        value_name = "REDIS_URL",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub redis_url: Option<SecretString>,
}

/// The model that writes the pages, and the client that talks to it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Upstream model")]
pub struct UpstreamConfig {
    /// Upstream API key; without one the service runs in demo mode.
    #[arg(long, env = "OPENROUTER_API_KEY", value_name = "OPENROUTER_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub openrouter_api_key: Option<SecretString>,

    /// Any OpenAI-compatible endpoint (ignored in demo mode).
    #[arg(long, env = "OPENROUTER_BASE_URL", value_name = "OPENROUTER_BASE_URL", default_value = "https://openrouter.ai/api/v1", value_parser = parse_base_url)]
    pub openrouter_base_url: Url,

    /// Sent as `HTTP-Referer` for OpenRouter's app attribution.
    #[arg(long, env = "OPENROUTER_REFERER", value_name = "OPENROUTER_REFERER")]
    pub openrouter_referer: Option<String>,

    /// Sent as `X-Title` for OpenRouter's app attribution.
    #[arg(long, env = "OPENROUTER_TITLE", value_name = "OPENROUTER_TITLE")]
    pub openrouter_title: Option<String>,

    /// The default model.
    #[arg(long, env = "LIVEPAGE_MODEL", value_name = "LIVEPAGE_MODEL", default_value = DEFAULT_MODEL, value_parser = parse_model)]
    pub model: Model,

    /// Comma-separated models a request may pick (the default model is always allowed).
    #[arg(long, env = "LIVEPAGE_MODELS", value_name = "LIVEPAGE_MODELS", value_delimiter = ',', value_parser = parse_model)]
    pub models: Vec<Model>,

    /// Upper bound on completion tokens per upstream request (a continuation has its own).
    #[arg(
        long,
        env = "LIVEPAGE_MAX_TOKENS",
        value_name = "LIVEPAGE_MAX_TOKENS",
        default_value_t = 16_000
    )]
    pub max_tokens: u32,

    /// Upstream TCP/TLS connect timeout.
    #[arg(long, env = "LIVEPAGE_CONNECT_TIMEOUT", value_name = "LIVEPAGE_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Delay before each delta of the built-in demo model.
    #[arg(long, env = "LIVEPAGE_DEMO_PACE", value_name = "LIVEPAGE_DEMO_PACE", default_value = "12ms", value_parser = parse_duration)]
    pub demo_pace: Duration,
}

/// How generations run: retries, continuations, timeouts, the queue, how often they report,
/// and how long their events are kept. The generation pipeline takes this group as it is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Generation")]
pub struct GenerationConfig {
    /// Serve a themed fallback page when every upstream attempt fails before the first token.
    #[arg(long, env = "LIVEPAGE_FALLBACK", value_name = "LIVEPAGE_FALLBACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub fallback: bool,

    /// Upstream attempts before the first token (1 = no retry).
    #[arg(long, env = "LIVEPAGE_MAX_ATTEMPTS", value_name = "LIVEPAGE_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: u32,

    /// Continuations asked for when the model stops at its length limit (0 = none: the
    /// generation ends with `truncated`).
    #[arg(long, env = "LIVEPAGE_MAX_CONTINUATIONS", value_name = "LIVEPAGE_MAX_CONTINUATIONS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub max_continuations: u32,

    /// First retry delay; doubles each attempt, with jitter.
    #[arg(long, env = "LIVEPAGE_RETRY_BASE", value_name = "LIVEPAGE_RETRY_BASE", default_value = "500ms", value_parser = parse_duration)]
    pub retry_base: Duration,

    /// Longest delay between attempts, and the longest `Retry-After` honoured.
    #[arg(long, env = "LIVEPAGE_RETRY_MAX", value_name = "LIVEPAGE_RETRY_MAX", default_value = "10s", value_parser = parse_duration)]
    pub retry_max: Duration,

    /// Longest wait from sending the request to the first token (per attempt).
    #[arg(long, env = "LIVEPAGE_FIRST_TOKEN_TIMEOUT", value_name = "LIVEPAGE_FIRST_TOKEN_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub first_token_timeout: Duration,

    /// Longest silence between two upstream chunks once generating.
    #[arg(long, env = "LIVEPAGE_IDLE_TIMEOUT", value_name = "LIVEPAGE_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Longest a whole generation may take, queueing included.
    #[arg(long, env = "LIVEPAGE_GENERATION_TIMEOUT", value_name = "LIVEPAGE_GENERATION_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub generation_timeout: Duration,

    /// Generations talking to the upstream at once.
    #[arg(long, env = "LIVEPAGE_MAX_CONCURRENT", value_name = "LIVEPAGE_MAX_CONCURRENT", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: u32,

    /// Generations waiting for a slot before new ones are refused with 503.
    #[arg(
        long,
        env = "LIVEPAGE_MAX_QUEUED",
        value_name = "LIVEPAGE_MAX_QUEUED",
        default_value_t = 256
    )]
    pub max_queued: u32,

    /// Least time between two `preview` events of a generation.
    #[arg(long, env = "LIVEPAGE_PREVIEW_INTERVAL", value_name = "LIVEPAGE_PREVIEW_INTERVAL", default_value = "300ms", value_parser = parse_duration)]
    pub preview_interval: Duration,

    /// Least time between two periodic `progress` events while generating.
    #[arg(long, env = "LIVEPAGE_PROGRESS_INTERVAL", value_name = "LIVEPAGE_PROGRESS_INTERVAL", default_value = "500ms", value_parser = parse_duration)]
    pub progress_interval: Duration,

    /// How long a finished generation's event log stays in memory for replay.
    #[arg(long, env = "LIVEPAGE_EVENT_RETENTION", value_name = "LIVEPAGE_EVENT_RETENTION", default_value = "10m", value_parser = parse_duration)]
    pub event_retention: Duration,

    /// How many finished generations' event logs stay in memory at most (oldest dropped first).
    #[arg(
        long,
        env = "LIVEPAGE_EVENT_RETENTION_MAX",
        value_name = "LIVEPAGE_EVENT_RETENTION_MAX",
        default_value_t = 2_000
    )]
    pub event_retention_max: u32,
}

/// How published pages are styled and served.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Pages")]
pub struct PageConfig {
    /// How pages get their styles: `compiled` (Tailwind CSS generated on the server and
    /// inlined: pages run no JavaScript) or `cdn` (the pinned Tailwind Play CDN script).
    #[arg(long, env = "LIVEPAGE_STYLES", value_name = "LIVEPAGE_STYLES", default_value = "compiled", value_parser = parse_styles)]
    pub styles: Styles,

    /// Put a small "Report" link, to the report form of the web UI, in every served page.
    #[arg(long, env = "LIVEPAGE_REPORT_LINK", value_name = "LIVEPAGE_REPORT_LINK", default_value_t = true, action = clap::ArgAction::Set)]
    pub report_link: bool,
}

/// How often a client may start generations and send reports.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rate limits")]
pub struct RateLimitConfig {
    /// Generations a client IP may start per minute (0 = unlimited).
    #[arg(
        long,
        env = "LIVEPAGE_RATE_LIMIT_PER_IP",
        value_name = "LIVEPAGE_RATE_LIMIT_PER_IP",
        default_value_t = 20
    )]
    pub rate_limit_per_ip: u32,

    /// Generations an email may start per minute (0 = unlimited).
    #[arg(
        long,
        env = "LIVEPAGE_RATE_LIMIT_PER_EMAIL",
        value_name = "LIVEPAGE_RATE_LIMIT_PER_EMAIL",
        default_value_t = 10
    )]
    pub rate_limit_per_email: u32,

    /// Page reports per minute per client IP (0 = no limit).
    #[arg(
        long,
        env = "LIVEPAGE_RATE_LIMIT_REPORTS_PER_IP",
        value_name = "LIVEPAGE_RATE_LIMIT_REPORTS_PER_IP",
        default_value_t = 10
    )]
    pub rate_limit_reports_per_ip: u32,

    /// Comma-separated proxy addresses or CIDR ranges whose `X-Forwarded-For` is believed.
    #[arg(long, env = "LIVEPAGE_TRUSTED_PROXIES", value_name = "LIVEPAGE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Config {
    /// Every setting at its default, whatever the environment holds: for tests and tools,
    /// which must not pick up the developer's `DATABASE_URL` or `OPENROUTER_API_KEY`.
    pub fn defaults() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let command = Self::command().mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(["livepage"])
            .expect("every setting has a default");
        Self::from_arg_matches(&matches).expect("the defaults are valid")
    }

    /// An empty secret means "unset", as `OPENROUTER_API_KEY=` in a compose file or `.env` does:
    /// an empty `ADMIN_TOKEN` must not open the admin API to an empty bearer token.
    pub(crate) fn normalized(mut self) -> Self {
        let present = |secret: &SecretString| !secret.expose_secret().is_empty();
        self.upstream.openrouter_api_key = self.upstream.openrouter_api_key.filter(present);
        self.server.admin_token = self.server.admin_token.filter(present);
        self.cluster.redis_url = self.cluster.redis_url.filter(present);
        self
    }
}

impl ServerConfig {
    /// Base of absolute URLs in events and responses.
    pub fn public_url(&self) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{}/", self.addr))
                .expect("a socket address makes a valid URL")
        })
    }

    /// Base of live page URLs.
    pub fn pages_url(&self) -> Url {
        self.pages_url.clone().unwrap_or_else(|| self.public_url())
    }

    /// The bases of the URLs the service gives out.
    pub fn urls(&self) -> Urls {
        Urls {
            public: self.public_url(),
            pages: self.pages_url(),
        }
    }
}

impl UpstreamConfig {
    /// Demo mode: no API key, so the built-in mock model writes the pages.
    pub fn demo_mode(&self) -> bool {
        self.openrouter_api_key.is_none()
    }

    /// The models a request may choose, the default first.
    pub fn allowed_models(&self) -> Vec<Model> {
        let mut allowed = vec![self.model.clone()];
        allowed.extend(self.models.iter().filter(|m| **m != self.model).cloned());
        allowed
    }
}

/// An http(s) base URL with a trailing slash, so that `Url::join` appends paths to it.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    // A trailing slash makes `Url::join` append rather than replace the last path segment.
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

fn parse_net(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))
}

fn parse_secret(raw: &str) -> Result<SecretString, String> {
    let raw = raw.trim();
    if raw.chars().any(|c| c.is_control() || c == ' ') {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(SecretString::from(raw))
}

fn parse_model(raw: &str) -> Result<Model, String> {
    Model::from_config(raw)
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{e} (examples: 500ms, 30s, 5m)"))
}

/// A duration above zero: a timeout of nothing would close every connection at once.
fn parse_positive_duration(raw: &str) -> Result<Duration, String> {
    match parse_duration(raw)? {
        Duration::ZERO => Err("must be longer than zero".into()),
        duration => Ok(duration),
    }
}

fn parse_styles(raw: &str) -> Result<Styles, String> {
    [Styles::Compiled, Styles::Cdn]
        .into_iter()
        .find(|styles| styles.as_str() == raw)
        .ok_or_else(|| format!("unknown style mode {raw:?} (expected: compiled or cdn)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("livepage").chain(args.iter().copied()))
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = parse(&["--addr", "nowhere"]).unwrap_err().to_string();
        assert!(err.contains("LIVEPAGE_ADDR"), "{err}");
        let err = parse(&["--retry-base", "soon"]).unwrap_err().to_string();
        assert!(err.contains("LIVEPAGE_RETRY_BASE"), "{err}");
        let err = parse(&["--public-url", "ftp://x"]).unwrap_err().to_string();
        assert!(err.contains("PUBLIC_URL"), "{err}");
        let err = parse(&["--metrics-addr", "private"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("LIVEPAGE_METRICS_ADDR"), "{err}");
    }

    #[test]
    fn continuations_default_to_two_and_stay_within_ten() {
        assert_eq!(parse(&[]).unwrap().generation.max_continuations, 2);
        assert_eq!(
            parse(&["--max-continuations", "0"])
                .unwrap()
                .generation
                .max_continuations,
            0
        );
        for bad in ["11", "-1", "two"] {
            let err = parse(&[&format!("--max-continuations={bad}")])
                .unwrap_err()
                .to_string();
            assert!(err.contains("LIVEPAGE_MAX_CONTINUATIONS"), "{err}");
        }
    }

    #[test]
    fn connection_timeouts_and_the_descriptor_reserve_have_defaults_and_name_bad_values() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(
            config.server.idle_connection_timeout,
            Duration::from_secs(60)
        );
        assert_eq!(config.server.fd_reserve, 256);
        for (flag, variable) in [
            ("--header-read-timeout", "LIVEPAGE_HEADER_READ_TIMEOUT"),
            (
                "--idle-connection-timeout",
                "LIVEPAGE_IDLE_CONNECTION_TIMEOUT",
            ),
        ] {
            for bad in ["0s", "soon"] {
                let err = parse(&[&format!("{flag}={bad}")]).unwrap_err().to_string();
                assert!(err.contains(variable), "{err}");
            }
        }
        let err = parse(&["--fd-reserve=-1"]).unwrap_err().to_string();
        assert!(err.contains("LIVEPAGE_FD_RESERVE"), "{err}");
    }

    #[test]
    fn urls_default_from_the_listen_address() {
        let config = parse(&["--addr", "127.0.0.1:9999"]).unwrap();
        assert_eq!(
            config.server.public_url().as_str(),
            "http://127.0.0.1:9999/"
        );
        assert_eq!(config.server.pages_url(), config.server.public_url());
        let config = parse(&["--pages-url", "https://pages.example.com/base"]).unwrap();
        assert_eq!(
            config.server.pages_url().as_str(),
            "https://pages.example.com/base/"
        );
    }

    #[test]
    fn empty_secrets_mean_unset() {
        let config = parse(&["--openrouter-api-key", "", "--admin-token", " "])
            .unwrap()
            .normalized();
        assert!(config.upstream.demo_mode());
        assert!(config.server.admin_token.is_none());
        assert!(parse(&["--openrouter-api-key", "sk or"]).is_err());
    }

    #[test]
    fn styles_default_to_compiled_and_cdn_can_be_chosen() {
        assert_eq!(parse(&[]).unwrap().pages.styles, Styles::Compiled);
        assert_eq!(
            parse(&["--styles", "cdn"]).unwrap().pages.styles,
            Styles::Cdn
        );
        let err = parse(&["--styles", "play"]).unwrap_err().to_string();
        assert!(
            err.contains("LIVEPAGE_STYLES") && err.contains("compiled or cdn"),
            "{err}"
        );
    }

    #[test]
    fn the_default_model_is_always_allowed_and_first() {
        let config = parse(&["--model", "a/x", "--models", "b/y,a/x,c/z"]).unwrap();
        let names: Vec<_> = config
            .upstream
            .allowed_models()
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(names, ["a/x", "b/y", "c/z"]);
    }
}
