//! The rotary position of the S variant over the rank index (Hugging Face
//! `LlamaRotaryEmbedding(dim = D, base = 10000)`, rotate-half form; reference notes §2.5).

use burn::prelude::*;

/// The base of the rotary frequencies.
pub const ROPE_BASE: f32 = 10_000.0;

/// `cos` and `sin` tables `[r, D]` for rank positions `k = 0..r`: `θ_k = k·inv_freq`,
/// `inv_freq_i = 1/10000^(2i/D)`, `emb = cat(θ, θ)`; computed in f32 as the reference does.
pub fn rope_tables<B: Backend>(
    rank: usize,
    dim: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let half = dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / ROPE_BASE.powf((2 * i) as f32 / dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(rank * dim);
    let mut sin = Vec::with_capacity(rank * dim);
    for k in 0..rank {
        for _ in 0..2 {
            for f in &inv_freq {
                let theta = k as f32 * f;
                cos.push(theta.cos());
                sin.push(theta.sin());
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [rank, dim]), device),
        Tensor::from_data(TensorData::new(sin, [rank, dim]), device),
    )
}

/// Rotates `x [rows, r, D]` by rank position: `x·cos + rotate_half(x)·sin` with
/// `rotate_half(x) = cat(-x[D/2:], x[:D/2])` and tables from [`rope_tables`].
pub fn apply_rope<B: Backend>(
    x: Tensor<B, 3>,
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [_, _, dim] = x.dims();
    let half = dim / 2;
    let rotated = Tensor::cat(
        vec![
            x.clone().narrow(2, half, dim - half).neg(),
            x.clone().narrow(2, 0, half),
        ],
        2,
    );
    x * cos.unsqueeze_dim(0) + rotated * sin.unsqueeze_dim(0)
}
