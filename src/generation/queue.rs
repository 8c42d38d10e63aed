//! The queue for upstream slots: at most `LIVEPAGE_MAX_CONCURRENT` generations talk to the
//! upstream at once, the others wait in the order they came, and each is told its place as it
//! changes (docs/ARCHITECTURE.md, "A generation, start to end").

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Upstream slots and the generations waiting for one.
#[derive(Debug)]
pub(super) struct Queue {
    /// Tokio's semaphore is fair: waiting generations get slots in the order they arrived.
    slots: Arc<Semaphore>,
    /// How many may wait; past that a new generation is refused.
    capacity: usize,
    /// Tickets of the waiting generations; a generation's place is the number of smaller ones.
    waiting: Mutex<BTreeSet<u64>>,
    next_ticket: AtomicU64,
    /// Bumped whenever a generation leaves the queue, which is when places move up.
    departures: watch::Sender<u64>,
}

impl Queue {
    pub fn new(slots: usize, capacity: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            capacity,
            waiting: Mutex::default(),
            next_ticket: AtomicU64::new(0),
            departures: watch::Sender::new(0),
        }
    }

    /// Whether a new generation would find neither a free slot nor room to wait.
    pub fn is_full(&self) -> bool {
        self.slots.available_permits() == 0 && self.len() >= self.capacity
    }

    /// Generations waiting for a slot.
    pub fn len(&self) -> usize {
        self.waiting().len()
    }

    /// A slot, at once when one is free. Otherwise waits for one in line, calling `place` with
    /// the number of generations ahead when it queues and each time that number changes.
    pub async fn slot(&self, mut place: impl FnMut(u64)) -> OwnedSemaphorePermit {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return permit;
        }
        let mut departures = self.departures.subscribe();
        let ticket = Ticket::take(self);
        let acquire = Arc::clone(&self.slots).acquire_owned();
        tokio::pin!(acquire);
        let mut told = None;
        loop {
            let ahead = ticket.ahead();
            if told != Some(ahead) {
                place(ahead);
                told = Some(ahead);
            }
            tokio::select! {
                permit = &mut acquire => return permit.expect("the slot semaphore is never closed"),
                // The sender lives as long as the queue, which outlives this borrow of it.
                _ = departures.changed() => {}
            }
        }
    }

    fn waiting(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A place in the queue; leaving the queue (admitted or cancelled) frees it.
struct Ticket<'a> {
    queue: &'a Queue,
    number: u64,
}

impl<'a> Ticket<'a> {
    fn take(queue: &'a Queue) -> Self {
        let number = queue.next_ticket.fetch_add(1, Ordering::Relaxed);
        queue.waiting().insert(number);
        Self { queue, number }
    }

    /// Generations ahead of this one.
    fn ahead(&self) -> u64 {
        self.queue.waiting().range(..self.number).count() as u64
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.queue.waiting().remove(&self.number);
        self.queue
            .departures
            .send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;

    /// Places are pushed as they change, with no polling: time does not move in this test.
    #[tokio::test(start_paused = true)]
    async fn waiting_generations_are_told_their_place_as_it_moves_up() {
        let queue = Arc::new(Queue::new(1, 10));
        let first = queue.slot(|_| panic!("a free slot is taken at once")).await;
        let places: Arc<StdMutex<Vec<(usize, u64)>>> = Arc::default();
        let mut waiters = Vec::new();
        for n in 0..3 {
            let (waiter, places) = (Arc::clone(&queue), Arc::clone(&places));
            // Each keeps its slot: the test hands slots on one at a time.
            waiters.push(tokio::spawn(async move {
                waiter
                    .slot(|ahead| places.lock().unwrap().push((n, ahead)))
                    .await
            }));
            // Each waiter queues before the next one starts.
            while queue.len() <= n {
                tokio::task::yield_now().await;
            }
        }
        let told = |who: usize| -> Vec<u64> {
            let places = places.lock().unwrap();
            places
                .iter()
                .filter(|(n, _)| *n == who)
                .map(|(_, a)| *a)
                .collect()
        };
        let until_told = async |who: usize, expected: &[u64]| {
            for _ in 0..1_000 {
                if told(who) == expected {
                    return;
                }
                tokio::task::yield_now().await;
            }
            assert_eq!(told(who), expected, "waiter {who}");
        };
        assert_eq!((told(0), told(1), told(2)), (vec![0], vec![1], vec![2]));

        drop(first);
        let mut waiters = waiters.into_iter();
        let slot = waiters.next().unwrap().await.unwrap();
        until_told(1, &[1, 0]).await;
        until_told(2, &[2, 1]).await;
        drop(slot);
        let slot = waiters.next().unwrap().await.unwrap();
        until_told(2, &[2, 1, 0]).await;
        drop(slot);
        drop(waiters.next().unwrap().await.unwrap());
        assert_eq!(queue.len(), 0);
    }

    #[tokio::test]
    async fn with_every_slot_busy_and_the_queue_at_capacity_it_is_full() {
        let queue = Arc::new(Queue::new(1, 1));
        let _running = queue.slot(|_| {}).await;
        assert!(!queue.is_full(), "one may still wait");
        let waiting = tokio::spawn({
            let queue = Arc::clone(&queue);
            async move { drop(queue.slot(|_| {}).await) }
        });
        while queue.len() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(queue.is_full());
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(queue.len(), 0, "a cancelled waiter leaves the queue");
        assert!(!queue.is_full());
    }
}
