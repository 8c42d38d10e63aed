//! Publishing this instance's generations: every event of each, in order, to its Redis Stream.
//!
//! One task publishes for all generations. It reads their logs through ordinary subscriptions
//! (polled together, so a generation costs no task of its own) and sends whatever has gathered
//! as one pipeline: at a few deltas a second per stream that is one event; under load, while a
//! pipeline is on its way, the next batch gathers by itself, with no timer. A batch keeps the
//! log's order and each event stays one entry; its entry id is made from its seq, so Redis
//! itself refuses an event appended twice.
//!
//! When Redis does not answer, the local subscribers do not notice (they read the log), and the
//! task tries again with backoff. Redis may have come back empty (it keeps nothing on disk
//! here), so after a failure every generation still running is published again from its first
//! event: entries Redis still holds are refused as taken, the rest fill the stream again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{FutureExt, StreamExt};
use redis::aio::ConnectionManager;
use redis::{Pipeline, RedisError, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{MAX_STREAM_ENTRIES, Retention, entry_id, events_key};
use crate::generation::{Entry, Event, EventLog};

/// The most events sent in one pipeline.
const MAX_BATCH: usize = 2048;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Hands logs to the publishing task.
#[derive(Debug)]
pub struct Publisher {
    logs: mpsc::UnboundedSender<(Uuid, Arc<EventLog>)>,
    /// How many published generations have not had their terminal event acknowledged.
    unfinished: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Publisher {
    pub(super) fn start(conn: ConnectionManager, retention: Retention) -> Self {
        let (logs, registrations) = mpsc::unbounded_channel();
        let (count, unfinished) = watch::channel(0);
        let task = tokio::spawn(
            Publishing {
                conn,
                retention,
                registrations,
                unfinished: count,
                streams: SelectAll::new(),
                active: HashMap::new(),
                pending: Vec::new(),
            }
            .run(),
        );
        Self {
            logs,
            unfinished,
            task,
        }
    }

    /// Publishes `log` as generation `id`'s stream, from its first event to its last.
    pub fn publish(&self, id: Uuid, log: Arc<EventLog>) {
        // The task lives as long as this handle, so the send only fails after `stop`.
        let _ = self.logs.send((id, log));
    }

    /// Waits up to `grace` until every published generation's last event is in Redis;
    /// returns whether they all are.
    pub async fn flush(&self, grace: Duration) -> bool {
        let mut unfinished = self.unfinished.clone();
        tokio::time::timeout(grace, unfinished.wait_for(|&count| count == 0))
            .await
            .is_ok_and(|seen| seen.is_ok())
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

/// A generation being published.
struct Active {
    log: Arc<EventLog>,
    /// The seq of the last event taken from its log.
    taken: u64,
    /// The seq of the preview in its stream, deleted when a newer one is appended (a preview
    /// is a whole document; the log keeps only the latest, and so does the stream).
    preview: Option<u64>,
}

/// The publishing task's state.
struct Publishing {
    conn: ConnectionManager,
    retention: Retention,
    registrations: mpsc::UnboundedReceiver<(Uuid, Arc<EventLog>)>,
    unfinished: watch::Sender<usize>,
    /// Every active log's subscription, each entry tagged with its generation.
    streams: SelectAll<BoxStream<'static, (Uuid, Arc<Entry>)>>,
    active: HashMap<Uuid, Active>,
    /// Taken from the logs, not yet acknowledged by Redis, in order.
    pending: Vec<(Uuid, Arc<Entry>)>,
}

impl Publishing {
    async fn run(mut self) {
        let mut pause = FIRST_PAUSE;
        loop {
            if self.pending.is_empty() {
                tokio::select! {
                    registration = self.registrations.recv() => match registration {
                        Some((id, log)) => self.register(id, log),
                        None => return,
                    },
                    Some((id, entry)) = self.streams.next(), if !self.streams.is_empty() => {
                        self.take(id, entry);
                    }
                }
                continue;
            }
            // Whatever else is ready joins the batch.
            while self.pending.len() < MAX_BATCH {
                while let Ok((id, log)) = self.registrations.try_recv() {
                    self.register(id, log);
                }
                match self.streams.next().now_or_never() {
                    Some(Some((id, entry))) => self.take(id, entry),
                    _ => break,
                }
            }
            match self.send().await {
                Ok(()) => {
                    pause = FIRST_PAUSE;
                    self.acknowledged();
                }
                Err(err) => {
                    tracing::warn!(error = %err, events = self.pending.len(), ?pause, "publishing events to Redis failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    self.republish_all();
                }
            }
        }
    }

    fn register(&mut self, id: Uuid, log: Arc<EventLog>) {
        let subscription = log.subscribe(0).map(move |entry| (id, entry)).boxed();
        self.streams.push(subscription);
        self.active.insert(
            id,
            Active {
                log,
                taken: 0,
                preview: None,
            },
        );
        self.unfinished.send_replace(self.active.len());
    }

    fn take(&mut self, id: Uuid, entry: Arc<Entry>) {
        if let Some(active) = self.active.get_mut(&id) {
            active.taken = entry.seq;
        }
        self.pending.push((id, entry));
    }

    /// The pending events are in Redis: generations whose terminal event was among them are
    /// done.
    fn acknowledged(&mut self) {
        for (id, entry) in self.pending.drain(..) {
            if entry.event.is_terminal() {
                self.active.remove(&id);
            }
        }
        self.unfinished.send_replace(self.active.len());
    }

    /// After a failure: everything taken so far from the active logs, from their first event.
    fn republish_all(&mut self) {
        self.pending.clear();
        for (&id, active) in &self.active {
            let mut replay = active.log.subscribe(0);
            while let Some(Some(entry)) = replay.next().now_or_never() {
                if entry.seq > active.taken {
                    break;
                }
                self.pending.push((id, entry));
            }
        }
    }

    async fn send(&mut self) -> Result<(), RedisError> {
        let pipe = self.pipeline();
        let replies: Vec<redis::RedisResult<Value>> = pipe.query_async(&mut self.conn).await?;
        for reply in replies {
            match reply {
                Err(err) if !is_taken(&err) => {
                    tracing::warn!(error = %err, "Redis refused an event");
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn pipeline(&mut self) -> Pipeline {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for (id, entry) in &self.pending {
            let key = events_key(*id);
            xadd(&mut pipe, &key, entry.seq, &entry.event);
            if matches!(entry.event, Event::Preview(_))
                && let Some(active) = self.active.get_mut(id)
                && let Some(previous) = active.preview.replace(entry.seq)
                && previous != entry.seq
            {
                pipe.cmd("XDEL").arg(&key).arg(entry_id(previous));
            }
            let ttl = if entry.event.is_terminal() {
                Some(self.retention.finished)
            } else if entry.seq == 1 {
                Some(self.retention.running)
            } else {
                None
            };
            if let Some(ttl) = ttl {
                pipe.cmd("EXPIRE").arg(&key).arg(ttl.as_secs().max(1));
            }
        }
        pipe
    }
}

/// Appends `XADD` of `event` as entry `seq` of the stream at `key`: the event's name and its
/// JSON, the same bytes the SSE frame carries.
pub(super) fn xadd(pipe: &mut Pipeline, key: &str, seq: u64, event: &Event) {
    let data = match serde_json::to_vec(event) {
        Ok(data) => data,
        Err(err) => {
            // Our event types always serialize; if one ever does not, the seq stays unused.
            tracing::error!(error = %err, seq, "serializing an event failed");
            return;
        }
    };
    pipe.cmd("XADD")
        .arg(key)
        .arg("MAXLEN")
        .arg("~")
        .arg(MAX_STREAM_ENTRIES)
        .arg(entry_id(seq))
        .arg("e")
        .arg(event.name())
        .arg("d")
        .arg(data);
}

/// Redis's answer to an entry id that is not past the stream's last: the event is there.
pub(super) fn is_taken(err: &RedisError) -> bool {
    err.detail()
        .is_some_and(|detail| detail.contains("equal or smaller"))
}
