//! Cosine similarity between adapters (the paper's Fig. 4 / Fig. 6 analysis).

use burn::prelude::*;

use crate::adapter::LoraAdapter;
use crate::combine::check_compatible;
use crate::error::Result;

fn sum_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> f64 {
    t.sum().into_scalar().elem::<f64>()
}

/// Cosine similarity of the two adapters' flattened parameters: all A and B entries of all
/// modules and layers concatenated into one vector each.
pub fn cosine_similarity_ab<B: Backend>(x: &LoraAdapter<B>, y: &LoraAdapter<B>) -> Result<f64> {
    check_compatible(x, y)?;
    let (mut dot, mut nx, mut ny) = (0.0, 0.0, 0.0);
    for (name, fx) in x.modules() {
        let fy = y.module(name).expect("compatible adapters share modules");
        for (p, q) in [(&fx.a, &fy.a), (&fx.b, &fy.b)] {
            dot += sum_f64(p.clone() * q.clone());
            nx += sum_f64(p.clone().powi_scalar(2));
            ny += sum_f64(q.clone().powi_scalar(2));
        }
    }
    Ok(cosine(dot, nx, ny))
}

/// Cosine similarity of the two adapters' weight updates: all `ΔW = s·B·A` of all modules and
/// layers concatenated into one vector each.
///
/// Computed exactly without forming `ΔW`: `⟨B₁A₁, B₂A₂⟩_F = Σ (B₁ᵀB₂) ⊙ (A₁A₂ᵀ)` over `r × r`
/// matrices, so it costs `O(L·r²·(d_in + d_out))` even at 7B shapes.
pub fn cosine_similarity_delta_w<B: Backend>(
    x: &LoraAdapter<B>,
    y: &LoraAdapter<B>,
) -> Result<f64> {
    check_compatible(x, y)?;
    let (sx, sy) = (x.scaling(), y.scaling());
    let (mut dot, mut nx, mut ny) = (0.0, 0.0, 0.0);
    for (name, fx) in x.modules() {
        let fy = y.module(name).expect("compatible adapters share modules");
        let inner = |a1: &Tensor<B, 3>, b1: &Tensor<B, 3>, a2: &Tensor<B, 3>, b2: &Tensor<B, 3>| {
            let bb = b1.clone().swap_dims(1, 2).matmul(b2.clone()); // [L, r, r]
            let aa = a1.clone().matmul(a2.clone().swap_dims(1, 2)); // [L, r, r]
            sum_f64(bb * aa)
        };
        dot += sx * sy * inner(&fx.a, &fx.b, &fy.a, &fy.b);
        nx += sx * sx * inner(&fx.a, &fx.b, &fx.a, &fx.b);
        ny += sy * sy * inner(&fy.a, &fy.b, &fy.a, &fy.b);
    }
    Ok(cosine(dot, nx, ny))
}

fn cosine(dot: f64, nx: f64, ny: f64) -> f64 {
    let denom = (nx.max(0.0).sqrt()) * (ny.max(0.0).sqrt());
    if denom == 0.0 { 0.0 } else { dot / denom }
}
