//! The server under test: the real `livepage` binary as a child process, and what `/proc` says
//! about it.
//!
//! Running the real binary (not the library in the bench's own runtime) is what makes the
//! figures honest: the server's CPU time and memory are its own, read from `/proc/<pid>/stat`
//! (utime + stime of every thread) and `/proc/<pid>/status` (`VmRSS`, `VmHWM`), and its runtime
//! is the one production runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How long the server may take to say `listening`, and to drain on SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `livepage` child.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Drains the server's stdout (JSON logs) so that it never blocks on a full pipe, echoing
    /// warnings and errors to our stderr.
    logs: JoinHandle<()>,
    probe: Probe,
}

/// Reads a process's usage from `/proc`; cheap to copy into a sampling task.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pid: u32,
    /// Clock ticks per second, the unit of utime and stime in `/proc/<pid>/stat`.
    ticks_per_second: f64,
}

/// What the kernel says the server has used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User plus system CPU time of all its threads, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory now, in KiB.
    pub rss_kib: u64,
    /// The peak resident memory so far, in KiB.
    pub hwm_kib: u64,
}

impl Server {
    /// Starts `binary` with exactly `env` (plus `PATH`) on an ephemeral loopback port, under
    /// an open-file limit of `open_files` if given (else the bench's own), and waits for its
    /// `listening` log line.
    pub async fn start(
        binary: &Path,
        env: &[(String, String)],
        open_files: Option<u64>,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        if let Some(limit) = open_files {
            // SAFETY: between fork and exec only setrlimit(2) runs, which is async-signal-safe
            // and allocates nothing.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
            }
        }
        let mut child = command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LIVEPAGE_ADDR", "127.0.0.1:0")
            .env("LIVEPAGE_LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, listening_addr(&mut lines))
            .await
            .context("the server did not start listening in time")??;
        let logs = tokio::spawn(drain(lines));
        Ok(Self {
            child,
            addr,
            logs,
            probe: Probe::of(pid),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// CPU time and memory so far.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        self.probe.usage()
    }

    pub fn probe(&self) -> Probe {
        self.probe
    }

    /// SIGTERM, then waits for the drain; kills it when it takes too long.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let term = Command::new("kill")
            .args(["-TERM", &self.probe.pid.to_string()])
            .status()
            .await?;
        if !term.success() {
            bail!("could not signal the server");
        }
        let exited = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await;
        if exited.is_err() {
            eprintln!("warning: the server did not stop within {STOP_TIMEOUT:?}; killing it");
            self.child.kill().await?;
        }
        self.logs.abort();
        Ok(())
    }
}

impl Probe {
    pub fn of(pid: u32) -> Self {
        Self {
            pid,
            ticks_per_second: ticks_per_second(),
        }
    }

    /// CPU time and memory so far, of the process and its direct children (nginx's workers;
    /// `livepage` has none). The peak is the sum of each one's peak.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid))
            .unwrap_or_default();
        let mut total = self.one(self.pid)?;
        for child in children.split_whitespace().filter_map(|p| p.parse().ok()) {
            // A child may exit between the listing and the read.
            if let Ok(usage) = self.one(child) {
                total.cpu_seconds += usage.cpu_seconds;
                total.rss_kib += usage.rss_kib;
                total.hwm_kib += usage.hwm_kib;
            }
        }
        Ok(total)
    }

    fn one(&self, pid: u32) -> anyhow::Result<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let ticks = cpu_ticks(&stat).context("parsing /proc/<pid>/stat")?;
        Ok(Usage {
            cpu_seconds: ticks as f64 / self.ticks_per_second,
            rss_kib: status_kib(&status, "VmRSS:").context("VmRSS")?,
            hwm_kib: status_kib(&status, "VmHWM:").context("VmHWM")?,
        })
    }
}

type Lines = tokio::io::Lines<BufReader<ChildStdout>>;

async fn listening_addr(lines: &mut Lines) -> anyhow::Result<SocketAddr> {
    while let Some(line) = lines.next_line().await? {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if entry["message"] == "listening" {
            let addr = entry["addr"].as_str().context("`listening` without addr")?;
            return Ok(addr.parse()?);
        }
        echo_if_notable(&line, &entry);
    }
    bail!("the server exited before listening (is DATABASE_URL reachable?)")
}

async fn drain(mut lines: Lines) {
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
            echo_if_notable(&line, &entry);
        }
    }
}

/// Server warnings and errors belong in the bench's output: they explain failed streams.
fn echo_if_notable(line: &str, entry: &serde_json::Value) {
    if matches!(entry["level"].as_str(), Some("WARN" | "ERROR")) {
        eprintln!("server: {line}");
    }
}

/// `getconf CLK_TCK`, which is 100 on every Linux we know of.
fn ticks_per_second() -> f64 {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output();
    output
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// A scratch directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("livepage-bench-{label}-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (tokio (rt) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 6";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn status_lines_give_kib() {
        let status = "Name:\tlivepage\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(40_000));
        assert_eq!(status_kib(status, "VmHWM:"), Some(51_234));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }
}
