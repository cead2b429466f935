//! Cosine similarity between adapters (the paper's Fig. 4 / Fig. 6 analysis).

use burn::prelude::*;

use crate::adapter::{LoraAdapter, LoraWeights};
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
        dot += sx * sy * delta_w_inner(fx, fy);
        nx += sx * sx * delta_w_inner(fx, fx);
        ny += sy * sy * delta_w_inner(fy, fy);
    }
    Ok(cosine(dot, nx, ny))
}

/// `Σ_l ⟨B₁A₁, B₂A₂⟩_F` over the layers of one module, without forming ΔW (unscaled).
fn delta_w_inner<B: Backend>(x: &LoraWeights<B>, y: &LoraWeights<B>) -> f64 {
    let bb = x.b.clone().swap_dims(1, 2).matmul(y.b.clone()); // [L, r, r]
    let aa = x.a.clone().matmul(y.a.clone().swap_dims(1, 2)); // [L, r, r]
    sum_f64(bb * aa)
}

/// Frobenius norm of one module's update over all its layers: `‖[ΔW_0, …, ΔW_{L-1}]‖_F`
/// (with scaling), computed without forming ΔW.
pub fn delta_w_norm<B: Backend>(adapter: &LoraAdapter<B>, module: &str) -> Result<f64> {
    let w = adapter
        .module(module)
        .ok_or_else(|| crate::error::Error::UnknownModule(module.to_string()))?;
    Ok(adapter.scaling().abs() * delta_w_inner(w, w).max(0.0).sqrt())
}

/// Frobenius norm of a tensor.
pub fn frobenius_norm<B: Backend, const D: usize>(t: &Tensor<B, D>) -> f64 {
    sum_f64(t.clone().powi_scalar(2)).sqrt()
}

fn cosine(dot: f64, nx: f64, ny: f64) -> f64 {
    let denom = (nx.max(0.0).sqrt()) * (ny.max(0.0).sqrt());
    if denom == 0.0 { 0.0 } else { dot / denom }
}
