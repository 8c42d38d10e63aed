//! nginx as the yardstick: the best a general-purpose server does on the same machine, at the
//! same moment, under the same load — which matters on a shared machine, where absolute
//! figures move with everything else that runs.
//!
//! nginx runs from a scratch prefix with a generated configuration on a loopback port, as a
//! master and its workers (`worker_processes auto`); its CPU time and memory are the sum over
//! the master and the workers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::process::{Probe, TempDir};

/// A running nginx, stopped on [`Nginx::stop`] (or killed on drop).
pub struct Nginx {
    child: Child,
    pub port: u16,
    /// The scratch prefix (configuration, pid file, logs, temp paths, document root), held
    /// only to be removed when nginx is dropped.
    _prefix: TempDir,
}

impl Nginx {
    /// The installed nginx, if any.
    pub fn find() -> Option<PathBuf> {
        which("nginx")
    }

    /// Starts nginx with `http_block` (the body of its `http {}`) on a fresh loopback port;
    /// `prepare` may put files under the prefix first (the document root is `{prefix}/root`).
    pub async fn start(
        binary: &Path,
        http_block: impl FnOnce(&Path, u16) -> String,
        prepare: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let dir = TempDir::new("nginx")?;
        prepare(dir.path())?;
        let port = free_port()?;
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), &http_block(dir.path(), port)))?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting nginx")?;
        wait_until_listening(port).await?;
        Ok(Self {
            child,
            port,
            _prefix: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The master's probe; its usage includes the workers.
    pub fn probe(&self) -> anyhow::Result<Probe> {
        Ok(Probe::of(self.child.id().context("nginx exited")?))
    }

    /// SIGTERM (nginx's fast shutdown), then waits for it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The whole configuration around an `http {}` body: scratch paths, enough connections for
/// thousands of streams, no access log (the LivePage runs log no line per request either).
fn config(dir: &Path, http_block: &str) -> String {
    let dir = dir.display();
    format!(
        "worker_processes auto;\nworker_rlimit_nofile 65536;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\nevents {{ worker_connections 16384; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {dir}/body;\n\
         \x20   proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path {dir}/fastcgi;\n\
         \x20   uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n{http_block}}}\n"
    )
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_until_listening(port: u16) -> anyhow::Result<()> {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nginx did not start listening on port {port}")
}

/// The first executable called `name` on `PATH` (or in /usr/sbin, where nginx lives).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
