//! Generations: each one a task that owns its work, registered so that any request can find it.
//!
//! [`Generations::start`] spawns the task and returns its [`Generation`] handle at once; the
//! HTTP connection that asked for it only subscribes to its [`EventLog`]. A client that goes away
//! therefore loses nothing: the task carries on, saves the page and keeps its log for
//! `retention` so that the client can resume. Only [`Generation::cancel`] (a request, or a
//! shutdown past its deadline) stops a task early.
//!
//! What a task works with (the store, the upstream, the sanitizer, the settings, …) is the
//! [`Pipeline`], which the registry hands to each run: the registry itself only keeps track of
//! the generations.

mod continuation;
pub mod edits;
pub mod event;
mod fallback;
mod follow;
pub mod log;
mod pipeline;
pub mod prompt;
mod queue;
mod run;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use url::Url;
use uuid::Uuid;

use crate::descriptors::Descriptors;
use crate::domain::{GenerateBody, GenerationRequest, RefineBody};
use crate::memory::MemoryLimit;

pub use event::{ErrorCode, Event, Stage};
pub use follow::{CancelError, Follow};
pub use log::{Entry, EventLog};
pub use pipeline::Pipeline;

/// The bases of the absolute URLs in events and responses: the service's own, and the live
/// pages' (which may be a separate, cookieless origin).
#[derive(Debug, Clone)]
pub struct Urls {
    pub public: Url,
    pub pages: Url,
}

impl Urls {
    /// The absolute URL of a published page.
    pub fn live_url(&self, page_id: Uuid) -> String {
        join(&self.pages, &format!("p/{page_id}"))
    }

    /// The absolute URL of version `n` of a page.
    pub fn version_url(&self, page_id: Uuid, n: i64) -> String {
        join(&self.pages, &format!("p/{page_id}/v/{n}"))
    }

    pub fn status_url(&self, generation_id: Uuid) -> String {
        join(&self.public, &format!("api/generations/{generation_id}"))
    }

    pub fn events_url(&self, generation_id: Uuid) -> String {
        join(
            &self.public,
            &format!("api/generations/{generation_id}/events"),
        )
    }
}

fn join(base: &Url, path: &str) -> String {
    base.join(path)
        .map_or_else(|_| format!("{base}{path}"), String::from)
}

/// Why a generation could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Every slot is busy and the queue is full.
    QueueFull,
    /// The server is shutting down.
    ShuttingDown,
    /// What a new generation needs (its upstream connection) would leave fewer free
    /// descriptors than the reserve kept for the generations already accepted, or the process
    /// holds as much memory as `LIVEPAGE_MEMORY_LIMIT` lets it.
    Overloaded,
    /// The idempotency key was used before with a different request body.
    KeyReused,
    /// The page is being refined already (docs/ARCHITECTURE.md, "Refining a page").
    RefineInProgress,
}

/// An `Idempotency-Key` and the body it was sent with: a repeat of both attaches to the first
/// generation instead of starting (and paying for) another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub body: KeyedBody,
}

/// What an idempotency key was sent with: a new page's body, or a refine's and its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedBody {
    Generate(GenerateBody),
    Refine { page_id: Uuid, body: RefineBody },
}

/// A running or recently finished generation.
#[derive(Debug)]
pub struct Generation {
    pub id: Uuid,
    pub model: String,
    pub created_at: OffsetDateTime,
    pub log: Arc<EventLog>,
    /// Cancelled to stop the task; dropping its upstream request closes the connection.
    cancel: CancellationToken,
    /// Why it was cancelled: the first reason given wins.
    cancel_reason: OnceLock<ErrorCode>,
    /// The `Idempotency-Key` it was started with, forgotten with the generation.
    idempotency_key: Option<String>,
}

impl Generation {
    /// Stops the generation, if it is still running; the stream ends with an `error` of `code`.
    /// Returns false when it had already finished.
    pub fn cancel(&self, code: ErrorCode) -> bool {
        if self.log.is_closed() {
            return false;
        }
        let _ = self.cancel_reason.set(code);
        self.cancel.cancel();
        true
    }

    pub fn is_finished(&self) -> bool {
        self.log.is_closed()
    }
}

/// An idempotency key's generation and the body that started it.
#[derive(Debug)]
struct Remembered {
    body: KeyedBody,
    generation: Arc<Generation>,
}

/// The registry of generations: the running ones and those finished recently, by id and by
/// idempotency key, the refine running on each page, and their tasks.
#[derive(Debug)]
pub struct Generations {
    /// What every run works with; the registry starts runs with it and follows generations
    /// through its store and cluster.
    pipeline: Pipeline,
    /// Running generations, and finished ones until their retention ends.
    live: Mutex<HashMap<Uuid, Arc<Generation>>>,
    /// Finished generations still in `live`, oldest first, to bound how many are retained.
    finished: Mutex<VecDeque<Uuid>>,
    /// Generations by idempotency key, as long as they are in `live`.
    by_key: Mutex<HashMap<String, Remembered>>,
    /// The refine running on each page, by page id: one at a time per page, so that a refine
    /// never edits a document another is about to replace. Taken in `spawn`, given back when
    /// the run has ended, before its terminal event.
    refining: Mutex<HashMap<Uuid, Uuid>>,
    /// Every generation task, so that shutdown can wait for them.
    tasks: TaskTracker,
    /// The process's descriptor budget: each task holds a slot of it while it runs, and a
    /// generation that would eat into the reserve is refused before it starts.
    descriptors: Arc<Descriptors>,
    /// The resident memory past which a generation is refused before it starts.
    memory: MemoryLimit,
    /// Cleared on shutdown: new generations are refused.
    accepting: AtomicBool,
    /// Cancelled when shutdown begins: streams that follow generations this instance does
    /// not run end then (their clients resume elsewhere), and so do the copies behind them.
    stopping: CancellationToken,
    /// Copies of generations other instances run, by id, while someone here follows them.
    mirrors: Mutex<HashMap<Uuid, Arc<follow::Mirror>>>,
}

/// What new generations are admitted against, beside the queue: the process's descriptor
/// budget and its memory limit (docs/ARCHITECTURE.md, "Descriptors and connections").
#[derive(Debug, Clone)]
pub struct Admission {
    pub descriptors: Arc<Descriptors>,
    pub memory: MemoryLimit,
}

impl Generations {
    pub fn new(pipeline: Pipeline, admission: Admission) -> Arc<Self> {
        Arc::new(Self {
            pipeline,
            descriptors: admission.descriptors,
            memory: admission.memory,
            stopping: CancellationToken::new(),
            mirrors: Mutex::default(),
            live: Mutex::default(),
            by_key: Mutex::default(),
            refining: Mutex::default(),
            finished: Mutex::default(),
            tasks: TaskTracker::new(),
            accepting: AtomicBool::new(true),
        })
    }

    /// The bases of the URLs in events and responses.
    pub fn urls(&self) -> &Urls {
        &self.pipeline.urls
    }

    fn mirrors(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<follow::Mirror>>> {
        self.mirrors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn live(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Generation>>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn by_key(&self) -> MutexGuard<'_, HashMap<String, Remembered>> {
        self.by_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation an idempotency key already started, if any. `Err(KeyReused)` when the key
    /// came with a different body.
    pub fn find_by_key(&self, key: &IdempotencyKey) -> Result<Option<Arc<Generation>>, StartError> {
        match self.by_key().get(&key.key) {
            Some(known) if known.body == key.body => Ok(Some(Arc::clone(&known.generation))),
            Some(_) => Err(StartError::KeyReused),
            None => Ok(None),
        }
    }

    fn refining(&self) -> MutexGuard<'_, HashMap<Uuid, Uuid>> {
        self.refining
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets another refine of page `page_id` start: refine `generation_id` has ended. (Called
    /// before its terminal event, so that a client that saw it may refine again at once.)
    fn release_page(&self, page_id: Uuid, generation_id: Uuid) {
        let mut refining = self.refining();
        if refining.get(&page_id) == Some(&generation_id) {
            refining.remove(&page_id);
        }
    }

    /// Whether a refine of page `page_id` is running on this instance.
    pub fn is_refining(&self, page_id: Uuid) -> bool {
        self.refining().contains_key(&page_id)
    }

    /// Starts a generation in its own task and returns its handle. Its log already holds the
    /// `started` event, so a subscriber from seq 0 sees it first. With an idempotency key that
    /// already started one (even concurrently), returns that one instead.
    pub fn start(
        self: &Arc<Self>,
        request: GenerationRequest,
        key: Option<IdempotencyKey>,
    ) -> Result<Arc<Generation>, StartError> {
        let Some(key) = key else {
            return self.spawn(request, None);
        };
        // Held across the check and the start, so two concurrent repeats start one generation.
        let mut by_key = self.by_key();
        match by_key.get(&key.key) {
            Some(known) if known.body == key.body => return Ok(Arc::clone(&known.generation)),
            Some(_) => return Err(StartError::KeyReused),
            None => {}
        }
        let generation = self.spawn(request, Some(key.key.clone()))?;
        by_key.insert(
            key.key,
            Remembered {
                body: key.body,
                generation: Arc::clone(&generation),
            },
        );
        Ok(generation)
    }

    fn spawn(
        self: &Arc<Self>,
        request: GenerationRequest,
        key: Option<String>,
    ) -> Result<Arc<Generation>, StartError> {
        if !self.accepting.load(Ordering::Acquire) {
            return Err(StartError::ShuttingDown);
        }
        if self.pipeline.queue.is_full() {
            return Err(StartError::QueueFull);
        }
        if !self.memory.admits() {
            return Err(StartError::Overloaded);
        }
        let id = Uuid::now_v7();
        let refined_page = request.refine.as_ref().map(|refine| refine.page_id);
        if let Some(page_id) = refined_page {
            let mut refining = self.refining();
            if refining.contains_key(&page_id) {
                return Err(StartError::RefineInProgress);
            }
            refining.insert(page_id, id);
        }
        let Some(descriptors) = self.descriptors.admit_generation() else {
            if let Some(page_id) = refined_page {
                self.refining().remove(&page_id);
            }
            return Err(StartError::Overloaded);
        };
        let generation = Arc::new(Generation {
            id,
            model: request.model.to_string(),
            created_at: OffsetDateTime::now_utc(),
            log: Arc::new(EventLog::new()),
            cancel: CancellationToken::new(),
            cancel_reason: OnceLock::new(),
            idempotency_key: key,
        });
        generation.log.push(Event::Started(event::Started {
            generation_id: id,
            model: generation.model.clone(),
            events_url: self.urls().events_url(id),
            status_url: self.urls().status_url(id),
            created_at: generation.created_at,
        }));
        self.live().insert(id, Arc::clone(&generation));
        if let Some(cluster) = &self.pipeline.cluster {
            cluster.publish(id, Arc::clone(&generation.log));
        }
        self.pipeline.metrics.started();

        let span = tracing::info_span!("generation", id = %id, model = %generation.model);
        let registry = Arc::clone(self);
        let handle = Arc::clone(&generation);
        self.tasks.spawn(
            async move {
                let end = run::Run::new(&registry.pipeline, &handle, &request)
                    .execute()
                    .await;
                // Another refine of the page may start the moment a client sees this one end.
                if let Some(page_id) = refined_page {
                    registry.release_page(page_id, handle.id);
                }
                handle.log.finish(end);
                drop(descriptors);
                registry.forget_later(handle.id);
            }
            .instrument(span),
        );
        Ok(generation)
    }

    /// A running or recently finished generation.
    pub fn get(&self, id: Uuid) -> Option<Arc<Generation>> {
        self.live().get(&id).cloned()
    }

    /// Cancels generation `id` if this instance runs it: another instance was asked to.
    pub fn cancel_here(&self, id: Uuid) {
        if let Some(generation) = self.get(id)
            && generation.cancel(ErrorCode::Cancelled)
        {
            tracing::info!(generation_id = %id, "cancelled at another instance's request");
        }
    }

    /// Whether other instances share this one's generations (Redis).
    pub fn is_clustered(&self) -> bool {
        self.pipeline.cluster.is_some()
    }

    /// Generations currently running.
    pub fn running(&self) -> usize {
        self.live().values().filter(|g| !g.is_finished()).count()
    }

    /// Generations waiting for an upstream slot.
    pub fn queued(&self) -> usize {
        self.pipeline.queue.len()
    }

    /// Drops a finished generation's log from memory once its retention has passed, or
    /// sooner when more than `event_retention_max` finished logs are kept: memory stays bounded
    /// whatever the throughput, and a late client still gets a summary from the database.
    fn forget_later(self: &Arc<Self>, id: Uuid) {
        let evicted: Vec<Uuid> = {
            let mut finished = self
                .finished
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            finished.push_back(id);
            let excess = finished
                .len()
                .saturating_sub(self.pipeline.settings.event_retention_max as usize);
            finished.drain(..excess).collect()
        };
        for old in evicted {
            self.forget(old);
        }
        let registry: Weak<Self> = Arc::downgrade(self);
        let retention = self.pipeline.settings.event_retention;
        tokio::spawn(async move {
            tokio::time::sleep(retention).await;
            if let Some(registry) = registry.upgrade() {
                registry.forget(id);
            }
        });
    }

    fn forget(&self, id: Uuid) {
        let forgotten = self.live().remove(&id);
        if let Some(key) = forgotten.and_then(|g| g.idempotency_key.clone()) {
            self.by_key().remove(&key);
        }
    }

    /// Refuses new generations, lets running ones finish for up to `grace`, then cancels the
    /// rest with code `shutdown` and waits for them to record it.
    pub async fn shutdown(&self, grace: Duration) {
        self.accepting.store(false, Ordering::Release);
        self.stopping.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            let running: Vec<_> = self.live().values().cloned().collect();
            tracing::warn!(
                count = running.len(),
                "drain deadline passed; cancelling generations"
            );
            for generation in running {
                generation.cancel(ErrorCode::Shutdown);
            }
            self.tasks.wait().await;
        }
    }
}
