//! Several instances as one service: what they share through Redis (`REDIS_URL`).
//!
//! - **Events.** Every event of every generation this instance runs is appended to a Redis
//!   Stream of that generation (see `publish`), its entry id made from the event's seq, so any
//!   instance can read it back after any seq and follow the live tail (see `tail`).
//! - **Leases.** Each instance holds a key that lapses unless it renews it ([`LEASE_TTL`]):
//!   a follower that hears nothing checks the lease of the instance running the generation,
//!   and a lapsed one means that instance is gone.
//! - **Notices.** Cancel requests and changed pages go to every instance over one pub/sub
//!   channel ([`Notice`]).
//!
//! Without `REDIS_URL` none of this exists: the in-process event log is all there is
//! (docs/ARCHITECTURE.md, "Several instances").

mod publish;
mod tail;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Value};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::generation::{Event, EventLog};
pub use publish::Publisher;
pub use tail::{Followed, Read, Tail};

/// How long an instance's lease lives unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How often an instance renews its lease: several renewals fit in one TTL, so one slow or
/// lost renewal does not let it lapse.
pub const LEASE_RENEWAL: Duration = Duration::from_secs(1);
/// How many entries a generation's stream keeps at most. A page is a few thousand deltas; the
/// bound only guards Redis's memory against a runaway stream.
const MAX_STREAM_ENTRIES: u64 = 100_000;
/// The one pub/sub channel of [`Notice`]s.
const NOTICES: &str = "livepage:notices";
/// How long to wait for Redis at start-up, and for `/readyz`'s ping.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a reply on the shared connection; blocking reads have their own.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why Redis could not be used at start-up. The messages name `REDIS_URL`, never its value
/// (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("REDIS_URL is not a valid Redis URL (expected redis://[:password@]host[:port][/db])")]
    InvalidUrl,
    #[error("REDIS_URL: Redis at {0} does not answer")]
    Unreachable(String, #[source] RedisError),
    #[error("REDIS_URL: Redis at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
}

/// How long a generation's stream is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// After its terminal event: how long a client can still resume from it.
    pub finished: Duration,
    /// From its first event: how long it may run, plus `finished`, so that the stream of an
    /// instance that died mid-way expires too.
    pub running: Duration,
}

/// Something every instance should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A client asked to cancel this generation; the instance running it does.
    Cancel(Uuid),
    /// This page changed (unpublished, republished, deleted, taken down): drop any cached copy.
    PageChanged(Uuid),
}

impl Notice {
    fn encode(self) -> String {
        match self {
            Self::Cancel(id) => format!("cancel:{id}"),
            Self::PageChanged(id) => format!("page:{id}"),
        }
    }

    fn decode(raw: &str) -> Option<Self> {
        let (kind, id) = raw.split_once(':')?;
        let id = Uuid::try_parse(id).ok()?;
        match kind {
            "cancel" => Some(Self::Cancel(id)),
            "page" => Some(Self::PageChanged(id)),
            _ => None,
        }
    }
}

/// This instance's connection to the others.
pub struct Cluster {
    client: Client,
    /// Multiplexed and reconnecting by itself: appends, lease renewals, lookups, notices.
    conn: ConnectionManager,
    /// This instance's id, the name of its lease; recorded on the generations it runs.
    instance: Uuid,
    /// `host:port` of Redis, for messages (the URL may hold a password).
    address: String,
    retention: Retention,
    publisher: Publisher,
    tail: Tail,
    /// The lease renewal and notice listener, aborted at shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("instance", &self.instance)
            .field("redis", &self.address)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to Redis at `url`, takes this instance's lease and starts publishing.
    pub async fn connect(url: &str, retention: Retention) -> Result<Arc<Self>, ClusterError> {
        let client = Client::open(url).map_err(|_| ClusterError::InvalidUrl)?;
        let address = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| ClusterError::Timeout(address.clone(), CONNECT_TIMEOUT))?
        .map_err(|err| ClusterError::Unreachable(address.clone(), err))?;
        let instance = Uuid::new_v4();
        let cluster = Arc::new(Self {
            publisher: Publisher::start(conn.clone(), retention),
            tail: Tail::start(client.clone(), conn.clone()),
            client,
            conn,
            instance,
            address,
            retention,
            tasks: Mutex::default(),
        });
        cluster
            .renew_lease()
            .await
            .map_err(|err| ClusterError::Unreachable(cluster.address.clone(), err))?;
        let renewal = tokio::spawn(keep_lease(Arc::downgrade(&cluster)));
        cluster.tasks().push(renewal);
        tracing::info!(instance = %instance, redis = %cluster.address, "sharing generations through Redis");
        Ok(cluster)
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This instance's id.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Publishes every event of `log`, from the first, to generation `id`'s stream.
    pub fn publish(&self, id: Uuid, log: Arc<EventLog>) {
        self.publisher.publish(id, log);
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(PING_TIMEOUT, ping.query_async::<()>(&mut conn)).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::from(
                std::io::ErrorKind::TimedOut,
            ))),
        }
    }

    async fn renew_lease(&self) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(lease_key(self.instance))
            .arg(1)
            .arg("PX")
            .arg(LEASE_TTL.as_millis() as u64)
            .query_async::<()>(&mut conn)
            .await
    }

    /// Whether `instance` still holds its lease.
    pub async fn lease_held(&self, instance: Uuid) -> Result<bool, RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("EXISTS")
            .arg(lease_key(instance))
            .query_async(&mut conn)
            .await
    }

    /// Whether generation `id` has a stream (it has published, and it has not expired).
    pub async fn has_events(&self, id: Uuid) -> Result<bool, RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("EXISTS")
            .arg(events_key(id))
            .query_async(&mut conn)
            .await
    }

    /// The seq of the last entry in generation `id`'s stream (0 when it has none).
    pub async fn last_seq(&self, id: Uuid) -> Result<u64, RedisError> {
        let mut conn = self.conn.clone();
        let last: Vec<(String, Value)> = redis::cmd("XREVRANGE")
            .arg(events_key(id))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(last
            .first()
            .and_then(|(entry, _)| parse_entry_id(entry))
            .unwrap_or(0))
    }

    /// Appends `event` as number `seq` of generation `id`'s stream, unless that number is
    /// taken (another instance got there first): returns whether it was appended. For the
    /// terminal event that says its instance is gone; the stream then expires as a finished
    /// one does.
    pub async fn append_terminal(
        &self,
        id: Uuid,
        seq: u64,
        event: &Event,
    ) -> Result<bool, RedisError> {
        let key = events_key(id);
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        publish::xadd(&mut pipe, &key, seq, event);
        pipe.cmd("EXPIRE")
            .arg(&key)
            .arg(self.retention.finished.as_secs().max(1))
            .ignore();
        let mut conn = self.conn.clone();
        let replies: Vec<redis::RedisResult<Value>> = pipe.query_async(&mut conn).await?;
        match replies.into_iter().next() {
            Some(Ok(_)) => Ok(true),
            Some(Err(err)) if publish::is_taken(&err) => Ok(false),
            Some(Err(err)) => Err(err),
            None => Ok(false),
        }
    }

    /// Tells every instance (this one included) about `notice`.
    pub async fn notify(&self, notice: Notice) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH")
            .arg(NOTICES)
            .arg(notice.encode())
            .query_async::<()>(&mut conn)
            .await
    }

    /// Hands every notice to `handle` until shutdown, listening again after any loss of the
    /// connection (notices sent meanwhile are missed: a cancel then answers 409, a cached page
    /// lives out its time).
    pub fn listen(self: &Arc<Self>, handle: impl Fn(Notice) + Send + Sync + 'static) {
        let client = self.client.clone();
        let task = tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                match listen_once(&client, &handle).await {
                    Ok(()) => pause = Duration::from_millis(100),
                    Err(err) => {
                        tracing::warn!(error = %err, "listening for notices failed; listening again");
                    }
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
        self.tasks().push(task);
    }

    /// Follows generation `id`'s stream from the entry after seq `after`: its entries as they
    /// arrive, until the handle is dropped. All followed generations share one reader.
    pub fn follow(&self, id: Uuid, after: u64) -> Followed {
        self.tail.follow(id, after)
    }

    /// At shutdown, once this instance's generations have ended: waits up to `grace` for
    /// their last events to reach Redis, then gives up the lease and stops.
    pub async fn shutdown(&self, grace: Duration) {
        if !self.publisher.flush(grace).await {
            tracing::warn!("some events did not reach Redis before shutdown");
        }
        for task in self.tasks().drain(..) {
            task.abort();
        }
        let mut conn = self.conn.clone();
        let mut release = redis::cmd("DEL");
        release.arg(lease_key(self.instance));
        let released = release.query_async::<()>(&mut conn);
        if let Ok(Err(err)) = tokio::time::timeout(PING_TIMEOUT, released).await {
            tracing::warn!(error = %err, "could not give up the lease");
        }
        self.publisher.stop();
        self.tail.stop();
    }
}

async fn listen_once(client: &Client, handle: &impl Fn(Notice)) -> Result<(), RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(NOTICES).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload()?;
        match Notice::decode(&payload) {
            Some(notice) => handle(notice),
            None => tracing::warn!(payload, "ignoring an unknown notice"),
        }
    }
    Ok(())
}

/// Renews the lease until the cluster is dropped (or the task aborted at shutdown).
async fn keep_lease(cluster: std::sync::Weak<Cluster>) {
    let mut ticks = tokio::time::interval(LEASE_RENEWAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        match cluster.renew_lease().await {
            Ok(()) if failing => {
                tracing::info!("lease renewed again");
                failing = false;
            }
            Ok(()) => {}
            Err(err) if !failing => {
                tracing::warn!(error = %err, "could not renew the lease; other instances will think this one gone if it lapses");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// The stream of generation `id`'s events.
fn events_key(id: Uuid) -> String {
    format!("livepage:generation:{id}:events")
}

/// The lease of `instance`: present while it lives.
fn lease_key(instance: Uuid) -> String {
    format!("livepage:instance:{instance}")
}

/// The stream entry id of seq `seq`. Stream ids are `<ms>-<n>`; a seq is the `n` of time 0, so
/// ids order as seqs do and appending a seq twice is refused by Redis itself.
fn entry_id(seq: u64) -> String {
    format!("0-{seq}")
}

fn parse_entry_id(id: &str) -> Option<u64> {
    id.strip_prefix("0-")?.parse().ok().filter(|&seq| seq > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_as_sent() {
        let id = Uuid::now_v7();
        for notice in [Notice::Cancel(id), Notice::PageChanged(id)] {
            assert_eq!(Notice::decode(&notice.encode()), Some(notice));
        }
        assert_eq!(Notice::decode("cancel:nope"), None);
        assert_eq!(Notice::decode(&format!("reboot:{id}")), None);
    }

    #[test]
    fn entry_ids_are_seqs() {
        assert_eq!(entry_id(42), "0-42");
        assert_eq!(parse_entry_id("0-42"), Some(42));
        assert_eq!(parse_entry_id("0-0"), None);
        assert_eq!(parse_entry_id("1700000000000-0"), None);
    }
}
