//! Reading the live tail of every generation this instance follows, with one blocking read.
//!
//! One task per instance reads the streams of all followed generations with a single
//! `XREAD BLOCK` over all their keys, on a connection of its own, and hands each generation's
//! entries to its follower ([`Followed`]). A read costs Redis and this instance about the same
//! whether it returns one entry or hundreds, so under load the task waits a moment
//! ([`LINGER`]) after a read that found entries, letting the next one gather more: a few
//! milliseconds of latency for a bounded number of reads per second, however many streams are
//! followed.
//!
//! A generation followed while the read is blocked must not wait for it to time out: the task
//! wakes its own read with `CLIENT UNBLOCK` from the shared connection, and reads again with
//! the new key included (its backlog arrives in that read).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisError, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, entry_id, events_key, parse_entry_id};
use crate::generation::{Entry, Event};

/// How long one read blocks when no followed stream has anything new.
const BLOCK: Duration = Duration::from_secs(1);
/// How long the task waits after a read that found entries before it reads again.
const LINGER: Duration = Duration::from_millis(5);
/// How many entries of one stream a read takes at most.
const READ_BATCH: usize = 1024;
/// How often a pending `CLIENT UNBLOCK` is sent again while the read has not reached Redis.
const UNBLOCK_RETRY: Duration = Duration::from_millis(5);
/// The reading connection's name in `CLIENT LIST`.
const READER_NAME: &str = "livepage-tail";
/// How long the task waits before connecting again after a failed read.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Hands followed generations to the reading task.
#[derive(Debug)]
pub struct Tail {
    commands: mpsc::UnboundedSender<Command>,
    /// Since when reads have failed, if the last one did.
    failing: Arc<Mutex<Option<Instant>>>,
    task: JoinHandle<()>,
}

/// One generation's entries, as the task reads them.
#[derive(Debug)]
pub struct Followed {
    id: Uuid,
    token: u64,
    entries: mpsc::UnboundedReceiver<Vec<Entry>>,
    commands: mpsc::UnboundedSender<Command>,
    failing: Arc<Mutex<Option<Instant>>>,
}

/// What [`Followed::next`] found.
#[derive(Debug)]
pub enum Read {
    /// The next entries, in order.
    Entries(Vec<Entry>),
    /// Nothing came within the wait, and Redis answers.
    Silent,
    /// Nothing came within the wait, and Redis has not answered for this long.
    Failing(Duration),
}

#[derive(Debug)]
enum Command {
    Follow {
        id: Uuid,
        token: u64,
        after: u64,
        entries: mpsc::UnboundedSender<Vec<Entry>>,
    },
    Stop {
        id: Uuid,
        token: u64,
    },
}

impl Tail {
    pub(super) fn start(client: Client, unblocker: ConnectionManager) -> Self {
        let (commands, received) = mpsc::unbounded_channel();
        let failing = Arc::new(Mutex::new(None));
        let task = tokio::spawn(
            Reading {
                client,
                unblocker,
                commands: received,
                failing: Arc::clone(&failing),
                followed: HashMap::new(),
            }
            .run(),
        );
        Self {
            commands,
            failing,
            task,
        }
    }

    /// Follows generation `id`'s stream from the entry after seq `after`, until the returned
    /// handle is dropped.
    pub fn follow(&self, id: Uuid, after: u64) -> Followed {
        static TOKENS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let token = TOKENS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, entries) = mpsc::unbounded_channel();
        // The task lives as long as this handle; after `stop` the receiver just ends.
        let _ = self.commands.send(Command::Follow {
            id,
            token,
            after,
            entries: sender,
        });
        Followed {
            id,
            token,
            entries,
            commands: self.commands.clone(),
            failing: Arc::clone(&self.failing),
        }
    }

    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Followed {
    /// The next entries, waiting up to `wait` for them.
    pub async fn next(&mut self, wait: Duration) -> Read {
        match tokio::time::timeout(wait, self.entries.recv()).await {
            Ok(Some(entries)) => Read::Entries(entries),
            // The task is gone (shutdown): as good as Redis not answering from now on.
            Ok(None) => Read::Failing(Duration::MAX),
            Err(_) => match *lock(&self.failing) {
                Some(since) => Read::Failing(since.elapsed()),
                None => Read::Silent,
            },
        }
    }
}

impl Drop for Followed {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop {
            id: self.id,
            token: self.token,
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Follower {
    token: u64,
    /// The seq of the last entry handed on.
    after: u64,
    entries: mpsc::UnboundedSender<Vec<Entry>>,
}

struct Reading {
    client: Client,
    /// Sends `CLIENT UNBLOCK` while the reading connection waits.
    unblocker: ConnectionManager,
    commands: mpsc::UnboundedReceiver<Command>,
    failing: Arc<Mutex<Option<Instant>>>,
    followed: HashMap<Uuid, Follower>,
}

/// The reading connection and its id, which `CLIENT UNBLOCK` names.
struct Reader {
    conn: MultiplexedConnection,
    client_id: i64,
}

impl Reading {
    async fn run(mut self) {
        let mut reader: Option<Reader> = None;
        let mut pending = Vec::new();
        loop {
            while let Ok(command) = self.commands.try_recv() {
                self.apply(command);
            }
            if self.followed.is_empty() {
                match self.commands.recv().await {
                    Some(command) => self.apply(command),
                    None => return,
                }
                continue;
            }
            let connected = match reader.take() {
                Some(reader) => Ok(reader),
                None => self.connect().await,
            };
            let result = match connected {
                Ok(current) => {
                    let read = self.read_once(&current, &mut pending).await;
                    if read.is_ok() {
                        reader = Some(current);
                    }
                    read
                }
                Err(err) => Err(err),
            };
            for command in pending.drain(..) {
                self.apply(command);
            }
            match result {
                Ok(found) => {
                    *lock(&self.failing) = None;
                    if found {
                        tokio::time::sleep(LINGER).await;
                    }
                }
                Err(err) => {
                    self.failed(&err);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// Notes that a read failed: the first failure of a run is logged and timed.
    fn failed(&self, err: &RedisError) {
        let mut failing = lock(&self.failing);
        if failing.is_none() {
            tracing::warn!(error = %err, "reading followed generations from Redis failed; trying again");
            *failing = Some(Instant::now());
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Follow {
                id,
                token,
                after,
                entries,
            } => {
                self.followed.insert(
                    id,
                    Follower {
                        token,
                        after,
                        entries,
                    },
                );
            }
            Command::Stop { id, token } => {
                if self.followed.get(&id).is_some_and(|f| f.token == token) {
                    self.followed.remove(&id);
                }
            }
        }
    }

    async fn connect(&self) -> Result<Reader, RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(BLOCK + RESPONSE_TIMEOUT));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // Named so that an operator (and a test) can tell it in `CLIENT LIST`.
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(READER_NAME)
            .query_async::<()>(&mut conn)
            .await?;
        let client_id = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        Ok(Reader { conn, client_id })
    }

    /// One `XREAD` over every followed stream; returns whether it found entries. Commands that
    /// arrive meanwhile are kept in `pending`; a new follower wakes the read.
    async fn read_once(
        &mut self,
        reader: &Reader,
        pending: &mut Vec<Command>,
    ) -> Result<bool, RedisError> {
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("COUNT")
            .arg(READ_BATCH)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS");
        for id in self.followed.keys() {
            xread.arg(events_key(*id));
        }
        for follower in self.followed.values() {
            xread.arg(entry_id(follower.after));
        }
        let mut conn = reader.conn.clone();
        let read = xread.query_async::<Value>(&mut conn);
        tokio::pin!(read);
        let mut unblock: Option<tokio::time::Interval> = None;
        let reply = loop {
            tokio::select! {
                reply = &mut read => break reply?,
                Some(command) = self.commands.recv() => {
                    if matches!(command, Command::Follow { .. }) && unblock.is_none() {
                        unblock = Some(tokio::time::interval(UNBLOCK_RETRY));
                    }
                    pending.push(command);
                }
                _ = tick(&mut unblock) => {
                    let mut unblocker = self.unblocker.clone();
                    let woken: Result<i64, _> = redis::cmd("CLIENT")
                        .arg("UNBLOCK")
                        .arg(reader.client_id)
                        .query_async(&mut unblocker)
                        .await;
                    // 0: the read has not reached Redis yet; try again shortly.
                    if !matches!(woken, Ok(0)) {
                        unblock = None;
                    }
                }
            }
        };
        let mut found = false;
        for (key, entries) in streams(reply) {
            let Some(follower) = generation_of(&key).and_then(|id| self.followed.get_mut(&id))
            else {
                continue;
            };
            let Some(last) = entries.last().map(|entry| entry.seq) else {
                continue;
            };
            found = true;
            follower.after = last;
            // A follower that has gone sends its stop; until then its entries are dropped.
            let _ = follower.entries.send(entries);
        }
        Ok(found)
    }
}

/// Waits for the next tick of `interval`, or for ever without one.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The generation whose stream `key` is.
fn generation_of(key: &[u8]) -> Option<Uuid> {
    let key = std::str::from_utf8(key).ok()?;
    let id = key
        .strip_prefix("livepage:generation:")?
        .strip_suffix(":events")?;
    Uuid::try_parse(id).ok()
}

/// The streams of an `XREAD` reply with their entries (none when the read timed out). Entries
/// that cannot be read back are skipped with a warning; their seq stays unused.
fn streams(reply: Value) -> Vec<(Vec<u8>, Vec<Entry>)> {
    pairs(reply)
        .into_iter()
        .filter_map(|(key, entries)| {
            let Value::BulkString(key) = key else {
                return None;
            };
            let Value::Array(entries) = entries else {
                return None;
            };
            Some((key, entries.into_iter().filter_map(entry).collect()))
        })
        .collect()
}

/// The key–value pairs of a reply that is a map in RESP3 and an array of pairs in RESP2.
fn pairs(reply: Value) -> Vec<(Value, Value)> {
    match reply {
        Value::Map(pairs) => pairs,
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    Some((pair.next()?, pair.next()?))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One stream entry (`[id, [field, value, …]]`) as an event of the log.
fn entry(raw: Value) -> Option<Entry> {
    let Value::Array(parts) = raw else {
        return None;
    };
    let [Value::BulkString(id), Value::Array(fields)] = <[Value; 2]>::try_from(parts).ok()? else {
        return None;
    };
    let id = String::from_utf8_lossy(&id);
    let Some(seq) = parse_entry_id(&id) else {
        tracing::warn!(%id, "ignoring a stream entry with a foreign id");
        return None;
    };
    let (mut name, mut data) = (None, None);
    for pair in fields.chunks_exact(2) {
        if let [Value::BulkString(field), Value::BulkString(value)] = pair {
            match field.as_slice() {
                b"e" => name = Some(value.as_slice()),
                b"d" => data = Some(value.as_slice()),
                _ => {}
            }
        }
    }
    let (Some(name), Some(data)) = (name, data) else {
        tracing::warn!(seq, "ignoring a stream entry without event and data");
        return None;
    };
    let decoded = std::str::from_utf8(name)
        .map_err(|err| err.to_string())
        .and_then(|name| Event::decode(name, data).map_err(|err| err.to_string()));
    match decoded {
        Ok(event) => Some(Entry { seq, event }),
        Err(err) => {
            tracing::warn!(seq, error = %err, "ignoring an unreadable event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn raw_entry(seq: u64, name: &str, data: &str) -> Value {
        Value::Array(vec![
            bulk(&entry_id(seq)),
            Value::Array(vec![bulk("e"), bulk(name), bulk("d"), bulk(data)]),
        ])
    }

    #[test]
    fn a_reply_reads_back_as_entries_per_generation() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let stream = |id: Uuid, entries: Vec<Value>| {
            Value::Array(vec![bulk(&events_key(id)), Value::Array(entries)])
        };
        let reply = Value::Array(vec![
            stream(
                a,
                vec![
                    raw_entry(2, "delta", r#"{"text":"<h"}"#),
                    raw_entry(3, "delta", r#"{"text":"1>"}"#),
                ],
            ),
            stream(
                b,
                vec![
                    raw_entry(7, "delta", "not json"),
                    raw_entry(8, "delta", r#"{"text":"x"}"#),
                ],
            ),
        ]);
        let read: Vec<(Option<Uuid>, Vec<u64>)> = streams(reply)
            .into_iter()
            .map(|(key, entries)| {
                (
                    generation_of(&key),
                    entries.iter().map(|entry| entry.seq).collect(),
                )
            })
            .collect();
        assert_eq!(read, vec![(Some(a), vec![2, 3]), (Some(b), vec![8])]);
    }

    #[test]
    fn a_timed_out_read_has_no_streams() {
        assert!(streams(Value::Nil).is_empty());
    }

    #[test]
    fn only_generation_stream_keys_name_a_generation() {
        let id = Uuid::now_v7();
        assert_eq!(generation_of(events_key(id).as_bytes()), Some(id));
        assert_eq!(generation_of(b"livepage:notices"), None);
    }
}
