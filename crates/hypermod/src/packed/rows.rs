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

    /// `out = LN(x)` for `rows` rows of `width()` values, dense (stride `width()`) or, with
    /// `grouped`, in groups of 8 rows `[width, 8]` each (`rows` a multiple of 8), `out` laid
    /// out as `x`.
    pub(crate) fn forward_laid_out(&self, x: &[f32], rows: usize, out: &mut [f32], grouped: bool) {
        let w = self.width();
        if !grouped {
            return self.forward(x, w, rows, out, w);
        }
        assert!(rows.is_multiple_of(8) && x.len() >= rows * w && out.len() >= rows * w);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F detected just above.
            return unsafe { self.grouped_avx512(x, rows, out) };
        }
        self.grouped(x, rows, out);
    }

    /// [`Self::grouped`] compiled with AVX-512F.
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn grouped_avx512(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        self.grouped(x, rows, out);
    }

    /// The grouped rows of [`Self::forward_laid_out`]: each group's 8 rows side by side in
    /// the lanes (value `c` of row `j` at `c·8 + j`), so mean, variance and the affine map run
    /// over all 8 rows at once, with [`PARTIALS`] interleaved partial sums per row.
    #[inline(always)]
    fn grouped(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        let w = self.width();
        for (g, o) in x
            .chunks_exact(8 * w)
            .zip(out.chunks_exact_mut(8 * w))
            .take(rows / 8)
        {
            let mean = group_sums(g, |_, v| v).map(|s| s / w as f32);
            let var = group_sums(g, |j, v| (v - mean[j]) * (v - mean[j])).map(|s| s / w as f32);
            let inv = var.map(|v| 1.0 / (v + LAYER_NORM_EPS as f32).sqrt());
            for (c, (o, col)) in o.chunks_exact_mut(8).zip(g.chunks_exact(8)).enumerate() {
                let (gc, bc) = (self.gamma[c], self.beta[c]);
                for j in 0..8 {
                    o[j] = (col[j] - mean[j]) * inv[j] * gc + bc;
                }
            }
        }
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

/// Interleaved partial sums per row of a grouped LayerNorm (`HostNorm::forward_laid_out`).
const PARTIALS: usize = 4;

/// `Σ f(j, v)` per row `j` of a group of 8 rows `[width, 8]`, in [`PARTIALS`] interleaved
/// partial sums per row (vector registers of 8 lanes, one row each).
#[inline(always)]
fn group_sums(group: &[f32], f: impl Fn(usize, f32) -> f32) -> [f32; 8] {
    let mut acc = [[0f32; 8]; PARTIALS];
    for (c, col) in group.chunks_exact(8).enumerate() {
        for (j, (a, &v)) in acc[c % PARTIALS].iter_mut().zip(col).enumerate() {
            *a += f(j, v);
        }
    }
    std::array::from_fn(|j| acc.iter().map(|a| a[j]).sum())
}

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
    use crate::packed::grouped_layout::{at, grouped};

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
    fn grouped_layer_norm_equals_the_dense_one_row_by_row() {
        // 16 rows (2 groups of 8) of width 37 (not a multiple of the partial sums), each row
        // with its own offset and spread.
        let (w, rows) = (37, 16);
        let norm = HostNorm {
            gamma: (0..w).map(|i| 0.5 + i as f32 * 0.03).collect(),
            beta: (0..w).map(|i| i as f32 * -0.01).collect(),
        };
        let x: Vec<f32> = (0..rows * w)
            .map(|i| (i / w) as f32 + ((i * 7 % 13) as f32) * 0.05 * (1 + i / w) as f32)
            .collect();
        let x_grouped = grouped(&x, w);
        let (mut dense_out, mut grouped_out) = (vec![0f32; rows * w], vec![0f32; rows * w]);
        norm.forward_laid_out(&x, rows, &mut dense_out, false);
        norm.forward_laid_out(&x_grouped, rows, &mut grouped_out, true);
        for r in 0..rows {
            for c in 0..w {
                let (d, g) = (dense_out[r * w + c], grouped_out[at(r, c, w)]);
                assert!((d - g).abs() < 1e-5, "row {r} col {c}: {g} vs {d}");
            }
        }
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
