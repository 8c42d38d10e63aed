//! One generation from queue to saved page: the pipeline of
//! docs/ARCHITECTURE.md, "A generation, start to end".
//!
//! [`Run::execute`] drives the stages and turns every way of ending into exactly one terminal
//! event: `completed` (only after the page is committed) or `error`. Upstream failures before
//! the first token are retried with capped, jittered exponential backoff; after the first token
//! they end the generation, keeping the partial output on the generation row.
//!
//! A page may take several upstream responses, its segments: when the model stops at its
//! length limit, it is asked to carry on (`LIVEPAGE_MAX_CONTINUATIONS` times at most), and
//! each continuation goes through a [`Merger`] so that the deltas of all segments make the
//! document once (docs/ARCHITECTURE.md, "Continuing a page cut off"). Retries and timeouts
//! apply to each segment as to the first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use time::OffsetDateTime;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use uuid::Uuid;

use super::continuation::{Merger, Removed};
use super::edits::{EditStream, looks_like_document};
use super::event::{Completed, Delta, ErrorCode, Event, Failed, Progress, Stage};
use super::prompt::RefineFormat;
use super::{Generation, Pipeline, fallback, prompt};
use crate::domain::{GenerationRequest, Refinement, Usage};
use crate::metrics::{self, Ended, Sanitizing};
use crate::sanitize::{SanitizedHtml, Sanitizer};
use crate::store::{
    GenerationStatus, NewGeneration, NewPage, NewVersion, Outcome, PageMeta, StoreError,
};
use crate::upstream::{ChatRequest, Chunk, ChunkStream, Continuation, Finish, UpstreamError};

/// Typical size of a generated page; the progress estimate approaches 90% around it.
const EXPECTED_OUTPUT_BYTES: f64 = 12_000.0;

/// Storage writes that fail because the database is unreachable are tried this many times
/// (with backoff) before the generation gives up with `storage_unavailable`.
const STORAGE_ATTEMPTS: usize = 4;

/// Runs a storage write, retrying while the database is unreachable: a database restart or
/// failover of a few seconds should not cost anyone their page.
async fn with_storage_retries<T, Fut>(write: impl FnMut() -> Fut) -> Result<T, StoreError>
where
    Fut: Future<Output = Result<T, StoreError>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(STORAGE_ATTEMPTS - 1)
        .with_jitter();
    write
        .retry(backoff)
        .when(|err| matches!(err, StoreError::Unavailable(_)))
        .notify(|err, delay| tracing::warn!(error = %err, ?delay, "database unreachable; retrying"))
        .await
}

/// Why a generation ended without a page.
#[derive(Debug)]
struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A failure after the first token: the stream is broken and retrying it would duplicate
    /// the text already relayed.
    fn mid_stream(err: UpstreamError) -> Self {
        let code = match err {
            UpstreamError::Provider(_) => ErrorCode::UpstreamError,
            UpstreamError::Malformed(_) => ErrorCode::UpstreamProtocol,
            _ => ErrorCode::UpstreamDisconnected,
        };
        Self::new(code, err.to_string())
    }
}

/// How relaying the model's output failed.
#[derive(Debug)]
enum RelayError {
    /// Nothing was written: the fallback page may stand in.
    NoToken(NoToken),
    /// It failed after the first token: the stream is broken.
    Broken(Failure),
}

/// Why no token came from the upstream.
#[derive(Debug)]
enum NoToken {
    Upstream(UpstreamError),
    Timeout,
    /// The stream finished without content (an "empty stop"), for the reason given.
    Empty {
        finish: Option<Finish>,
    },
}

impl NoToken {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Upstream(err) => err.is_retryable(),
            Self::Timeout | Self::Empty { .. } => true,
        }
    }

    /// The model ended its answer normally without writing anything: asked to continue, it
    /// had nothing to add.
    fn is_clean_stop(&self) -> bool {
        matches!(self, Self::Empty { finish: Some(finish) }
            if finish.reason == "stop" && !provider_failed(finish))
    }

    fn into_failure(self, attempts: u32) -> Failure {
        let after = if attempts > 1 {
            format!(" (after {attempts} attempts)")
        } else {
            String::new()
        };
        match self {
            Self::Upstream(err) if !err.is_retryable() => {
                Failure::new(ErrorCode::UpstreamRejected, err.to_string())
            }
            Self::Upstream(err) => {
                Failure::new(ErrorCode::UpstreamUnavailable, format!("{err}{after}"))
            }
            Self::Timeout => Failure::new(
                ErrorCode::UpstreamTimeout,
                format!("the model did not start writing in time{after}"),
            ),
            Self::Empty { finish } => Failure::new(
                ErrorCode::EmptyOutput,
                format!(
                    "the model finished without writing anything (reason: {}){after}",
                    finish
                        .as_ref()
                        .and_then(|f| f.native_reason.as_deref())
                        .unwrap_or("none given")
                ),
            ),
        }
    }
}

/// How one segment of the page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The model finished the page.
    Finished,
    /// The model stopped at its length limit (`finish_reason: "length"`).
    Cut,
}

/// Whether the provider failed behind a finish reason that looks normal (an empty `stop` whose
/// native reason says `network_error`).
fn provider_failed(finish: &Finish) -> bool {
    finish
        .native_reason
        .as_deref()
        .is_some_and(|native| native.to_ascii_lowercase().contains("error"))
}

/// The state of one generation while it runs.
pub(super) struct Run<'a> {
    /// What the run works with, shared with every other run.
    pipeline: &'a Pipeline,
    generation: &'a Generation,
    request: &'a GenerationRequest,
    started: Instant,
    /// Bytes of model output so far. The output itself is kept once, in the event log (its
    /// deltas' text), not a second time here.
    bytes: u64,
    /// Content deltas received.
    tokens: u64,
    percent: u8,
    first_token_ms: Option<u64>,
    /// The finish reason of the current segment.
    finish: Option<Finish>,
    /// Usage of the segments that have ended, added up.
    usage: Option<Usage>,
    /// Usage reported for the current segment.
    segment_usage: Option<Usage>,
    /// Segments begun: 1, plus one per continuation; 0 once the fallback page stands in.
    segments: u32,
    /// Whether the current segment has written anything yet.
    writing: bool,
    /// While a continuation is relayed: the seam between it and the text before.
    merger: Option<Merger>,
    last_progress: Instant,
    last_preview: Option<Instant>,
    /// Set while a preview is being made off the runtime.
    preview_in_flight: Arc<AtomicBool>,
    /// A refine's edit blocks, applied to its document as each completes in the stream.
    edits: Option<EditStream>,
    /// Where the current answer starts in the output (bytes): a refine's second answer, the
    /// whole document asked for when the first one's edits could not be applied, follows the
    /// first one.
    answer_start: usize,
    /// The answer being written: 1, or 2 for a refine's whole-document retry.
    answer: u32,
    /// Why the first answer's edits could not be applied, once they could not.
    failed_edits: Option<String>,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        pipeline: &'a Pipeline,
        generation: &'a Generation,
        request: &'a GenerationRequest,
    ) -> Self {
        let now = Instant::now();
        Self {
            pipeline,
            generation,
            request,
            started: now,
            bytes: 0,
            tokens: 0,
            percent: 0,
            first_token_ms: None,
            finish: None,
            usage: None,
            segment_usage: None,
            segments: 1,
            writing: false,
            merger: None,
            last_progress: now,
            last_preview: None,
            preview_in_flight: Arc::default(),
            edits: None,
            answer_start: 0,
            answer: 1,
            failed_edits: None,
        }
    }

    /// Runs the generation to its end, recorded and counted, and returns its terminal event
    /// for the registry to close the log with.
    pub(super) async fn execute(mut self) -> Event {
        // The row goes in before anything can stop the run: a cancel that arrives at once
        // (its client saw `started`) then finds the row it records the cancellation on.
        let result = match self.record_start().await {
            Ok(()) => self.until_stopped().await,
            Err(failure) => Err(failure),
        };
        match result {
            Ok(completed) => {
                tracing::info!(page_id = %completed.page_id, fallback = completed.fallback, version = completed.version, "page saved");
                self.report_end(GenerationStatus::Completed, None, completed.fallback);
                Event::Completed(completed)
            }
            Err(failure) => self.fail(failure).await,
        }
    }

    /// The stages, unless they are cancelled or take longer than allowed.
    async fn until_stopped(&mut self) -> Result<Completed, Failure> {
        let settings = &self.pipeline.settings;
        let cancel = self.generation.cancel.clone();
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                let code = *self.generation.cancel_reason.get().unwrap_or(&ErrorCode::Cancelled);
                Err(Failure::new(code, match code {
                    ErrorCode::Shutdown => "the server shut down before the page was finished",
                    _ => "the generation was cancelled",
                }))
            }
            result = tokio::time::timeout(settings.generation_timeout, self.stages()) => {
                result.unwrap_or_else(|_| Err(Failure::new(
                    ErrorCode::GenerationTimeout,
                    format!("the generation took longer than {}", humantime::format_duration(settings.generation_timeout)),
                )))
            }
        }
    }

    async fn stages(&mut self) -> Result<Completed, Failure> {
        let slot = self.wait_for_slot().await;
        if let Some(refine) = &self.request.refine {
            return self.refine(slot, refine).await;
        }
        let fallback_reason = match self.generate().await {
            Ok(()) => None,
            Err(RelayError::NoToken(no_token)) if self.pipeline.settings.fallback => Some(no_token),
            Err(RelayError::NoToken(no_token)) => {
                let attempts = self.pipeline.settings.max_attempts;
                return Err(no_token.into_failure(attempts));
            }
            Err(RelayError::Broken(failure)) => return Err(failure),
        };
        drop(slot);

        let raw = match &fallback_reason {
            Some(reason) => {
                tracing::warn!(
                    ?reason,
                    "upstream failed before the first token; serving the fallback page"
                );
                // No part of the page is the model's.
                self.segments = 0;
                fallback::page(self.request)
            }
            None => self.generation.log.text(),
        };
        let html = self.sanitize(raw).await?;

        self.progress(Stage::Saving, None, None);
        let page_id = Uuid::now_v7();
        let fallback = fallback_reason.is_some();
        let usage = self.usage().unwrap_or_default();
        let duration_ms = self.elapsed_ms();
        let meta_data = PageMeta {
            generation_id: Some(self.generation.id),
            model: Some(self.generation.model.clone()),
            fallback,
            usage: Some(usage),
            styles: Some(self.pipeline.sanitizer.sanitizer().styles()),
        };
        let page = NewPage {
            id: page_id,
            html: &html,
            meta_data: &meta_data,
            created_at: OffsetDateTime::now_utc(),
        };
        let outcome = self.outcome(GenerationStatus::Completed, None);
        let store = &self.pipeline.store;
        with_storage_retries(|| store.save_page(self.generation.id, &page, &outcome))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "saving the page failed");
                Failure::new(
                    ErrorCode::StorageUnavailable,
                    "the page could not be saved; please try again",
                )
            })?;

        Ok(Completed {
            page_id,
            live_url: self.pipeline.urls.live_url(page_id),
            title: html.title().to_owned(),
            usage,
            fallback,
            duration_ms,
            segments: self.segments,
            version: Some(1),
            version_url: Some(self.pipeline.urls.version_url(page_id, 1)),
        })
    }

    /// A refine (docs/ARCHITECTURE.md, "Refining a page"): the model's edits to the page's
    /// current document, applied as they stream; when they cannot be applied, one more answer
    /// asked for as a whole document; then the result sanitized like any page and saved as the
    /// page's next version.
    async fn refine(
        &mut self,
        slot: OwnedSemaphorePermit,
        refine: &'a Refinement,
    ) -> Result<Completed, Failure> {
        let stored = refine.document.clone();
        let base = self
            .pipeline
            .sanitizer
            .run(move |sanitizer| sanitizer.editable(&stored))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "reading the page to refine failed");
                Failure::new(ErrorCode::Internal, "the page could not be read")
            })?;
        self.edits = Some(EditStream::new(base.clone()));
        self.answer_refine().await?;
        let raw = match self.settle() {
            Ok(raw) => raw,
            Err(why) => {
                tracing::info!(reason = %why, "the refine's edits could not be applied; asking for the whole document");
                self.pipeline.metrics.retried();
                let first_segments = self.segments;
                self.failed_edits = Some(why.clone());
                self.answer = 2;
                self.answer_start = usize::try_from(self.bytes).unwrap_or(usize::MAX);
                self.segments = 1;
                self.edits = Some(EditStream::new(base.clone()));
                let answered = self.answer_refine().await;
                self.segments += first_segments;
                answered?;
                self.settle().map_err(|again| {
                    Failure::new(
                        ErrorCode::EditFailed,
                        format!(
                            "the change could not be applied to the page ({why}), nor could the \
                             whole document asked for instead ({again}); nothing was saved"
                        ),
                    )
                })?
            }
        };
        drop(slot);
        let html = self.sanitize(raw).await?;

        self.progress(Stage::Saving, None, None);
        let page_id = refine.page_id;
        let usage = self.usage().unwrap_or_default();
        let duration_ms = self.elapsed_ms();
        let version = NewVersion {
            page_id,
            base_version: refine.version,
            html: &html,
            created_at: OffsetDateTime::now_utc(),
        };
        let outcome = self.outcome(GenerationStatus::Completed, None);
        let store = &self.pipeline.store;
        let n = with_storage_retries(|| store.save_version(self.generation.id, &version, &outcome))
            .await
            .map_err(|err| match err {
                StoreError::Conflict => Failure::new(
                    ErrorCode::PageChanged,
                    "the page got a new version while this change was being made; nothing was saved, refine it again",
                ),
                StoreError::NotFound => Failure::new(
                    ErrorCode::PageChanged,
                    "the page was taken down or deleted while this change was being made",
                ),
                err => {
                    tracing::error!(error = %err, "saving the version failed");
                    Failure::new(
                        ErrorCode::StorageUnavailable,
                        "the new version could not be saved; please try again",
                    )
                }
            })?;
        self.pipeline.announce_page_changed(page_id).await;
        Ok(Completed {
            page_id,
            live_url: self.pipeline.urls.live_url(page_id),
            title: html.title().to_owned(),
            usage,
            fallback: false,
            duration_ms,
            segments: self.segments,
            version: Some(n),
            version_url: Some(self.pipeline.urls.version_url(page_id, n)),
        })
    }

    /// Asks for and relays one answer of a refine. There is no fallback page for a refine:
    /// the page it would change is already there.
    async fn answer_refine(&mut self) -> Result<(), Failure> {
        match self.generate().await {
            Ok(()) => Ok(()),
            Err(RelayError::NoToken(no_token)) => {
                Err(no_token.into_failure(self.pipeline.settings.max_attempts))
            }
            Err(RelayError::Broken(failure)) => Err(failure),
        }
    }

    /// The refined document the current answer makes: the document with its edit blocks
    /// applied, or the whole document it is. `Err` says why there is none.
    fn settle(&mut self) -> Result<String, String> {
        let Some(edits) = self.edits.as_mut() else {
            return Err("no edits were read".into());
        };
        edits.finish();
        if let Some(failure) = edits.failure() {
            return Err(failure.to_string());
        }
        if edits.has_blocks() {
            return Ok(edits.document().to_owned());
        }
        let text = self.generation.log.text();
        let answer = text.get(self.answer_start..).unwrap_or_default();
        if looks_like_document(answer) {
            Ok(answer.to_owned())
        } else {
            Err("the answer held neither edit blocks nor a document".into())
        }
    }

    /// Sanitizes the finished document off the runtime, and shows it as the last preview, so
    /// that a live preview ends on exactly the page that is published.
    async fn sanitize(&mut self, raw: String) -> Result<SanitizedHtml, Failure> {
        self.progress(Stage::Sanitizing, None, None);
        let timer = self.pipeline.metrics.sanitize(Sanitizing::Final).clone();
        let sanitize =
            move |sanitizer: &Sanitizer| metrics::time(&timer, || sanitizer.sanitize(&raw));
        let html = self.pipeline.sanitizer.run(sanitize).await.map_err(|err| {
            tracing::error!(error = %err, "sanitizing the page failed");
            Failure::new(ErrorCode::Internal, "the page could not be prepared")
        })?;
        if self.request.preview {
            let finished = html.as_str().to_owned();
            self.generation.log.push_preview(finished, usize::MAX);
        }
        Ok(html)
    }

    /// Inserts the generation row, so that it can be looked up while it runs.
    async fn record_start(&self) -> Result<(), Failure> {
        let row = NewGeneration {
            id: self.generation.id,
            request: self.request,
            created_at: self.generation.created_at,
            instance_id: self.pipeline.instance,
        };
        let store = &self.pipeline.store;
        with_storage_retries(|| store.insert_generation(&row))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "recording the generation failed");
                Failure::new(
                    ErrorCode::StorageUnavailable,
                    "the database is unavailable; please try again",
                )
            })
    }

    /// Waits for a slot to talk to the upstream, reporting the queue position meanwhile.
    async fn wait_for_slot(&mut self) -> OwnedSemaphorePermit {
        let queue = &self.pipeline.queue;
        queue
            .slot(|ahead| self.progress(Stage::Queued, None, Some(ahead)))
            .await
    }

    /// Connects (with retries) and relays the model's output to the end, continuing while the
    /// model stops at its length limit and continuations are left.
    async fn generate(&mut self) -> Result<(), RelayError> {
        // The system prompt (a few KiB) is needed only until the upstream has answered: it is
        // dropped before the stream is relayed, not held for the stream's whole life.
        let stream = {
            let (system, user) = self.prompts();
            self.connect(Self::chat(self.request, &system, &user, None))
                .await
                .map_err(RelayError::NoToken)?
        };
        let mut ending = self.relay(stream).await.map_err(RelayError::Broken)?;
        while ending == Ending::Cut {
            let allowed = self.pipeline.settings.max_continuations;
            if self.segments > allowed {
                let after = match allowed {
                    0 => String::new(),
                    1 => ", even after a continuation".to_owned(),
                    n => format!(", even after {n} continuations"),
                };
                return Err(RelayError::Broken(Failure::new(
                    ErrorCode::Truncated,
                    format!("the model reached its length limit before finishing the page{after}"),
                )));
            }
            ending = self.continue_page().await.map_err(RelayError::Broken)?;
        }
        Ok(())
    }

    /// What to ask the upstream for `request`: the page, or with `continuation` the rest of
    /// it.
    fn chat<'r>(
        request: &'r GenerationRequest,
        system: &'r str,
        user: &'r str,
        continuation: Option<Continuation<'r>>,
    ) -> ChatRequest<'r> {
        ChatRequest {
            model: request.model.as_str(),
            system,
            user,
            continuation,
        }
    }

    /// The system prompt and the user message: for a new page, the page's rules and the
    /// prompt; for a refine, how to answer (edits, or after they failed a whole document),
    /// and the current document with the change asked for.
    fn prompts(&self) -> (String, String) {
        let request = self.request;
        match &self.edits {
            Some(edits) => {
                let format = match self.answer {
                    1 => RefineFormat::Edits,
                    _ => RefineFormat::Document,
                };
                let system = prompt::refine_system_prompt(request.page_type, request.theme, format);
                // The document the edits apply to: the base, as no block has been applied to
                // it when an answer is asked for (a continuation goes on with the same one).
                let user = prompt::refine_user_message(
                    edits.base(),
                    request.prompt.as_str(),
                    self.failed_edits.as_deref(),
                );
                (system, user)
            }
            None => (
                prompt::system_prompt(request.page_type, request.theme),
                request.prompt.as_str().to_owned(),
            ),
        }
    }

    /// Asks the model to carry on from where it stopped, and relays what it adds through a
    /// [`Merger`]. A failure, before its first token or after, ends the generation: the page
    /// so far stays on the row as its partial output.
    async fn continue_page(&mut self) -> Result<Ending, Failure> {
        self.segments += 1;
        self.pipeline.metrics.continued();
        let stream = {
            let text = self.generation.log.text();
            // A refine's second answer goes on from itself, not from the first one.
            let written = text.get(self.answer_start..).unwrap_or_default();
            tracing::info!(
                segment = self.segments,
                bytes = written.len(),
                "the model stopped at its length limit; continuing"
            );
            self.merger = Some(Merger::new(written));
            let (system, user) = self.prompts();
            let continuation = Continuation {
                instruction: prompt::CONTINUE_INSTRUCTION,
                written,
            };
            self.connect(Self::chat(self.request, &system, &user, Some(continuation)))
                .await
        };
        match stream {
            Ok(stream) => self.relay(stream).await,
            // Nothing more to write: the page ended where the limit fell.
            Err(no_token) if no_token.is_clean_stop() => {
                self.end_segment(Ending::Finished);
                Ok(Ending::Finished)
            }
            Err(no_token) => {
                self.end_segment(Ending::Cut);
                let mut failure = no_token.into_failure(self.pipeline.settings.max_attempts);
                failure.message = format!("while continuing the page: {}", failure.message);
                Err(failure)
            }
        }
    }

    /// Relays one upstream response to its end; says whether the model finished the page or
    /// stopped at its length limit.
    async fn relay(&mut self, mut stream: ChunkStream) -> Result<Ending, Failure> {
        let result = match self.read_to_end(&mut stream).await {
            Ok(()) => self.check_finish(),
            Err(failure) => Err(failure),
        };
        self.end_segment(*result.as_ref().unwrap_or(&Ending::Cut));
        result
    }

    /// Reads the stream to `[DONE]`, taking in every chunk.
    async fn read_to_end(&mut self, stream: &mut ChunkStream) -> Result<(), Failure> {
        let idle = self.pipeline.settings.idle_timeout;
        // One timer for the whole stream, moved only when it fires: a fresh timeout per chunk
        // would insert and remove a timer-wheel entry for every delta.
        let stall = tokio::time::sleep(idle);
        tokio::pin!(stall);
        let mut last_chunk = Instant::now();
        loop {
            let next = tokio::select! {
                biased;
                next = stream.next() => next,
                () = &mut stall => {
                    let deadline = last_chunk + idle;
                    if Instant::now() < deadline {
                        stall.as_mut().reset(deadline);
                        continue;
                    }
                    return Err(Failure::new(
                        ErrorCode::UpstreamStalled,
                        format!("the model stopped sending for {}", humantime::format_duration(idle)),
                    ));
                }
            };
            last_chunk = Instant::now();
            match next {
                None => return Ok(()),
                Some(Err(err)) => return Err(Failure::mid_stream(err)),
                Some(Ok(chunk)) => self.absorb(chunk),
            }
        }
    }

    /// Closes a segment: what the merger still holds goes out (all of it, unless the page is
    /// finished and it ends with a fence only the continuation had opened; after a failure, it
    /// joins the partial output), and the segment's usage joins the total.
    fn end_segment(&mut self, ending: Ending) {
        if let Some(mut merger) = self.merger.take() {
            if let Some(text) = merger.finish(ending == Ending::Finished) {
                self.push_delta(text);
            }
            let removed = merger.removed();
            if removed != Removed::default() {
                tracing::info!(
                    segment = self.segments,
                    preamble_bytes = removed.preamble,
                    fence = removed.fence,
                    overlap_bytes = removed.overlap,
                    closing_fence = removed.closing_fence,
                    "took the repeated opening out of the continuation"
                );
            }
        }
        if let Some(segment) = self.segment_usage.take() {
            self.usage = Some(self.usage.map_or(segment, |total| total + segment));
        }
        self.writing = false;
    }

    /// Usage so far: the ended segments' and the current one's.
    fn usage(&self) -> Option<Usage> {
        match (self.usage, self.segment_usage) {
            (Some(total), Some(segment)) => Some(total + segment),
            (total, segment) => total.or(segment),
        }
    }

    /// Opens the upstream stream and reads up to the first token, retrying failures on the way.
    async fn connect(&mut self, request: ChatRequest<'_>) -> Result<ChunkStream, NoToken> {
        let settings = &self.pipeline.settings;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(settings.retry_base)
            .with_max_delay(settings.retry_max)
            .with_max_times(settings.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build();
        let stage = match request.continuation {
            Some(_) => Stage::Continuing,
            None => Stage::Connecting,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.progress(stage, Some(attempt), None);
            let err = match self.open_until_first_token(request).await {
                Ok(stream) => return Ok(stream),
                // A continuation that had nothing to add is an answer, not a failure.
                Err(err) if stage == Stage::Continuing && err.is_clean_stop() => return Err(err),
                Err(err) => err,
            };
            let retry_after = match &err {
                NoToken::Upstream(err) => err.retry_after(),
                _ => None,
            };
            let delay = match delays.next() {
                Some(delay) if err.is_retryable() => {
                    retry_after.map_or(delay, |asked| asked.max(delay))
                }
                _ => return Err(err),
            };
            if delay > settings.retry_max.max(settings.retry_base) {
                tracing::warn!(
                    ?delay,
                    "the upstream asked to wait longer than LIVEPAGE_RETRY_MAX; giving up"
                );
                return Err(err);
            }
            tracing::warn!(attempt, ?delay, error = ?err, "upstream attempt failed before the first token; retrying");
            self.pipeline.metrics.retried();
            tokio::time::sleep(delay).await;
        }
    }

    async fn open_until_first_token(
        &mut self,
        request: ChatRequest<'_>,
    ) -> Result<ChunkStream, NoToken> {
        let sent = Instant::now();
        let deadline = sent + self.pipeline.settings.first_token_timeout;
        let upstream = &self.pipeline.upstream;
        let mut stream = tokio::time::timeout_at(deadline, upstream.open(request))
            .await
            .map_err(|_| NoToken::Timeout)?
            .map_err(NoToken::Upstream)?;
        self.finish = None;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Err(NoToken::Timeout),
                Ok(None) => {
                    let finish = self.finish.take();
                    return Err(NoToken::Empty { finish });
                }
                Ok(Some(Err(err))) => return Err(NoToken::Upstream(err)),
                Ok(Some(Ok(chunk))) => {
                    let has_content = chunk.content.is_some();
                    self.absorb(chunk);
                    if has_content {
                        let model = &self.generation.model;
                        self.pipeline.metrics.first_token(model, sent.elapsed());
                        return Ok(stream);
                    }
                }
            }
        }
    }

    /// Takes in one chunk: relays its content (through the merger in a continuation),
    /// remembers the finish reason and usage.
    fn absorb(&mut self, chunk: Chunk) {
        if let Some(text) = chunk.content {
            if !self.writing {
                self.writing = true;
                self.first_token_ms.get_or_insert(self.elapsed_ms());
                self.progress(Stage::Generating, None, None);
            }
            self.tokens += 1;
            let relayed = match &mut self.merger {
                Some(merger) => merger.push(text),
                None => Some(text),
            };
            if let Some(text) = relayed {
                self.push_delta(text);
            }
        }
        // The usage chunk that follows the finish chunk carries `finish_reason: null`;
        // the first reason given is the one that counts.
        if self.finish.is_none() {
            self.finish = chunk.finish;
        }
        if chunk.usage.is_some() {
            self.segment_usage = chunk.usage;
        }
    }

    /// Appends a piece of the page to the log, as a `delta`. In a refine, an edit block it
    /// completes is applied at once, counted in a `progress`, and previewed as soon as one may
    /// be.
    fn push_delta(&mut self, text: String) {
        self.bytes += text.len() as u64;
        let applied = self.edits.as_mut().map_or(0, |edits| edits.push(&text));
        self.generation.log.push(Event::Delta(Delta { text }));
        if applied > 0 {
            self.progress(Stage::Generating, None, None);
        }
        self.maybe_report();
    }

    /// Periodic progress and, when asked for, throttled previews.
    fn maybe_report(&mut self) {
        let now = Instant::now();
        let settings = &self.pipeline.settings;
        if now.duration_since(self.last_progress) >= settings.progress_interval {
            self.progress(Stage::Generating, None, None);
        }
        let preview_due = self
            .last_preview
            .is_none_or(|last| now.duration_since(last) >= settings.preview_interval);
        let idle = !self.preview_in_flight.load(Ordering::Acquire);
        if self.request.preview && preview_due && idle {
            self.last_preview = Some(now);
            self.spawn_preview();
        }
    }

    /// Sanitizes a snapshot of the page off the runtime and appends it as a `preview` when
    /// done, so relaying deltas never waits for it. One at a time: a preview that is still
    /// being made when the next is due makes that one skip. The log ignores a preview that
    /// arrives after the terminal event.
    fn spawn_preview(&self) {
        let in_flight = Arc::clone(&self.preview_in_flight);
        in_flight.store(true, Ordering::Release);
        let text = self.generation.log.text();
        let made_from = text.len();
        let snapshot = match &self.edits {
            None => text,
            Some(edits) => self.refine_snapshot(edits, text),
        };
        let log = Arc::clone(&self.generation.log);
        let timer = self.pipeline.metrics.sanitize(Sanitizing::Preview).clone();
        self.pipeline.sanitizer.spawn(move |sanitizer| {
            let html = metrics::time(&timer, || sanitizer.sanitize(&snapshot)).into_string();
            log.push_preview(html, made_from);
            in_flight.store(false, Ordering::Release);
        });
    }

    /// What a refine's preview shows: the document with the blocks applied so far; or, for an
    /// answer that is a whole document, that document so far; until either shows, the page
    /// as it was.
    fn refine_snapshot(&self, edits: &EditStream, text: String) -> String {
        if edits.has_blocks() {
            return edits.document().to_owned();
        }
        let answer = text.get(self.answer_start..).unwrap_or_default();
        if looks_like_document(answer) {
            answer.to_owned()
        } else {
            edits.document().to_owned()
        }
    }

    /// After `[DONE]`: was the page finished, or cut off?
    fn check_finish(&self) -> Result<Ending, Failure> {
        let Some(finish) = &self.finish else {
            return Ok(Ending::Finished);
        };
        let native = finish.native_reason.as_deref().unwrap_or_default();
        match finish.reason.as_str() {
            "length" => Ok(Ending::Cut),
            "content_filter" => Err(Failure::new(
                ErrorCode::UpstreamError,
                "the provider's content filter stopped the page",
            )),
            "error" => Err(Failure::new(
                ErrorCode::UpstreamError,
                "the model provider reported an error",
            )),
            _ if provider_failed(finish) => Err(Failure::new(
                ErrorCode::UpstreamError,
                format!("the model provider failed while writing ({native})"),
            )),
            _ => Ok(Ending::Finished),
        }
    }

    /// Records the failure, and returns the event that ends the stream with it.
    async fn fail(&self, failure: Failure) -> Event {
        // `reason`, not `message`: JSON logs put the event's own message under `message`.
        tracing::warn!(code = failure.code.as_str(), reason = %failure.message, "generation failed");
        let status = match failure.code {
            ErrorCode::Cancelled | ErrorCode::Shutdown => GenerationStatus::Cancelled,
            _ => GenerationStatus::Failed,
        };
        let mut outcome = self.outcome(status, Some(&failure));
        let partial = self.generation.log.text();
        outcome.partial_output = Some(partial.as_str()).filter(|t| !t.is_empty());
        let store = &self.pipeline.store;
        if let Err(err) =
            with_storage_retries(|| store.finish_generation(self.generation.id, &outcome)).await
        {
            tracing::error!(error = %err, "recording the failed generation failed");
        }
        self.report_end(status, Some(failure.code), false);
        Event::Error(Failed {
            code: failure.code,
            retryable: failure.code.is_retryable(),
            message: failure.message,
        })
    }

    /// Counts the generation's end and what it cost. Called before the terminal event, so that
    /// a client that has seen the end of the stream finds it counted in `/metrics`.
    fn report_end(&self, status: GenerationStatus, code: Option<ErrorCode>, fallback: bool) {
        self.pipeline.metrics.ended(&Ended {
            model: &self.generation.model,
            outcome: status.as_str(),
            code: code.map(ErrorCode::as_str),
            fallback,
            usage: self.usage(),
            deltas: self.tokens,
            duration: self.started.elapsed(),
        });
    }

    /// How the generation ended, as recorded. Seals the log: the terminal event's seq is
    /// recorded with the outcome, so nothing but that event may be appended after it.
    fn outcome<'f>(
        &'f self,
        status: GenerationStatus,
        failure: Option<&'f Failure>,
    ) -> Outcome<'f> {
        Outcome {
            status,
            error_code: failure.map(|f| f.code),
            error_message: failure.map(|f| f.message.as_str()),
            usage: self.usage(),
            segments: self.segments,
            first_token_ms: self.first_token_ms,
            duration_ms: self.elapsed_ms(),
            partial_output: None,
            finished_at: OffsetDateTime::now_utc(),
            // Recorded with the outcome, so every instance can tell a client that has seen
            // the end (docs/ARCHITECTURE.md, "Several instances").
            final_seq: Some(self.generation.log.seal()),
        }
    }

    fn progress(&mut self, stage: Stage, attempt: Option<u32>, queue_position: Option<u64>) {
        let bytes = self.bytes;
        let estimate = match stage {
            Stage::Queued => 0,
            Stage::Connecting => 2,
            // Approaches 90% asymptotically, so a long page never shows "done" too early.
            Stage::Generating | Stage::Continuing => {
                5 + (85.0 * (1.0 - (-(bytes as f64) / EXPECTED_OUTPUT_BYTES).exp())) as u8
            }
            Stage::Sanitizing => 92,
            Stage::Saving => 96,
        };
        self.percent = self.percent.max(estimate);
        self.last_progress = Instant::now();
        self.generation.log.push(Event::Progress(Progress {
            stage,
            queue_position,
            tokens: self.tokens,
            bytes,
            elapsed_ms: self.elapsed_ms(),
            percent: self.percent,
            attempt,
            segment: (stage == Stage::Continuing).then_some(self.segments),
            edits: self.edits.as_ref().map(|edits| edits.applied() as u64),
            answer: self.request.refine.as_ref().map(|_| self.answer),
        }));
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn storage_writes_are_retried_only_while_the_database_is_unreachable() {
        let calls = AtomicUsize::new(0);
        let result: Result<(), StoreError> = with_storage_retries(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut))
        })
        .await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), STORAGE_ATTEMPTS);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), StoreError> = with_storage_retries(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::NotFound)
        })
        .await;
        assert!(matches!(result, Err(StoreError::NotFound)));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "other errors are not retried"
        );
    }
}
