//! Sanitizing off the async runtime, on a few threads of its own that yield to the relay.
//!
//! Sanitizing a page costs milliseconds of CPU; relaying a delta costs microseconds but must
//! not wait. When many generations end together (every stream of a burst started in the same
//! second), their pages would all be sanitized at once: on tokio's blocking pool that is one
//! runnable thread per page, hundreds of them sharing the cores fairly with the runtime's few
//! workers, and every stream still open stalls for hundreds of milliseconds. So pages go to a
//! pool with one thread per core, in the order they come, and those threads run at a lower
//! scheduling priority (nice [`NICENESS`]): when the cores are busy the relay runs first, and
//! when they are not, sanitizing has them all.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use thread_priority::{ThreadPriority, ThreadPriorityValue};
use tokio::sync::oneshot;

use super::Sanitizer;

/// The nice value of the pool's threads: a tenth of the CPU share of a normal thread when they
/// compete, never starved.
const NICENESS: i32 = 10;

/// The [`ThreadPriority::Crossplatform`] value that `thread_priority` maps to [`NICENESS`]
/// (it spreads 0..=99 linearly over nice 19..=-20).
const PRIORITY: u8 = 22;

/// A job on the pool panicked; the pool itself goes on.
#[derive(Debug, thiserror::Error)]
#[error("the sanitizer panicked")]
pub struct Panicked;

/// The [`Sanitizer`] and the threads it runs on.
#[derive(Debug)]
pub struct SanitizerPool {
    sanitizer: Arc<Sanitizer>,
    threads: rayon::ThreadPool,
}

impl SanitizerPool {
    /// One low-priority thread per core (at least one).
    pub fn new(sanitizer: Sanitizer) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_threads(sanitizer, cores)
    }

    pub fn with_threads(sanitizer: Sanitizer, threads: usize) -> std::io::Result<Self> {
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|n| format!("sanitize-{n}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            sanitizer: Arc::new(sanitizer),
            threads,
        })
    }

    pub fn sanitizer(&self) -> &Sanitizer {
        &self.sanitizer
    }

    /// Runs `job` on the pool after the jobs queued before it, and resolves to its result.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Panicked>
    where
        T: Send + 'static,
        F: FnOnce(&Sanitizer) -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let sanitizer = Arc::clone(&self.sanitizer);
        self.threads.spawn_fifo(move || {
            // The receiver is gone when the generation was dropped meanwhile; nobody to tell.
            let _ = done.send(catch_unwind(AssertUnwindSafe(|| job(&sanitizer))));
        });
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) | Err(_) => Err(Panicked),
        }
    }

    /// Runs `job` on the pool without waiting for it; a panic is logged.
    pub fn spawn<F>(&self, job: F)
    where
        F: FnOnce(&Sanitizer) + Send + 'static,
    {
        let sanitizer = Arc::clone(&self.sanitizer);
        self.threads.spawn_fifo(move || {
            if catch_unwind(AssertUnwindSafe(|| job(&sanitizer))).is_err() {
                tracing::error!("the sanitizer panicked");
            }
        });
    }
}

/// Sets the calling thread's nice value to [`NICENESS`] (a lower priority than the usual 0). Lowering a
/// priority needs no privilege, raising one does: in a process already started at a nice value
/// above it, this fails; the pool then works at the process's priority, without yielding to
/// the relay, which is worth a warning rather than a refusal to start.
fn lower_priority() {
    let priority = ThreadPriorityValue::try_from(PRIORITY).expect("0..=99");
    if let Err(error) =
        thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(priority))
    {
        tracing::warn!(
            ?error,
            niceness = NICENESS,
            "could not lower the sanitizer threads' priority"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::Styles;

    fn pool() -> SanitizerPool {
        SanitizerPool::with_threads(Sanitizer::new(Styles::Compiled), 2).unwrap()
    }

    #[tokio::test]
    async fn sanitizes_as_the_sanitizer_does() {
        let raw = "<h1 class=\"text-red-600\" onclick=\"x()\">Bread</h1><script>x()</script>";
        let pool = pool();
        let html = pool.run(move |s| s.sanitize(raw)).await.unwrap();
        assert_eq!(html, pool.sanitizer().sanitize(raw));
        assert!(!html.as_str().contains("onclick") && !html.as_str().contains("<script"));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        let pool = pool();
        let panicked = pool.run(|_| -> u8 { panic!("boom") }).await;
        assert!(panicked.is_err());
        assert_eq!(pool.run(|_| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn its_threads_run_at_the_lower_priority() {
        let nice = pool()
            .run(|_| {
                let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
                // Field 19 is the nice value; the fields after the `)` of the name start at 3.
                let after_name = &stat[stat.rfind(')').unwrap() + 2..];
                after_name
                    .split(' ')
                    .nth(16)
                    .unwrap()
                    .parse::<i32>()
                    .unwrap()
            })
            .await
            .unwrap();
        assert_eq!(nice, NICENESS);
    }

    #[tokio::test]
    async fn spawned_jobs_run() {
        let pool = pool();
        let (done, ran) = oneshot::channel();
        pool.spawn(move |s| {
            let _ = done.send(s.sanitize("<p>x</p>").title().to_owned());
        });
        assert_eq!(ran.await.unwrap(), "Untitled page");
    }
}
