//! The event log of one generation: every event in order, numbered, replayable from any point.
//!
//! The generation task appends; any number of subscribers read. A subscriber is a cursor into
//! the log, not a bounded channel, so a slow reader never blocks the writer or the other readers
//! and never misses an event: it catches up from the log. The lock is held only to push or to
//! copy out a batch, never across an await.
//!
//! Deltas are most of a log (hundreds per page, a few bytes each), so they are stored compactly:
//! their text is appended to one buffer and each numbered place in the log is four bytes, where
//! the text stood after it — a delta is the text between its place and the one before. Other
//! events are kept aside, by number, and shared (`Arc`), never copied per subscriber. A reader
//! gets a delta as a fresh entry, made when it reads it and dropped once it is sent. The text
//! grows in steps rather than by doubling, since a log lives as long as its stream: that is
//! what keeps the memory of thousands of open streams small (BENCHMARKS.md).
//!
//! `preview` events are the exception to "keep everything": each holds a whole document, so
//! when a new one is appended the previous one is dropped from the log (its number stays
//! used). A reader catching up therefore gets only the latest preview.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use tokio::sync::watch;

use super::event::{Delta, Event, Preview};

/// An event and its number (the SSE `id`), starting at 1.
#[derive(Debug)]
pub struct Entry {
    pub seq: u64,
    pub event: Event,
}

#[derive(Debug)]
pub struct EventLog {
    state: Mutex<State>,
    /// Bumped when the log closes, for [`EventLog::closed`]. Subscribers are woken through
    /// [`State::waiting`] instead: a `watch` send for every delta costs a lock per shard of
    /// its notifier, for readers that mostly are not waiting yet.
    changed: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct State {
    /// One per numbered place, `places[i]` for seq `i + 1`: the length of `text` after it, with
    /// [`EVENT`] set when the place holds an event other than a delta.
    places: Vec<u32>,
    /// The events other than deltas, in seq order; a superseded preview is removed.
    events: Vec<Arc<Entry>>,
    /// The text of every delta so far, in order.
    text: String,
    /// Seq of the latest preview, to drop it when the next one arrives.
    last_preview: Option<u64>,
    /// How many bytes of the text the latest preview was made from (see
    /// [`EventLog::push_preview`]).
    preview_made_from: usize,
    /// Set by [`EventLog::seal`]: only the terminal event may follow.
    sealed: bool,
    closed: bool,
    /// Subscribers that found nothing new, woken by the next append or the close. They
    /// register under the same lock as they read, so no append can slip between the two.
    waiting: Vec<Waker>,
}

/// Marks a place that holds an event other than a delta; the rest of the value is still the
/// text's length, so the next delta knows where it starts.
const EVENT: u32 = 1 << 31;

/// The longest text that places can point into.
const MAX_TEXT: usize = (EVENT - 1) as usize;

/// The text grows by this much, or by an eighth of its length when that is more.
const TEXT_STEP: usize = 4096;

impl State {
    /// The entry numbered `seq`, as a reader gets it (none for a superseded preview).
    fn entry(&self, seq: u64) -> Option<Arc<Entry>> {
        let index = usize::try_from(seq - 1).ok()?;
        let place = *self.places.get(index)?;
        if place & EVENT != 0 {
            let found = self.events.binary_search_by_key(&seq, |entry| entry.seq);
            return found.ok().map(|at| Arc::clone(&self.events[at]));
        }
        let start = index
            .checked_sub(1)
            .map_or(0, |before| self.places[before] & !EVENT);
        Some(Arc::new(Entry {
            seq,
            event: Event::Delta(Delta {
                text: self.text[start as usize..place as usize].to_owned(),
            }),
        }))
    }

    /// Wakes every waiting subscriber. Waking only schedules their tasks, so it is done under
    /// the lock, which keeps the list's capacity for the next wait.
    fn wake_all(&mut self) {
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
    }

    /// Stores `event` in the next place, numbered `seq`.
    fn append(&mut self, seq: u64, event: Event) {
        match event {
            Event::Delta(Delta { text }) if self.text.len() + text.len() <= MAX_TEXT => {
                self.reserve_text(text.len());
                self.text.push_str(&text);
                self.places.push(self.text.len() as u32);
            }
            // A page longer than 2 GiB cannot be pointed into: its delta is kept as an event.
            event => {
                if matches!(event, Event::Preview(_))
                    && let Some(previous) = self.last_preview.replace(seq)
                    && let Ok(at) = self.events.binary_search_by_key(&previous, |e| e.seq)
                {
                    self.events.remove(at);
                }
                self.events.push(Arc::new(Entry { seq, event }));
                self.places.push(self.text.len() as u32 | EVENT);
            }
        }
    }

    /// Makes room for `additional` more bytes of text, in steps of [`TEXT_STEP`] or an
    /// eighth of the text: doubling would leave up to half of a long-lived buffer unused,
    /// while steps keep the slack small and the copying still linear overall.
    fn reserve_text(&mut self, additional: usize) {
        if self.text.capacity() - self.text.len() < additional {
            let step = (self.text.len() / 8).max(TEXT_STEP).max(additional);
            self.text.reserve_exact(step);
        }
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock can panic half-way through a change (short of a bug: running
        // out of memory aborts), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends an event and returns its seq. Appending to a closed log is ignored (returns 0):
    /// nothing may follow a terminal event.
    pub fn push(&self, event: Event) -> u64 {
        Self::push_locked(&mut self.state(), event)
    }

    fn push_locked(state: &mut State, event: Event) -> u64 {
        if state.closed || (state.sealed && !event.is_terminal()) {
            return 0;
        }
        let seq = state.places.len() as u64 + 1;
        state.append(seq, event);
        state.wake_all();
        seq
    }

    /// Appends a preview made from the first `made_from` bytes of the text, unless the log
    /// already holds one made from more: previews are made on several threads and may finish
    /// out of order, and the one kept must be the newest — the finished page last of all,
    /// pushed with `usize::MAX`. Returns its seq, or 0 when it is ignored.
    pub fn push_preview(&self, html: String, made_from: usize) -> u64 {
        let mut state = self.state();
        if made_from < state.preview_made_from {
            return 0;
        }
        state.preview_made_from = made_from;
        Self::push_locked(&mut state, Event::Preview(Preview { html }))
    }

    /// Reserves the next seq for the terminal event and refuses anything else from now on
    /// (a preview finishing late on another thread, say), so that the seq can be recorded with
    /// the outcome before the event is appended. Returns that seq; calling it again returns
    /// the same one.
    pub fn seal(&self) -> u64 {
        let mut state = self.state();
        state.sealed = true;
        state.places.len() as u64 + 1
    }

    /// Appends `event` as number `seq`, as another instance numbered it: the copy of a log
    /// published elsewhere. Numbers skipped (a superseded preview the publisher deleted) stay
    /// empty; a number already used is ignored (returns false).
    pub fn push_numbered(&self, seq: u64, event: Event) -> bool {
        let mut state = self.state();
        let next = state.places.len() as u64 + 1;
        if seq < next || state.closed {
            return false;
        }
        let text_len = state.text.len() as u32;
        for _ in next..seq {
            state.places.push(text_len | EVENT);
        }
        state.append(seq, event);
        state.wake_all();
        true
    }

    /// Appends a terminal event and closes the log.
    pub fn finish(&self, event: Event) -> u64 {
        debug_assert!(event.is_terminal());
        let seq = self.push(event);
        self.close();
        seq
    }

    /// Marks the log complete; subscribers end after the last entry.
    pub fn close(&self) {
        {
            let mut state = self.state();
            state.closed = true;
            state.wake_all();
        }
        self.changed.send_replace(());
    }

    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Resolves once the log is closed.
    pub async fn closed(&self) {
        let mut changed = self.changed.subscribe();
        while !self.is_closed() {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// The terminal event, once the log is closed.
    pub fn terminal(&self) -> Option<Arc<Entry>> {
        let state = self.state();
        let last = state.events.last()?;
        let is_last_place = last.seq == state.places.len() as u64;
        (state.closed && is_last_place && last.event.is_terminal()).then(|| Arc::clone(last))
    }

    /// The seq of the latest event (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.state().places.len() as u64
    }

    /// The latest value `pick` finds among the events other than deltas, searching from the
    /// newest back.
    pub fn latest<T>(&self, pick: impl Fn(&Event) -> Option<T>) -> Option<T> {
        let state = self.state();
        state
            .events
            .iter()
            .rev()
            .find_map(|entry| pick(&entry.event))
    }

    /// The text of every delta so far: the raw model output.
    pub fn text(&self) -> String {
        self.state().text.clone()
    }

    /// Appends the entries after `after` to `batch`. When there are none and the log is open,
    /// registers `waker` for the next append. Returns the seq of the last place and whether the
    /// log is closed.
    fn read_after(
        &self,
        after: u64,
        batch: &mut VecDeque<Arc<Entry>>,
        waker: &Waker,
    ) -> (u64, bool) {
        let mut state = self.state();
        let last = state.places.len() as u64;
        for seq in after.saturating_add(1)..=last {
            batch.extend(state.entry(seq));
        }
        if last <= after && !state.closed && !state.waiting.iter().any(|w| w.will_wake(waker)) {
            state.waiting.push(waker.clone());
        }
        (last, state.closed)
    }

    /// Every event after seq `after`, then the live tail, ending when the log closes.
    pub fn subscribe(self: &Arc<Self>, after: u64) -> Subscription {
        Subscription {
            log: Arc::clone(self),
            cursor: after,
            batch: VecDeque::new(),
            done: false,
        }
    }
}

/// A reader's cursor into an [`EventLog`]: a stream of its entries from a given seq on.
pub struct Subscription {
    log: Arc<EventLog>,
    /// The seq of the last place read.
    cursor: u64,
    /// Entries read from the log and not yet yielded; reused, so reading allocates nothing
    /// once it has grown to a batch's size.
    batch: VecDeque<Arc<Entry>>,
    done: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cursor", &self.cursor)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = Arc<Entry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(entry) = this.batch.pop_front() {
                return Poll::Ready(Some(entry));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let (last, closed) = this
                .log
                .read_after(this.cursor, &mut this.batch, cx.waker());
            let caught_up = last <= this.cursor;
            this.cursor = last.max(this.cursor);
            match (caught_up, closed) {
                (false, _) => {}
                (true, true) => this.done = true,
                // Registered as waiting, under the lock of the read.
                (true, false) => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::generation::event::{Delta, ErrorCode, Failed};

    fn delta(text: &str) -> Event {
        Event::Delta(Delta { text: text.into() })
    }

    fn texts(entries: &[Arc<Entry>]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match &e.event {
                Event::Delta(d) => d.text.clone(),
                Event::Preview(p) => format!("preview:{}", p.html),
                other => other.name().to_owned(),
            })
            .collect()
    }

    fn failed() -> Event {
        Event::Error(Failed {
            code: ErrorCode::Cancelled,
            message: "x".into(),
            retryable: false,
        })
    }

    #[tokio::test]
    async fn subscribers_replay_from_any_point_then_follow_the_tail() {
        let log = Arc::new(EventLog::new());
        log.push(delta("a"));
        log.push(delta("b"));
        let late = log.subscribe(1);
        let early = log.subscribe(0);
        log.push(delta("c"));
        log.finish(failed());
        let late: Vec<_> = late.collect().await;
        let early: Vec<_> = early.collect().await;
        assert_eq!(texts(&late), ["b", "c", "error"]);
        assert_eq!(texts(&early), ["a", "b", "c", "error"]);
        assert_eq!(
            early.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }

    #[tokio::test]
    async fn a_subscriber_past_the_end_of_a_closed_log_ends_at_once() {
        let log = Arc::new(EventLog::new());
        log.finish(failed());
        assert_eq!(log.subscribe(1).count().await, 0);
        assert_eq!(log.subscribe(99).count().await, 0);
    }

    #[tokio::test]
    async fn nothing_follows_a_terminal_event() {
        let log = EventLog::new();
        log.finish(failed());
        assert_eq!(log.push(delta("late")), 0);
        assert_eq!(log.last_seq(), 1);
    }

    #[tokio::test]
    async fn only_the_latest_preview_is_kept_but_numbers_stay_used() {
        let log = Arc::new(EventLog::new());
        log.push(Event::Preview(Preview { html: "1".into() }));
        log.push(delta("a"));
        log.push(Event::Preview(Preview { html: "2".into() }));
        log.finish(failed());
        let all: Vec<_> = log.subscribe(0).collect().await;
        assert_eq!(texts(&all), ["a", "preview:2", "error"]);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[tokio::test]
    async fn deltas_around_other_events_keep_their_own_text() {
        let log = Arc::new(EventLog::new());
        log.push(delta("ab"));
        log.push(Event::Preview(Preview { html: "p".into() }));
        log.push(delta("cd"));
        log.push(delta(""));
        log.push(delta("é"));
        log.finish(failed());
        let all: Vec<_> = log.subscribe(0).collect().await;
        assert_eq!(texts(&all), ["ab", "preview:p", "cd", "", "é", "error"]);
        assert_eq!(texts(&log.subscribe(2).collect::<Vec<_>>().await)[0], "cd");
        assert_eq!(log.text(), "abcdé");
        assert_eq!(log.terminal().map(|t| t.seq), Some(6));
    }

    #[tokio::test]
    async fn a_preview_older_than_the_one_held_is_ignored() {
        let log = Arc::new(EventLog::new());
        log.push(delta("<p>a"));
        assert_eq!(log.push_preview("a".into(), 4), 2);
        log.push(delta("b</p>"));
        assert_eq!(log.push_preview("final".into(), usize::MAX), 4);
        // A preview of the text as it was earlier, finishing late on another thread.
        assert_eq!(log.push_preview("ab".into(), 9), 0);
        log.finish(failed());
        let all: Vec<_> = log.subscribe(0).collect().await;
        assert_eq!(texts(&all), ["<p>a", "b</p>", "preview:final", "error"]);
    }

    #[test]
    fn the_text_grows_in_steps_not_by_doubling() {
        let log = EventLog::new();
        for _ in 0..20_000 {
            log.push(delta("seven b"));
            let state = log.state();
            let slack = state.text.capacity() - state.text.len();
            assert!(
                slack <= TEXT_STEP.max(state.text.len() / 8),
                "{slack} unused"
            );
        }
        assert_eq!(log.text().len(), 140_000);
    }

    #[tokio::test]
    async fn a_sealed_log_takes_only_its_terminal_event_at_the_reserved_seq() {
        let log = Arc::new(EventLog::new());
        log.push(delta("a"));
        assert_eq!(log.seal(), 2);
        assert_eq!(log.seal(), 2, "sealing again reserves the same seq");
        assert_eq!(log.push_preview("late".into(), 1), 0);
        assert_eq!(log.push(delta("b")), 0);
        assert_eq!(log.finish(failed()), 2);
    }

    #[tokio::test]
    async fn a_copy_keeps_the_publishers_numbers_and_skips_the_gaps() {
        let copy = Arc::new(EventLog::new());
        assert!(copy.push_numbered(1, delta("a")));
        assert!(copy.push_numbered(3, Event::Preview(Preview { html: "p".into() })));
        assert!(!copy.push_numbered(3, delta("again")), "a seq is used once");
        assert!(copy.push_numbered(4, delta("b")));
        assert!(copy.push_numbered(5, failed()));
        copy.close();
        let all: Vec<_> = copy.subscribe(0).collect().await;
        assert_eq!(texts(&all), ["a", "preview:p", "b", "error"]);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3, 4, 5]);
        assert_eq!(copy.text(), "ab");
        assert_eq!(copy.terminal().map(|t| t.seq), Some(5));
    }

    #[tokio::test]
    async fn a_slow_reader_misses_nothing() {
        let log = Arc::new(EventLog::new());
        let reader = log.subscribe(0);
        for i in 0..10_000 {
            log.push(delta(&i.to_string()));
        }
        log.finish(failed());
        let seqs: Vec<u64> = reader.map(|e| e.seq).collect().await;
        assert_eq!(seqs, (1..=10_001).collect::<Vec<_>>());
    }
}
