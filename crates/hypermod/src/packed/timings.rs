//! Where the wall time of one packed generation goes.

use std::time::Duration;

/// The wall time of one [`crate::HyperModulator::generate_packed_timed`] call by phase. The
/// heads are the cost the speed criterion counts (the head GEMMs: `2 · rows · H · out` FLOPs per
/// module); the trunk and the finish are what the generation adds around them.
///
/// ```
/// use std::time::Duration;
/// use hypermod::packed::PackedTimings;
/// let t = PackedTimings {
///     trunk: Duration::from_micros(350),
///     heads: Duration::from_micros(11_200),
///     finish: Duration::from_micros(40),
/// };
/// assert_eq!(t.total(), Duration::from_micros(11_590));
/// // The heads' achieved rate for Mistral-7B L (3.49 GFLOP): about 312 GFLOP/s.
/// assert_eq!((t.head_gflops(3_489_660_928) as u32), 311);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackedTimings {
    /// The task embeddings brought to the host and the trunk (task encoder, mixer, `mlp1`–`mlp3`,
    /// A/B embeddings, S's rotary rows): every head input row.
    pub trunk: Duration,
    /// The head GEMMs of every module, with their stores into PEFT's A and B layouts.
    pub heads: Duration,
    /// The adapters built on the embeddings' device and post-processed (z-score stacks,
    /// ΔW scaling, A/B offset where configured).
    pub finish: Duration,
}

impl PackedTimings {
    /// The whole generation: `trunk + heads + finish`.
    pub fn total(&self) -> Duration {
        self.trunk + self.heads + self.finish
    }

    /// The heads' rate in GFLOP/s for `head_flops` FLOPs (0 when no time was measured).
    pub fn head_gflops(&self, head_flops: u64) -> f64 {
        let s = self.heads.as_secs_f64();
        if s > 0.0 {
            head_flops as f64 / s / 1e9
        } else {
            0.0
        }
    }
}
