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
}
