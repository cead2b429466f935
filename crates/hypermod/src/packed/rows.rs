//! Row-wise host operations of the packed trunk on contiguous f32 buffers: LayerNorm and SiLU
//! (with a vectorisable `exp`, compiled for AVX-512 where the packed path runs).

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

    /// `out[r] = LN(x[r])` for `rows` rows of `width()` values; strides `ldx`, `ldo`.
    pub(crate) fn forward(&self, x: &[f32], ldx: usize, rows: usize, out: &mut [f32], ldo: usize) {
        let w = self.width();
        for r in 0..rows {
            let row = &x[r * ldx..r * ldx + w];
            let mean = row.iter().sum::<f32>() / w as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / w as f32;
            let inv = 1.0 / (var + LAYER_NORM_EPS as f32).sqrt();
            let o = &mut out[r * ldo..r * ldo + w];
            for (((o, &v), &g), &b) in o.iter_mut().zip(row).zip(&self.gamma).zip(&self.beta) {
                *o = (v - mean) * inv * g + b;
            }
        }
    }
}

/// `x ← x·sigmoid(x)` for every value (relative error of the `exp` below ≈ 1e-7).
pub(crate) fn silu_in_place(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { silu_avx512(x) };
            return;
        }
    }
    silu_portable(x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_avx512(x: &mut [f32]) {
    silu_portable(x);
}

#[inline(always)]
fn silu_portable(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v /= 1.0 + exp(-*v);
    }
}

/// `e^x` in f32 (Cephes `expf`: range reduction by ln 2, degree-5 polynomial; inputs clamped to
/// ±88, where f32 saturates anyway), written branch-free so that loops over it vectorise.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_a_few_ulps() {
        let mut worst = 0f32;
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.013;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn silu_matches_its_definition() {
        let mut v: Vec<f32> = (-200..200).map(|i| i as f32 * 0.37).collect();
        let want: Vec<f32> = v.iter().map(|x| x / (1.0 + (-x).exp())).collect();
        silu_in_place(&mut v);
        for (a, b) in v.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

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
}
