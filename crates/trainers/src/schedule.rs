//! The learning-rate schedule: linear warmup from 0, then linear decay to 0
//! (`transformers.get_scheduler("linear")`, reference §4.1).

/// Linear warmup then linear decay, computed from the step number alone (so a resumed run gets
/// exactly the same rates as an uninterrupted one).
///
/// ```
/// use trainers::schedule::LinearSchedule;
/// let s = LinearSchedule::new(1e-3, 2, 10);
/// assert_eq!(s.lr(0), 0.0);        // transformers starts warmup at 0
/// assert_eq!(s.lr(1), 0.5e-3);
/// assert_eq!(s.lr(2), 1e-3);       // peak
/// assert_eq!(s.lr(6), 0.5e-3);
/// assert_eq!(s.lr(10), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    /// The peak learning rate.
    pub peak: f64,
    /// Steps of linear warmup.
    pub warmup: usize,
    /// Total optimizer steps of the run.
    pub total: usize,
}

impl LinearSchedule {
    /// A schedule peaking at `peak` after `warmup` of `total` steps.
    pub fn new(peak: f64, warmup: usize, total: usize) -> Self {
        Self {
            peak,
            warmup: warmup.min(total),
            total,
        }
    }

    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        let factor = if step < self.warmup {
            step as f64 / self.warmup.max(1) as f64
        } else {
            let left = self.total.saturating_sub(step) as f64;
            left / (self.total - self.warmup).max(1) as f64
        };
        self.peak * factor.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_warmup_starts_at_peak_and_decays_to_zero() {
        let s = LinearSchedule::new(2.0, 0, 4);
        let lrs: Vec<f64> = (0..=4).map(|i| s.lr(i)).collect();
        assert_eq!(lrs, vec![2.0, 1.5, 1.0, 0.5, 0.0]);
        assert_eq!(s.lr(9), 0.0);
    }

    #[test]
    fn rises_then_falls_monotonically() {
        let s = LinearSchedule::new(1.0, 5, 20);
        for i in 0..5 {
            assert!(s.lr(i) < s.lr(i + 1));
        }
        for i in 5..20 {
            assert!(s.lr(i) > s.lr(i + 1));
        }
    }
}
