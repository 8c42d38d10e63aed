//! Following a generation from any instance, and cancelling it from any instance.
//!
//! [`Generations::follow`] is the one place that decides where a stream's events come from:
//! - this instance's own log, when it runs the generation (or ran it recently);
//! - with Redis, a copy of the log read from the generation's stream ([`Mirror`]): the same ids,
//!   order and bytes as the producing instance sends, live. One copy per generation per
//!   instance, however many clients follow it here, and one reader for all the copies of an
//!   instance (`cluster::Tail`); the copy also notices when the producing
//!   instance is gone (its lease lapsed) and ends the stream with `instance_lost`;
//! - otherwise the database: `started`, then, once the row has ended, its terminal event
//!   (a summary: the deltas are not kept there).
//!
//! A client that has seen the terminal event (its `Last-Event-ID` is the final seq or later)
//! gets [`Follow::Finished`], which the HTTP layer answers with `204 No Content` so that an
//! EventSource stops reconnecting. Streams that do not come from this instance's own log end
//! when it starts shutting down (the client resumes on another instance); streams of its own
//! generations run until those end, which the shutdown drain waits for.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, stream};
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use super::event::{Completed, Failed, Started};
use super::{Entry, ErrorCode, Event, EventLog, Generations};
use crate::cluster::{Cluster, LEASE_RENEWAL, Notice, Read};
use crate::store::{Abandoned, GenerationRecord, GenerationStatus as Status, StoreError};

/// How often a stream that follows a generation through the database checks whether it has
/// finished.
const DATABASE_POLL: Duration = Duration::from_secs(1);
/// How long a follower waits for the row of a generation made moments ago to be written.
const NEW_ROW_WAIT: Duration = Duration::from_secs(2);
/// How long a mirror's read waits for an entry before it looks at the producer's lease.
const SILENCE: Duration = Duration::from_secs(2);
/// How many looks in a row must find the lease gone: a Redis that has just restarted holds no
/// lease until the producer's next renewal.
const LEASE_MISSES: u32 = 2;
/// How long Redis may fail to answer a mirror before its followers are told.
const UNAVAILABLE_AFTER: Duration = Duration::from_secs(5);
/// How a cancel made through another instance looks for the generation to have stopped: the
/// instance running it stops it and records that within milliseconds, so the first look comes
/// soon and the later ones back off.
const REMOTE_CANCEL_FIRST_POLL: Duration = Duration::from_millis(25);
const REMOTE_CANCEL_MAX_POLL: Duration = Duration::from_millis(500);
const REMOTE_CANCEL_WAIT: Duration = Duration::from_secs(5);

/// What a client following a generation gets.
pub enum Follow {
    /// It has seen the terminal event already.
    Finished,
    /// The events after its last one, then the live tail, ending with the terminal event.
    Events(BoxStream<'static, Arc<Entry>>),
}

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Finished => f.write_str("Finished"),
            Self::Events(_) => f.write_str("Events"),
        }
    }
}

/// Why a generation could not be cancelled.
#[derive(Debug)]
pub enum CancelError {
    NotFound,
    Finished,
    /// Its instance stopped without finishing it.
    Abandoned,
    /// SQLite without Redis: one instance, and it is not this one's.
    NotHere,
    /// No instance stopped it in time.
    NoAnswer,
    Store(StoreError),
}

impl CancelError {
    /// Why, in words for a client, when the generation is in a state that cannot be cancelled.
    pub fn conflict(&self) -> Option<&'static str> {
        match self {
            Self::Finished => Some("the generation has already finished"),
            Self::Abandoned => {
                Some("the instance that ran the generation stopped before finishing it")
            }
            Self::NotHere => Some("the generation is not running on this server"),
            Self::NoAnswer => Some("no running instance answered for this generation"),
            Self::NotFound | Self::Store(_) => None,
        }
    }
}

impl From<StoreError> for CancelError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

/// A copy of a generation's log on an instance that does not run it, filled from Redis.
#[derive(Debug)]
pub(super) struct Mirror {
    log: Arc<EventLog>,
    /// Set when the copy ends without its terminal event because Redis stopped answering.
    interrupted: OnceLock<Failed>,
}

impl Generations {
    /// The events of generation `id` after seq `after`, from wherever they are (see the
    /// module's documentation). `StoreError::NotFound` for an unknown generation.
    pub async fn follow(self: &Arc<Self>, id: Uuid, after: u64) -> Result<Follow, StoreError> {
        if let Some(generation) = self.get(id) {
            return Ok(from_log(&generation.log, after));
        }
        let record = self.record(id).await?;
        if record.final_seq.is_some_and(|last| after >= last as u64) {
            return Ok(Follow::Finished);
        }
        if let Some(cluster) = &self.pipeline.cluster {
            let published = match record.status {
                Status::Running => true,
                // Finished: replayed from its stream until that expires.
                _ => cluster.has_events(id).await.unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "Redis does not answer; summing up from the database");
                    false
                }),
            };
            if published {
                let events = self.follow_mirror(cluster, &record, after);
                return Ok(Follow::Events(self.until_stopping(events)));
            }
        }
        let summary = summary(Arc::clone(self), record, after);
        Ok(Follow::Events(self.until_stopping(summary.boxed())))
    }

    /// The generation's row. A generation announces itself (`started`) before its row is
    /// written, so a client that reconnects to another instance at once can ask for a row that
    /// is not there yet: for an id made in the last few seconds, look again for a moment.
    async fn record(&self, id: Uuid) -> Result<GenerationRecord, StoreError> {
        let made = id.get_timestamp().map(|stamp| {
            let (secs, nanos) = stamp.to_unix();
            std::time::UNIX_EPOCH + Duration::new(secs, nanos)
        });
        let recent = made.is_some_and(|made| {
            std::time::SystemTime::now()
                .duration_since(made)
                .is_ok_and(|age| age < NEW_ROW_WAIT * 5)
        });
        let deadline = Instant::now() + NEW_ROW_WAIT;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.pipeline.store.generation(id).await {
                Err(StoreError::NotFound) if recent && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                found => return found,
            }
        }
    }

    /// Ends `events` when this instance starts shutting down.
    fn until_stopping(
        &self,
        events: BoxStream<'static, Arc<Entry>>,
    ) -> BoxStream<'static, Arc<Entry>> {
        events
            .take_until(self.stopping.clone().cancelled_owned())
            .boxed()
    }

    /// The events after `after` from the copy of `record`'s log on this instance, which is
    /// started if there is none. Subscribed under the lock that the copying task takes to see
    /// whether anyone still follows it.
    fn follow_mirror(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        record: &GenerationRecord,
        after: u64,
    ) -> BoxStream<'static, Arc<Entry>> {
        let mut mirrors = self.mirrors();
        if let Some(mirror) = mirrors.get(&record.id) {
            return mirrored(Arc::clone(mirror), after);
        }
        let mirror = Arc::new(Mirror {
            log: Arc::new(EventLog::new()),
            interrupted: OnceLock::new(),
        });
        mirrors.insert(record.id, Arc::clone(&mirror));
        let events = mirrored(Arc::clone(&mirror), after);
        drop(mirrors);
        let copying = Copying {
            registry: Arc::clone(self),
            cluster: Arc::clone(cluster),
            id: record.id,
            producer: record.instance_id,
            given_up_at: self.given_up_at(record),
            mirror: Arc::clone(&mirror),
        };
        tokio::spawn(async move {
            let stopping = copying.registry.stopping.clone();
            let (registry, id) = (Arc::clone(&copying.registry), copying.id);
            tokio::select! {
                () = copying.run() => {}
                () = stopping.cancelled() => {}
            }
            registry.forget_mirror(id, &mirror);
        });
        events
    }

    /// Drops `mirror` from the registry, unless a newer copy has taken its place.
    fn forget_mirror(&self, id: Uuid, mirror: &Arc<Mirror>) {
        let mut mirrors = self.mirrors();
        if mirrors
            .get(&id)
            .is_some_and(|known| Arc::ptr_eq(known, mirror))
        {
            mirrors.remove(&id);
        }
    }

    /// When a generation the database still shows running can no longer be: its instance
    /// would have ended it at its timeout, so one still running by then was left by an
    /// instance that stopped.
    fn given_up_at(&self, record: &GenerationRecord) -> OffsetDateTime {
        record.created_at + self.pipeline.settings.generation_timeout + DATABASE_POLL * 30
    }

    /// Cancels generation `id` wherever it runs and answers once it has stopped, with its
    /// record as it ended.
    pub async fn cancel(&self, id: Uuid) -> Result<GenerationRecord, CancelError> {
        let Some(generation) = self.get(id) else {
            // Not in memory: finished long ago, or running on another instance.
            let record = self.pipeline.store.generation(id).await?;
            return match record.status {
                Status::Running => self.cancel_elsewhere(&record).await,
                _ => Err(CancelError::Finished),
            };
        };
        if !generation.cancel(ErrorCode::Cancelled) {
            return Err(CancelError::Finished);
        }
        // The task records the cancellation before it closes the log.
        generation.log.closed().await;
        let cancelled = generation.log.terminal().is_some_and(
            |entry| matches!(&entry.event, Event::Error(failed) if failed.code == ErrorCode::Cancelled),
        );
        if !cancelled {
            return Err(CancelError::Finished);
        }
        Ok(self.pipeline.store.generation(id).await?)
    }

    /// Asks the other instances to cancel a generation the database shows running (the one
    /// running it acts on it) and answers once the database shows it cancelled.
    async fn cancel_elsewhere(
        &self,
        record: &GenerationRecord,
    ) -> Result<GenerationRecord, CancelError> {
        // Past its deadline a generation still marked running was left so by an instance that
        // stopped without finishing it: there is nobody to ask.
        if self.given_up_at(record) < OffsetDateTime::now_utc() {
            return Err(CancelError::Abandoned);
        }
        let asked = match &self.pipeline.cluster {
            Some(cluster) => cluster
                .notify(Notice::Cancel(record.id))
                .await
                .map(|()| true)
                .map_err(|err| {
                    tracing::warn!(error = %err, "could not pass the cancel request on through Redis");
                    CancelError::NoAnswer
                })?,
            None => self.pipeline.store.request_cancel(record.id).await?,
        };
        if !asked {
            return Err(CancelError::NotHere);
        }
        let deadline = Instant::now() + REMOTE_CANCEL_WAIT;
        let mut pause = REMOTE_CANCEL_FIRST_POLL;
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(REMOTE_CANCEL_MAX_POLL);
            let unavailable = match self.pipeline.store.generation(record.id).await {
                Ok(latest) => match latest.status {
                    Status::Running => None,
                    Status::Cancelled if latest.error_code == Some(ErrorCode::Cancelled) => {
                        return Ok(latest);
                    }
                    _ => return Err(CancelError::Finished),
                },
                // The request has gone out; the database may be back by the next look.
                Err(err @ StoreError::Unavailable(_)) => Some(err),
                Err(err) => return Err(err.into()),
            };
            if Instant::now() >= deadline {
                return Err(match unavailable {
                    Some(err) => CancelError::Store(err),
                    None => CancelError::NoAnswer,
                });
            }
        }
    }

    /// Marks failed the generations of instances whose lease has lapsed: each one's rows that
    /// the database still shows running can no longer finish. Run at start-up and, with Redis,
    /// from time to time, so that no row waits for a follower to notice. A lease must be found
    /// missing twice, more than a renewal apart: a Redis that has just restarted empty holds
    /// no lease until each instance's next renewal.
    pub async fn fail_abandoned(&self) -> Result<u64, StoreError> {
        let Some(cluster) = &self.pipeline.cluster else {
            // A SQLite database has one instance, and it has just started: whatever it shows
            // running was left by an earlier run.
            if !self.pipeline.store.is_single_instance() {
                return Ok(0);
            }
            let lost = Abandoned {
                code: ErrorCode::InstanceLost,
                message: INSTANCE_LOST,
                final_seq: None,
            };
            return self.pipeline.store.fail_all_running(&lost).await;
        };
        let running = self.pipeline.store.running_generations().await?;
        let mut suspects: Vec<Uuid> = running
            .iter()
            .filter_map(|(_, instance)| *instance)
            .filter(|&instance| instance != self.pipeline.instance)
            .collect();
        suspects.sort_unstable();
        suspects.dedup();
        for look in 0..LEASE_MISSES {
            if look > 0 && !suspects.is_empty() {
                tokio::time::sleep(LEASE_RENEWAL * 2).await;
            }
            let mut still = Vec::new();
            for instance in suspects {
                match cluster.lease_held(instance).await {
                    Ok(true) => {}
                    Ok(false) => still.push(instance),
                    Err(err) => {
                        tracing::warn!(error = %err, "Redis does not answer; cannot tell which instances are gone");
                        return Ok(0);
                    }
                }
            }
            suspects = still;
        }
        let mut failed = 0;
        for (id, instance) in running {
            if instance.is_some_and(|instance| suspects.contains(&instance))
                && self.end_lost(cluster, id).await
            {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Ends generation `id`, whose instance is gone, with `instance_lost`: as the next event of
    /// its stream (which its followers everywhere read), then in the database with that seq.
    /// Another instance may have got there first, or the producer may have written that seq
    /// after all; then the stream has it. Returns whether this call ended it.
    async fn end_lost(&self, cluster: &Cluster, id: Uuid) -> bool {
        let event = Event::Error(Failed {
            code: ErrorCode::InstanceLost,
            message: INSTANCE_LOST.into(),
            retryable: ErrorCode::InstanceLost.is_retryable(),
        });
        let appended = match cluster.last_seq(id).await {
            Ok(last) => cluster
                .append_terminal(id, last + 1, &event)
                .await
                .map(|appended| appended.then_some(last + 1)),
            Err(err) => Err(err),
        };
        let seq = match appended {
            Ok(Some(seq)) => seq,
            Ok(None) => return false,
            Err(err) => {
                tracing::warn!(error = %err, generation_id = %id, "could not end a lost generation's stream");
                return false;
            }
        };
        tracing::warn!(generation_id = %id, "the instance running the generation is gone");
        let lost = Abandoned {
            code: ErrorCode::InstanceLost,
            message: INSTANCE_LOST,
            final_seq: Some(seq),
        };
        match self.pipeline.store.fail_running(id, &lost).await {
            Ok(failed) => failed,
            Err(err) => {
                tracing::warn!(error = %err, "could not mark the lost generation failed");
                false
            }
        }
    }
}

const INSTANCE_LOST: &str = "the instance running this generation stopped before finishing it";

/// A stream over this instance's own log.
fn from_log(log: &Arc<EventLog>, after: u64) -> Follow {
    if log.terminal().is_some_and(|terminal| after >= terminal.seq) {
        return Follow::Finished;
    }
    Follow::Events(log.subscribe(after).boxed())
}

/// The mirror's events after `after`; if the copy ends without a terminal event, a notice
/// that says why, numbered 0 (see `Entry`): it is not one of the generation's events, so the
/// client's `Last-Event-ID` stays at the last one it got.
fn mirrored(mirror: Arc<Mirror>, after: u64) -> BoxStream<'static, Arc<Entry>> {
    let events = mirror.log.subscribe(after);
    let notice = stream::once(async move {
        if mirror.log.terminal().is_some() {
            return None;
        }
        mirror.interrupted.get().map(|failed| {
            Arc::new(Entry {
                seq: 0,
                event: Event::Error(failed.clone()),
            })
        })
    })
    .filter_map(std::future::ready);
    events.chain(notice).boxed()
}

/// Fills a [`Mirror`] from the generation's stream in Redis.
struct Copying {
    registry: Arc<Generations>,
    cluster: Arc<Cluster>,
    id: Uuid,
    /// The instance running the generation, whose lease says whether it still can.
    producer: Option<Uuid>,
    /// For rows that do not name their instance: when to stop waiting.
    given_up_at: OffsetDateTime,
    mirror: Arc<Mirror>,
}

impl Copying {
    async fn run(self) {
        let mut followed = self.cluster.follow(self.id, 0);
        let mut misses = 0;
        loop {
            if !self.followed() {
                return;
            }
            let entries = match followed.next(SILENCE).await {
                Read::Entries(entries) => entries,
                Read::Silent => {
                    if self.producer_gone(&mut misses).await {
                        self.registry.end_lost(&self.cluster, self.id).await;
                    }
                    continue;
                }
                Read::Failing(since) if since >= UNAVAILABLE_AFTER => {
                    tracing::warn!(generation_id = %self.id, "Redis does not answer; its followers here are told");
                    self.interrupt();
                    return;
                }
                Read::Failing(_) => continue,
            };
            misses = 0;
            for entry in entries {
                let terminal = entry.event.is_terminal();
                self.mirror.log.push_numbered(entry.seq, entry.event);
                if terminal {
                    self.mirror.log.close();
                    return;
                }
            }
        }
    }

    /// Whether anyone here still follows the copy; if not, it is forgotten at once, under the
    /// registry's lock, where a new follower would subscribe to it.
    fn followed(&self) -> bool {
        let mut mirrors = self.registry.mirrors();
        // The mirror holds one reference to its log, each follower's subscription another.
        if Arc::strong_count(&self.mirror.log) > 1 {
            return true;
        }
        if mirrors
            .get(&self.id)
            .is_some_and(|known| Arc::ptr_eq(known, &self.mirror))
        {
            mirrors.remove(&self.id);
        }
        false
    }

    /// After a silence: whether the instance running the generation is gone.
    async fn producer_gone(&self, misses: &mut u32) -> bool {
        let Some(producer) = self.producer else {
            return OffsetDateTime::now_utc() > self.given_up_at;
        };
        match self.cluster.lease_held(producer).await {
            Ok(true) => *misses = 0,
            Ok(false) => *misses += 1,
            Err(err) => tracing::debug!(error = %err, "could not look at a lease"),
        }
        *misses >= LEASE_MISSES
    }

    fn interrupt(&self) {
        let _ = self.mirror.interrupted.set(Failed {
            code: ErrorCode::StreamUnavailable,
            message:
                "the live stream is unavailable here: Redis does not answer; resume to try again"
                    .into(),
            retryable: true,
        });
        self.registry.forget_mirror(self.id, &self.mirror);
        self.mirror.log.close();
    }
}

/// `started` (unless the client saw it) then, once the stored generation has finished, its
/// `completed` or `error`, numbered as it was (rows from before that was recorded: after the
/// client's last event, so that a client resuming with `Last-Event-ID` accepts it).
fn summary(
    registry: Arc<Generations>,
    record: GenerationRecord,
    after: u64,
) -> impl futures_util::Stream<Item = Arc<Entry>> + Send + 'static {
    async_stream::stream! {
        let urls = registry.urls();
        if after == 0 {
            yield Arc::new(Entry {
                seq: 1,
                event: Event::Started(Started {
                    generation_id: record.id,
                    model: record.model.clone(),
                    events_url: urls.events_url(record.id),
                    status_url: urls.status_url(record.id),
                    created_at: record.created_at,
                }),
            });
        }
        let deadline = registry.given_up_at(&record);
        let mut record = record;
        while record.status == Status::Running && OffsetDateTime::now_utc() < deadline {
            tokio::time::sleep(DATABASE_POLL).await;
            match registry.pipeline.store.generation(record.id).await {
                Ok(latest) => record = latest,
                Err(err) => tracing::warn!(error = %err, "following a generation through the database"),
            }
        }
        let seq = match record.final_seq {
            Some(last) if last as u64 > after => last as u64,
            _ => after.max(1) + 1,
        };
        yield Arc::new(Entry { seq, event: terminal_event(&registry, &record).await });
    }
}

/// The terminal event a stored generation ended with.
async fn terminal_event(registry: &Generations, record: &GenerationRecord) -> Event {
    let urls = registry.urls();
    match (record.status, record.page_id) {
        (Status::Completed, Some(page_id)) => {
            let page = registry.pipeline.store.page(page_id).await.ok();
            // A new page's generation made version 1; a refine recorded the one it made.
            let version = match record.refines {
                None => Some(1),
                Some(_) => record.version,
            };
            Event::Completed(Completed {
                version,
                version_url: version.map(|n| urls.version_url(page_id, n)),
                page_id,
                live_url: urls.live_url(page_id),
                title: page.as_ref().map(|p| p.title.clone()).unwrap_or_default(),
                usage: record.usage.unwrap_or_default(),
                fallback: page.is_some_and(|p| p.meta_data.fallback),
                duration_ms: record
                    .duration_ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .unwrap_or_default(),
                segments: record
                    .segments
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1),
            })
        }
        (Status::Running, _) => Event::Error(Failed {
            code: ErrorCode::GenerationTimeout,
            message: "the generation did not finish in time".into(),
            retryable: true,
        }),
        _ => {
            let code = record.error_code.unwrap_or(ErrorCode::Internal);
            Event::Error(Failed {
                code,
                message: record
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "the generation failed".into()),
                retryable: code.is_retryable(),
            })
        }
    }
}
