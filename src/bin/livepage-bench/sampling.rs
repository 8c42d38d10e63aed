//! Watching processes while streams run: their usage sampled from `/proc` next to the client's
//! counters, and the *steady window* of a run — the samples during which every stream was open,
//! so that starting generations (a database insert each) and finishing them (sanitize and save)
//! do not blur what relaying costs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hdrhistogram::Histogram;
use livepage::mock::stamp;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::Counters;
use crate::process::{Probe, Usage};

/// How often the processes are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// One look at the processes and the client counters.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// When it was taken, on the clock of the mock's stamps (`livepage::mock::stamp`).
    pub at_us: u64,
    /// The usage of each probed process, in the order the probes were given.
    pub usage: Vec<Usage>,
    /// Deltas the client has received so far, all streams together.
    pub deltas: u64,
    /// Streams open at that moment.
    pub open: usize,
}

/// Samples processes every [`SAMPLE_EVERY`] until stopped.
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Starts sampling `probes` and `counters`. A look at which any probe fails is skipped.
    pub fn start(probes: Vec<Probe>, counters: &Arc<Counters>) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let counters = Arc::clone(counters);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => return samples,
                    _ = ticks.tick() => {}
                }
                let usage: Result<Vec<Usage>, _> = probes.iter().map(Probe::usage).collect();
                if let Ok(usage) = usage {
                    samples.push(Sample {
                        at_us: stamp::now(),
                        usage,
                        deltas: counters.deltas.load(Ordering::Relaxed),
                        open: counters.open.load(Ordering::Relaxed),
                    });
                }
            }
        });
        Self { stop, task }
    }

    /// Stops sampling and returns the samples taken.
    pub async fn stop(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// The first and last sample of the longest stretch during which every stream was open.
pub fn steady_window(samples: &[Sample], streams: usize) -> Option<(&Sample, &Sample)> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = None;
    for (i, sample) in samples.iter().enumerate() {
        match (sample.open >= streams, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                best = longer(best, (s, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        best = longer(best, (s, samples.len() - 1));
    }
    best.filter(|(a, b)| b > a)
        .map(|(a, b)| (&samples[a], &samples[b]))
}

fn longer(best: Option<(usize, usize)>, candidate: (usize, usize)) -> Option<(usize, usize)> {
    match best {
        Some(best) if best.1 - best.0 >= candidate.1 - candidate.0 => Some(best),
        _ => Some(candidate),
    }
}

/// The steady window on the stamp clock, to pick out the deltas received in it.
pub fn stamp_window((a, b): (&Sample, &Sample)) -> (u64, u64) {
    (a.at_us, b.at_us)
}

/// CPU seconds of probe `probe` per 100,000 deltas between samples `a` and `b`.
pub fn cpu_per_100k_between(a: &Sample, b: &Sample, probe: usize) -> Option<f64> {
    let (before, after) = (a.usage.get(probe)?, b.usage.get(probe)?);
    per_100k(after.cpu_seconds - before.cpu_seconds, b.deltas - a.deltas)
}

pub fn per_100k(cpu_seconds: f64, deltas: u64) -> Option<f64> {
    (deltas > 0).then(|| cpu_seconds * 100_000.0 / deltas as f64)
}

/// A histogram of microseconds, up to ten minutes.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10 * 60 * 1_000_000, 3).expect("static histogram bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(open: usize, deltas: u64, cpu_seconds: f64) -> Sample {
        Sample {
            at_us: 0,
            usage: vec![Usage {
                cpu_seconds,
                ..Usage::default()
            }],
            deltas,
            open,
        }
    }

    #[test]
    fn the_steady_window_is_the_longest_stretch_with_every_stream_open() {
        let samples = [
            sample(1, 0, 0.0),
            sample(3, 10, 0.0),
            sample(3, 20, 0.0),
            sample(2, 25, 0.0),
            sample(3, 30, 0.0),
            sample(3, 40, 0.0),
            sample(3, 50, 0.0),
            sample(0, 60, 0.0),
        ];
        let (a, b) = steady_window(&samples, 3).unwrap();
        assert_eq!((a.deltas, b.deltas), (30, 50));
        assert!(
            steady_window(&samples[..2], 3).is_none(),
            "one sample is no window"
        );
    }

    #[test]
    fn cpu_is_counted_per_100k_deltas_of_the_window() {
        let (a, b) = (sample(3, 100_000, 1.0), sample(3, 300_000, 2.5));
        assert_eq!(cpu_per_100k_between(&a, &b, 0), Some(0.75));
        assert_eq!(cpu_per_100k_between(&a, &b, 1), None, "no such probe");
        assert_eq!(cpu_per_100k_between(&a, &a, 0), None, "no deltas");
    }
}
