//! The Redis that the instances of the cross-instance benchmark share: its server process, whose
//! CPU time is part of what a stream followed through Redis costs, and the streams a run leaves
//! in it.
//!
//! The process is found from Redis's own `INFO server` (`process_id`) and read from `/proc` like
//! the instances are; a Redis that is not a process on this machine (a container, another host)
//! is still used, without its CPU figure.

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use crate::process::Probe;

/// How many keys one `DEL` removes.
const DEL_BATCH: usize = 500;

pub struct RedisServer {
    /// `REDIS_URL` of the instances.
    pub url: String,
    conn: MultiplexedConnection,
    /// `redis-server` on this machine, when it is one.
    pub probe: Option<Probe>,
}

impl RedisServer {
    /// Connects to the Redis at `url` and finds its process.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("--redis is not a Redis URL")?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .context("connecting to --redis")?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .context("INFO server")?;
        let probe = local_process(&info).map(Probe::of);
        if probe.is_none() {
            eprintln!("warning: Redis is not a process on this machine; its CPU is not measured");
        }
        Ok(Self {
            url: url.to_owned(),
            conn,
            probe,
        })
    }

    /// Deletes the event streams of `generations` (they would otherwise stay until they
    /// expire, `LIVEPAGE_EVENT_RETENTION` after their end).
    pub async fn forget(&self, generations: &[Uuid]) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        for batch in generations.chunks(DEL_BATCH) {
            let keys: Vec<String> = batch.iter().map(|&id| events_key(id)).collect();
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await
                .context("deleting the run's streams")?;
        }
        Ok(())
    }
}

/// The pid in `INFO server`, if it is a `redis-server` process on this machine.
fn local_process(info: &str) -> Option<u32> {
    let pid: u32 = info
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))?
        .trim()
        .parse()
        .ok()?;
    let command = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    command.trim().starts_with("redis-server").then_some(pid)
}

/// The key of generation `id`'s event stream, as `livepage::cluster` names it.
fn events_key(id: Uuid) -> String {
    format!("livepage:generation:{id}:events")
}
