//! Wall-clock and process-CPU timing of repeated runs.

use std::time::Instant;

use serde::Serialize;

/// Statistics of repeated runs of one benchmark body (seconds per run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Timed runs (warm-up runs excluded).
    pub iters: usize,
    /// Fastest run.
    pub best_s: f64,
    /// Median run (the number rates are computed from).
    pub median_s: f64,
    /// Mean run.
    pub mean_s: f64,
    /// Process CPU time (all threads, user + system) per run, mean. On a loaded machine this is
    /// the robust number: it does not count time spent waiting for a core.
    pub cpu_s: f64,
}

impl Timing {
    /// Statistics of `wall` (seconds per run; at least one) and the total process CPU seconds
    /// `cpu_total` spent over those runs.
    ///
    /// ```
    /// let t = t2l_bench::Timing::from_samples(&[3.0, 1.0, 2.0], 3.0);
    /// assert_eq!((t.best_s, t.median_s, t.mean_s, t.cpu_s), (1.0, 2.0, 2.0, 1.0));
    /// ```
    pub fn from_samples(wall: &[f64], cpu_total: f64) -> Self {
        let mut sorted = wall.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len().max(1);
        let median = match sorted.len() {
            0 => f64::NAN,
            len if len % 2 == 1 => sorted[len / 2],
            len => 0.5 * (sorted[len / 2 - 1] + sorted[len / 2]),
        };
        Self {
            iters: wall.len(),
            best_s: sorted.first().copied().unwrap_or(f64::NAN),
            median_s: median,
            mean_s: sorted.iter().sum::<f64>() / n as f64,
            cpu_s: cpu_total / n as f64,
        }
    }
}

/// Runs `body` `warmup` times untimed, then `iters` times timed (wall clock and process CPU).
/// `body` must wait for its device work itself ([`crate::error::sync`]).
pub fn time_iters<E>(
    warmup: usize,
    iters: usize,
    mut body: impl FnMut() -> Result<(), E>,
) -> Result<Timing, E> {
    for _ in 0..warmup {
        body()?;
    }
    let mut wall = Vec::with_capacity(iters.max(1));
    let cpu0 = process_cpu_seconds();
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        body()?;
        wall.push(t.elapsed().as_secs_f64());
    }
    Ok(Timing::from_samples(&wall, process_cpu_seconds() - cpu0))
}

/// CPU time used by this process so far (all threads, `CLOCK_PROCESS_CPUTIME_ID`), in seconds
/// (the trainers' step profiler keeps the one implementation).
pub use trainers::step_profile::process_cpu_seconds;
