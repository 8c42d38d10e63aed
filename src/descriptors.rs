//! The process's file descriptors: the limit raised at start-up, and the budget that admission
//! keeps so that every accepted generation can always save its page.
//!
//! Each open stream holds descriptors: the client's socket, and while its generation talks to
//! the model an upstream socket; saving the page needs the database, whose files or sockets may
//! have to be opened then. When a process runs out, `accept`, upstream connects and SQLite's
//! `open` all fail — and a page the model has already written is lost. So LivePage counts what
//! it holds and refuses new work up front (`503 overloaded`) while a reserve is still free
//! (docs/ARCHITECTURE.md, "Descriptors and connections").
//!
//! Counting is by accounting, not by listing `/proc/self/fd` per request (a directory of
//! thousands of entries): the descriptors the process holds whatever the traffic are measured
//! once at start-up, and the accept loop and the generation registry count the rest as they
//! open and release them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Descriptors a database connection may hold: SQLite keeps the database, its write-ahead log
/// and the shared-memory index open (PostgreSQL only a socket).
pub const PER_DATABASE_CONNECTION: u64 = 3;

/// Idle upstream connections the HTTP client keeps for reuse, at most (per host).
pub const UPSTREAM_IDLE_POOL: usize = 32;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so that a configured instance can hold
/// as many streams as the system lets it, and logs both. Returns the limit now in force.
pub fn raise_limit() -> u64 {
    let before = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-file limit (RLIMIT_NOFILE)");
            return u64::MAX;
        }
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            tracing::info!(
                soft_before = before.0,
                soft = soft,
                hard = before.1,
                "open-file limit (RLIMIT_NOFILE)"
            );
            soft
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                soft = before.0,
                hard = before.1,
                "cannot raise the open-file limit (RLIMIT_NOFILE) to its hard limit"
            );
            before.0
        }
    }
}

/// How many descriptors the process has open now (Linux: the entries of `/proc/self/fd`, less
/// the one that lists them). Dear with many open: read once, at start-up.
pub fn count_open() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// What the budget is made of; see [`Descriptors::new`].
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The soft `RLIMIT_NOFILE`: the most descriptors the process may hold.
    pub limit: u64,
    /// Held whatever the traffic: what was open at start-up, plus what the database pool and
    /// the upstream client's idle pool may still open.
    pub fixed: u64,
    /// Kept free for the work already accepted (saving, retries, name lookups, the log).
    pub reserve: u64,
    /// Generations that hold an upstream connection at once, at most (the upstream slots).
    pub max_upstream: u64,
    /// Descriptors one upstream connection costs this process: 1, or 2 when the upstream is
    /// the in-process demo model (both ends are here).
    pub per_upstream: u64,
}

/// The descriptor budget: every client connection and every accepted generation is counted
/// against the limit, so that admission can refuse work before the descriptors run out.
///
/// Counters move with guards ([`ConnectionSlot`], [`GenerationSlot`]) that give back on drop,
/// so nothing is leaked on an early return or a cancelled task. A check and its increment are
/// not one atomic step: concurrent admissions may overshoot by a few, which the reserve absorbs.
#[derive(Debug)]
pub struct Descriptors {
    budget: Budget,
    /// Open client connections: one socket each, counted from `accept` to close.
    connections: AtomicU64,
    /// Generations accepted and not finished: each one holds, or will hold once it has a slot,
    /// one upstream connection.
    generations: AtomicU64,
}

impl Descriptors {
    pub fn new(budget: Budget) -> Arc<Self> {
        Arc::new(Self {
            budget,
            connections: AtomicU64::new(0),
            generations: AtomicU64::new(0),
        })
    }

    /// No limit worth counting (tests of parts that never run out).
    pub fn unlimited() -> Arc<Self> {
        Self::new(Budget {
            limit: u64::MAX,
            fixed: 0,
            reserve: 0,
            max_upstream: u64::MAX,
            per_upstream: 1,
        })
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Open client connections.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Descriptors in use, or that the work accepted may still open, with `connections` client
    /// connections and `generations` generations.
    fn in_use(&self, connections: u64, generations: u64) -> u64 {
        let upstream = generations.min(self.budget.max_upstream) * self.budget.per_upstream;
        self.budget
            .fixed
            .saturating_add(connections)
            .saturating_add(upstream)
    }

    fn fits(&self, in_use: u64, reserve: u64) -> bool {
        in_use.saturating_add(reserve) <= self.budget.limit
    }

    /// Counts a connection just accepted; `None` when it leaves less than half the reserve
    /// free, and the caller should close it at once. A connection may use the first half of
    /// the reserve, so that past the limit for generations a client is still told so
    /// (`503 overloaded`, then the connection is closed), not reset; the second half is the
    /// accepted work's alone.
    pub fn accept_connection(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let connections = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = ConnectionSlot(Arc::clone(self));
        let generations = self.generations.load(Ordering::Relaxed);
        self.fits(
            self.in_use(connections, generations),
            self.budget.reserve / 2,
        )
        .then_some(slot)
    }

    /// Counts a new generation, whose client connection is already counted; `None` when what
    /// it needs (an upstream connection) would leave less than the reserve free.
    pub fn admit_generation(self: &Arc<Self>) -> Option<GenerationSlot> {
        let generations = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = GenerationSlot(Arc::clone(self));
        let connections = self.connections.load(Ordering::Relaxed);
        self.fits(self.in_use(connections, generations), self.budget.reserve)
            .then_some(slot)
    }
}

/// One open client connection in the count; released when dropped.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<Descriptors>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One accepted generation in the count; released when dropped, as its task ends.
#[derive(Debug)]
pub struct GenerationSlot(Arc<Descriptors>);

impl Drop for GenerationSlot {
    fn drop(&mut self) {
        self.0.generations.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: u64, max_upstream: u64) -> Arc<Descriptors> {
        Descriptors::new(Budget {
            limit,
            fixed: 10,
            reserve: 5,
            max_upstream,
            per_upstream: 1,
        })
    }

    #[test]
    fn generations_are_refused_while_the_reserve_is_still_free() {
        let descriptors = budget(25, 100);
        let mut held = Vec::new();
        // 10 fixed + 5 reserve leave 10: each generation costs its connection and an upstream.
        for _ in 0..5 {
            let connection = descriptors
                .accept_connection()
                .expect("room for a connection");
            let generation = descriptors
                .admit_generation()
                .expect("room for a generation");
            held.push((connection, generation));
        }
        // The first half of the reserve takes connections that are only told `503`.
        let told = descriptors.accept_connection().expect("room to be told no");
        assert!(
            descriptors.admit_generation().is_none(),
            "the generation would eat into the reserve"
        );
        // 21 in use: two more connections reach half the reserve (2 of 5), and no more.
        let also_told: Vec<_> = std::iter::from_fn(|| descriptors.accept_connection()).collect();
        assert_eq!(also_told.len(), 2, "the second half is the accepted work's");
        assert_eq!(
            descriptors.connections(),
            8,
            "a refused connection is not counted"
        );
        drop((told, also_told));
        held.pop();
        let _connection = descriptors.accept_connection().expect("room again");
        assert!(descriptors.admit_generation().is_some());
    }

    #[test]
    fn only_the_upstream_slots_hold_upstream_connections() {
        let descriptors = budget(25, 3);
        // 3 upstream slots: past them, a generation queues and costs no upstream socket yet.
        let generations: Vec<_> = (0..6)
            .map(|_| descriptors.admit_generation().expect("room"))
            .collect();
        let connections: Vec<_> = (0..7)
            .map(|_| descriptors.accept_connection().expect("room"))
            .collect();
        // 10 fixed + 7 connections + 3 upstream sockets: the reserve of 5 is all that is left.
        assert!(
            descriptors.admit_generation().is_some(),
            "queued: no new socket"
        );
        drop((generations, connections));
        assert_eq!(descriptors.connections(), 0);
    }
}
