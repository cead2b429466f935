//! Row-wise host operations of the packed trunk on contiguous f32 buffers: LayerNorm (SiLU is
//! fused into the kernel's store, `gemm::Epilogue`).

use crate::config::LAYER_NORM_EPS;

/// A LayerNorm's affine parameters on the host (eps [`LAYER_NORM_EPS`]).
#[derive(Debug, Clone)]
pub(crate) struct HostNorm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
}

impl HostNorm {
    /// Width of the normalised rows.
    pub(crate) fn width(&self) -> usize {
        self.gamma.len()
    }

    /// `out[r] = LN(x[r])` for `rows` rows of `width()` values; strides `ldx`, `ldo`. Compiled
    /// for AVX-512F where the CPU has it (the packed path's CPUs), so that the lane sums and the
    /// affine map run 16 lanes wide.
    pub(crate) fn forward(&self, x: &[f32], ldx: usize, rows: usize, out: &mut [f32], ldo: usize) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F detected just above.
            return unsafe { self.forward_avx512(x, ldx, rows, out, ldo) };
        }
        self.forward_rows(x, ldx, rows, out, ldo);
    }

    /// [`Self::forward_rows`] compiled with AVX-512F.
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(
        &self,
        x: &[f32],
        ldx: usize,
        rows: usize,
        out: &mut [f32],
        ldo: usize,
    ) {
        self.forward_rows(x, ldx, rows, out, ldo);
    }

    /// The rows of [`Self::forward`] (inlined into each caller's target features).
    #[inline(always)]
    fn forward_rows(&self, x: &[f32], ldx: usize, rows: usize, out: &mut [f32], ldo: usize) {
        let w = self.width();
        for r in 0..rows {
            let row = &x[r * ldx..r * ldx + w];
            let mean = lane_sum(row, |v| v) / w as f32;
            let var = lane_sum(row, |v| (v - mean) * (v - mean)) / w as f32;
            let inv = 1.0 / (var + LAYER_NORM_EPS as f32).sqrt();
            let o = &mut out[r * ldo..r * ldo + w];
            for (((o, &v), &g), &b) in o.iter_mut().zip(row).zip(&self.gamma).zip(&self.beta) {
                *o = (v - mean) * inv * g + b;
            }
        }
    }
}

/// Lanes of [`lane_sum`]'s partial sums (one AVX-512 vector).
const LANES: usize = 16;

/// `Σ f(v)` over `row`, summed in [`LANES`] interleaved partial sums (which the compiler keeps
/// in vector registers; a single running sum would wait on each add's latency).
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_has_zero_mean_unit_variance_before_the_affine_map() {
        let norm = HostNorm {
            gamma: vec![1.0; 4],
            beta: vec![0.0; 4],
        };
        let x = [1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 9.0, 9.0];
        let mut out = [0f32; 8];
        norm.forward(&x, 4, 2, &mut out, 4);
        let mean: f32 = out[..4].iter().sum::<f32>() / 4.0;
        let var: f32 = out[..4].iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4,
            "{mean} {var}"
        );
        assert!(out[4..].iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    fn layer_norm_matches_its_definition_over_lanes_and_a_tail() {
        // Width 37: two full lanes of partial sums and a tail of 5; an offset mean so that a
        // careless variance would show; gamma and beta not trivial.
        let w = 37;
        let norm = HostNorm {
            gamma: (0..w).map(|i| 0.5 + i as f32 * 0.03).collect(),
            beta: (0..w).map(|i| i as f32 * -0.01).collect(),
        };
        let x: Vec<f32> = (0..2 * w)
            .map(|i| 10.0 + ((i * 7 % 13) as f32) * 0.25)
            .collect();
        let mut out = vec![0f32; 2 * w];
        norm.forward(&x, w, 2, &mut out, w);
        for r in 0..2 {
            let row: Vec<f64> = x[r * w..(r + 1) * w]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let mean = row.iter().sum::<f64>() / w as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / w as f64;
            let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            for c in 0..w {
                let want =
                    (row[c] - mean) * inv * f64::from(norm.gamma[c]) + f64::from(norm.beta[c]);
                let got = f64::from(out[r * w + c]);
                assert!(
                    (got - want).abs() < 1e-5,
                    "row {r} col {c}: {got} vs {want}"
                );
            }
        }
    }
}
