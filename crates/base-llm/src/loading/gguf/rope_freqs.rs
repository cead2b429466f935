//! Llama-3 rotary scaling recovered from the `rope_freqs.weight` tensor llama.cpp writes.
//!
//! llama.cpp's converter stores Llama-3 scaling not as parameters but as one divisor per rotary
//! frequency (`rope_freqs.weight`, `[head_dim / 2]`). This module finds the Hugging Face
//! `rope_scaling` parameters that give exactly those divisors, so the model's own rotary tables
//! ([`inverse_frequencies`]) reproduce them.

use crate::config::RopeScaling;
use crate::model::rope::inverse_frequencies;

/// Original context lengths tried (Llama 3.1 / 3.2 use 8192).
const ORIGINAL_CONTEXTS: [usize; 6] = [2048, 4096, 8192, 16384, 32768, 65536];
/// `(low_freq_factor, high_freq_factor)` pairs tried (Llama 3.1 / 3.2 use (1, 4)).
const FREQ_FACTORS: [(f64, f64); 4] = [(1.0, 4.0), (1.0, 2.0), (2.0, 4.0), (1.0, 8.0)];
/// Relative tolerance on each divisor (they are stored as f32).
const TOLERANCE: f64 = 1e-5;

/// The divisor of each rotary frequency under `scaling` (1 for unscaled frequencies).
pub fn rope_factors(head_dim: usize, theta: f64, scaling: &RopeScaling) -> Vec<f64> {
    let base = inverse_frequencies(head_dim, theta, None);
    let scaled = inverse_frequencies(head_dim, theta, Some(scaling));
    base.iter().zip(&scaled).map(|(b, s)| b / s).collect()
}

/// The Llama-3 scaling whose divisors equal `factors` (within 1e-5 relative), trying the
/// published parameter sets with `factor = max(factors)`.
///
/// Returns `Some(None)` when every divisor is 1 (no scaling), `Some(Some(scaling))` for the
/// parameters that fit, and `None` when no candidate fits.
pub fn scaling_from_factors(
    factors: &[f32],
    head_dim: usize,
    theta: f64,
) -> Option<Option<RopeScaling>> {
    if factors.len() != head_dim / 2 || factors.iter().any(|f| !f.is_finite() || *f <= 0.0) {
        return None;
    }
    if factors.iter().all(|&f| f == 1.0) {
        return Some(None);
    }
    let factor = factors.iter().fold(0f32, |m, &f| m.max(f)) as f64;
    for &original in &ORIGINAL_CONTEXTS {
        for &(low, high) in &FREQ_FACTORS {
            let s = RopeScaling {
                factor,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_position_embeddings: original,
            };
            let fits = rope_factors(head_dim, theta, &s)
                .iter()
                .zip(factors)
                .all(|(want, &got)| (want - got as f64).abs() <= TOLERANCE * want.abs());
            if fits {
                return Some(Some(s));
            }
        }
    }
    None
}
