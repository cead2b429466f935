//! The heads of the packed path, laid out per variant so that the GEMMs write PEFT's layouts
//! (A `[r, d_in]`, B `[d_out, r]` per task-layer) with as little copying as the variant allows,
//! and compute only the output columns that reach the adapter.

use std::ops::Range;

use super::gemm::{PackedLinear, WeightStorage, panels_covering};
use crate::config::Variant;

/// One module's head, packed for its variant.
#[derive(Debug, Clone)]
pub(crate) enum PackedHead {
    /// L: the A outputs (`r·d_in`, rank-major) write A directly; the B outputs are packed with
    /// their rows permuted from `(rank, j)` to `(j, rank)`, so they write PEFT's `[d_out, r]`
    /// directly. Both read all `n·L` rows.
    Split {
        a: PackedLinear,
        b: PackedLinear,
        r: usize,
    },
    /// M: one head `[r·max(d_in, d_out)]` for the A rows and the B rows together (each panel of
    /// the weights is streamed once for every row that needs it, the heads being bound by
    /// memory bandwidth at these few rows), into a buffer that is then cut into A and B.
    Shared {
        w: PackedLinear,
        r: usize,
        d_in: usize,
        d_out: usize,
    },
    /// S: one rank row per GEMM row; the A head (first `d_in` outputs) writes A directly, the B
    /// head (first `d_out` outputs) writes rank rows that are transposed into `[d_out, r]`.
    PerRank {
        a: PackedLinear,
        b: PackedLinear,
        r: usize,
    },
}

/// Packs the rows `rows` of `weight [out, k]` (and of `bias`) as a new linear layer.
fn pack_rows(
    weight: &[f32],
    bias: Option<&[f32]>,
    k: usize,
    rows: &[usize],
    storage: WeightStorage,
) -> PackedLinear {
    let w: Vec<f32> = rows
        .iter()
        .flat_map(|&o| weight[o * k..(o + 1) * k].iter().copied())
        .collect();
    let b: Option<Vec<f32>> = bias.map(|b| rows.iter().map(|&o| b[o]).collect());
    PackedLinear::pack_as(&w, b.as_deref(), rows.len(), k, storage)
}

impl PackedHead {
    /// Packs a head `weight [out, k]` (PyTorch layout) and its bias for `variant`, the weights
    /// stored as `storage`.
    pub(crate) fn new(
        variant: Variant,
        weight: &[f32],
        bias: Option<&[f32]>,
        k: usize,
        r: usize,
        (d_in, d_out): (usize, usize),
        storage: WeightStorage,
    ) -> Self {
        match variant {
            Variant::L => {
                let a: Vec<usize> = (0..r * d_in).collect();
                let b: Vec<usize> = (0..d_out)
                    .flat_map(|j| (0..r).map(move |kr| r * d_in + kr * d_out + j))
                    .collect();
                Self::Split {
                    a: pack_rows(weight, bias, k, &a, storage),
                    b: pack_rows(weight, bias, k, &b, storage),
                    r,
                }
            }
            Variant::M => Self::Shared {
                w: PackedLinear::pack_as(weight, bias, r * d_in.max(d_out), k, storage),
                r,
                d_in,
                d_out,
            },
            Variant::S => Self::PerRank {
                a: pack_rows(weight, bias, k, &(0..d_in).collect::<Vec<_>>(), storage),
                b: pack_rows(weight, bias, k, &(0..d_out).collect::<Vec<_>>(), storage),
                r,
            },
        }
    }

    /// The head on its trunk rows `x` (stride `ldx`; `nl` task-layers) → A `[nl, r, d_in]` and
    /// B `[nl, d_out, r]`, flat.
    pub(crate) fn apply(
        &self,
        x: &[f32],
        ldx: usize,
        nl: usize,
        (d_in, d_out): (usize, usize),
        threads: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let all = |w: &PackedLinear, rows: Range<usize>| -> Vec<(usize, Range<usize>)> {
            (0..w.n_panels()).map(|p| (p, rows.clone())).collect()
        };
        match self {
            Self::Split { a, b, r } => {
                let r = *r;
                let mut ya = vec![0f32; nl * r * d_in];
                let mut yb = vec![0f32; nl * d_out * r];
                a.forward_work(x, ldx, &mut ya, r * d_in, &all(a, 0..nl), threads);
                b.forward_work(x, ldx, &mut yb, d_out * r, &all(b, 0..nl), threads);
                (ya, yb)
            }
            Self::Shared { w, r, d_in, d_out } => {
                shared(w, x, ldx, nl, (*r, *d_in, *d_out), threads)
            }
            Self::PerRank { a, b, r } => {
                let rows = nl * r;
                let mut ya = vec![0f32; rows * d_in];
                a.forward_work(x, ldx, &mut ya, d_in, &all(a, 0..rows), threads);
                let mut tmp = vec![0f32; rows * d_out];
                let xb = &x[rows * ldx..];
                b.forward_work(xb, ldx, &mut tmp, d_out, &all(b, 0..rows), threads);
                let mut yb = vec![0f32; nl * d_out * r];
                for (bt, tt) in yb
                    .chunks_exact_mut(d_out * r)
                    .zip(tmp.chunks_exact(r * d_out))
                {
                    for (kr, row) in tt.chunks_exact(d_out).enumerate() {
                        for (j, v) in row.iter().enumerate() {
                            bt[j * r + kr] = *v;
                        }
                    }
                }
                (ya, yb)
            }
        }
    }
}

/// M: rows `[A rows (nl) | B rows (nl)]`, one GEMM piece per needed panel over the rows that
/// need it, then each rank row cut to `d_in` (A) or `d_out` (B, transposed to `[d_out, r]`).
fn shared(
    w: &PackedLinear,
    x: &[f32],
    ldx: usize,
    nl: usize,
    (r, d_in, d_out): (usize, usize, usize),
    threads: usize,
) -> (Vec<f32>, Vec<f32>) {
    let wide = d_in.max(d_out);
    let n = w.n_panels();
    let pa = panels_covering((0..r).map(|k| k * wide..k * wide + d_in), n);
    let pb = panels_covering((0..r).map(|k| k * wide..k * wide + d_out), n);
    let work: Vec<(usize, Range<usize>)> = (0..n)
        .filter_map(
            |p| match (pa.binary_search(&p).is_ok(), pb.binary_search(&p).is_ok()) {
                (true, true) => Some((p, 0..2 * nl)),
                (true, false) => Some((p, 0..nl)),
                (false, true) => Some((p, nl..2 * nl)),
                (false, false) => None,
            },
        )
        .collect();
    let ldy = r * wide;
    let mut y = vec![0f32; 2 * nl * ldy];
    w.forward_work(x, ldx, &mut y, ldy, &work, threads);
    let mut a = vec![0f32; nl * r * d_in];
    let mut b = vec![0f32; nl * d_out * r];
    for t in 0..nl {
        let (ya, yb) = (
            &y[t * ldy..(t + 1) * ldy],
            &y[(nl + t) * ldy..(nl + t + 1) * ldy],
        );
        let bt = &mut b[t * d_out * r..(t + 1) * d_out * r];
        for kr in 0..r {
            a[(t * r + kr) * d_in..(t * r + kr + 1) * d_in]
                .copy_from_slice(&ya[kr * wide..kr * wide + d_in]);
            for (j, v) in yb[kr * wide..kr * wide + d_out].iter().enumerate() {
                bt[j * r + kr] = *v;
            }
        }
    }
    (a, b)
}
