//! The `livepage` binary: the server (configuration, logging, then the library's
//! [`Application`]), or with `generate` / `follow` the library's command-line client.

use std::io::IsTerminal;
use std::process::ExitCode;

use livepage::app::Application;
use livepage::cli::Invocation;
use livepage::config::Config;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Invocation::from_args() {
        Ok(Invocation::Serve(config)) => *config,
        Ok(Invocation::Client(command)) => return livepage::cli::run(command).await.into(),
        Err(err) => err.exit(),
    };
    init_tracing(&config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("livepage: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.server.addr).await.map_err(|err| {
        anyhow::anyhow!(
            "LIVEPAGE_ADDR: cannot listen on {}: {err}",
            config.server.addr
        )
    })?;
    // With port 0 the OS picks one; absolute URLs (`PUBLIC_URL`'s default) must name it.
    config.server.addr = listener.local_addr()?;
    let app = Application::build(config, listener).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// Logs to stdout: human-readable text (coloured only on a terminal, so files and pipes get
/// plain text), or with `json` one JSON object per line, carrying the fields of the current span
/// (`span`) and of all its parents (`spans`).
fn init_tracing(format: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,livepage=info"));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        subscriber
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        subscriber.with_ansi(std::io::stdout().is_terminal()).init();
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
