//! Rotary position embeddings in Hugging Face's rotate-half layout, with optional Llama-3 scaling.

use burn::prelude::*;

use crate::config::{LlamaConfig, RopeScaling};

/// The inverse frequencies `1 / θ^(2i/d)` for `i < d/2`, scaled as Llama-3 prescribes when
/// `scaling` is set (`transformers`' `_compute_llama3_parameters`).
pub fn inverse_frequencies(head_dim: usize, theta: f64, scaling: Option<&RopeScaling>) -> Vec<f64> {
    let half = head_dim / 2;
    let base: Vec<f64> = (0..half)
        .map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64))
        .collect();
    let Some(s) = scaling else {
        return base;
    };
    let old_len = s.original_max_position_embeddings as f64;
    let low_freq_wavelen = old_len / s.low_freq_factor;
    let high_freq_wavelen = old_len / s.high_freq_factor;
    base.into_iter()
        .map(|f| {
            let wavelen = 2.0 * std::f64::consts::PI / f;
            if wavelen < high_freq_wavelen {
                f
            } else if wavelen > low_freq_wavelen {
                f / s.factor
            } else {
                let smooth = (old_len / wavelen - s.low_freq_factor)
                    / (s.high_freq_factor - s.low_freq_factor);
                (1.0 - smooth) * f / s.factor + smooth * f
            }
        })
        .collect()
}

/// Precomputed `cos` and `sin` tables `[max_positions, head_dim]` (each frequency repeated for
/// both halves, as `transformers` builds `emb = cat(freqs, freqs)`). The `sin` table carries the
/// sign of `rotate_half` (negative in the first half), see [`apply_rotary`].
#[derive(Module, Debug)]
pub struct RotaryTables<B: Backend> {
    /// `cos(p · f)` per position and dimension.
    pub cos: Tensor<B, 2>,
    /// `∓sin(p · f)` per position and dimension: `-sin` in the first half, `+sin` in the second.
    pub sin: Tensor<B, 2>,
}

impl<B: Backend> RotaryTables<B> {
    /// Tables for every position below `config.max_position_embeddings`.
    pub fn new(config: &LlamaConfig, device: &B::Device) -> Self {
        let d = config.head_dim;
        let n = config.max_position_embeddings;
        let inv = inverse_frequencies(d, config.rope_theta, config.rope_scaling.as_ref());
        let mut cos = Vec::with_capacity(n * d);
        let mut sin = Vec::with_capacity(n * d);
        for p in 0..n {
            for sign in [-1.0f32, 1.0] {
                for f in &inv {
                    // transformers multiplies in f32: position (f32) times inv_freq (f32).
                    let angle = (p as f32 * *f as f32) as f64;
                    cos.push(angle.cos() as f32);
                    sin.push(sign * angle.sin() as f32);
                }
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [n, d]), device),
            sin: Tensor::from_data(TensorData::new(sin, [n, d]), device),
        }
    }

    /// `cos`/`sin` for the given positions `[batch, seq]`, materialised as
    /// `[batch, seq, heads, head_dim]` (the layout the projections produce, so that the rotary
    /// products are contiguous element-wise passes) and multiplied by `scale` (attention folds
    /// its `1/√head_dim` into the query tables).
    pub fn gather(
        &self,
        positions: Tensor<B, 2, Int>,
        heads: usize,
        scale: f64,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [b, s] = positions.dims();
        let d = self.cos.dims()[1];
        let flat = positions.reshape([b * s]);
        let cos = self
            .cos
            .clone()
            .select(0, flat.clone())
            .reshape([b, s, 1, d]);
        let sin = self.sin.clone().select(0, flat).reshape([b, s, 1, d]);
        let (cos, sin) = if scale == 1.0 {
            (cos, sin)
        } else {
            (cos.mul_scalar(scale), sin.mul_scalar(scale))
        };
        (cos.repeat_dim(2, heads), sin.repeat_dim(2, heads))
    }
}

/// The `[head_dim, head_dim]` permutation `P` with `x · P = cat(x₂, x₁)` (the two halves of the
/// head dimension swapped), so that `rotate_half(x) · sin_signed = (x · P) · sin_signed`.
pub fn half_swap<B: Backend>(head_dim: usize, device: &B::Device) -> Tensor<B, 2> {
    let half = head_dim / 2;
    let mut p = vec![0f32; head_dim * head_dim];
    for j in 0..head_dim {
        // output column j takes input row (j + half) mod d
        let i = (j + half) % head_dim;
        p[i * head_dim + j] = 1.0;
    }
    Tensor::from_data(TensorData::new(p, [head_dim, head_dim]), device)
}

/// Applies the rotation to `x [batch, seq, heads, head_dim]`: `x·cos + rotate_half(x)·sin`, where
/// `rotate_half(x) = cat(-x₂, x₁)` over the two halves of the head dimension. `sin_signed` is the
/// table of [`RotaryTables`] (sign folded in) and `swap` is [`half_swap`], so this computes
/// `x·cos + (x·P)·sin_signed`: the half swap is one small matrix product, which autodiff
/// differentiates without the zero-filled slice gradients that slicing and concatenating cost.
pub fn apply_rotary<B: Backend>(
    x: Tensor<B, 4>,
    cos: Tensor<B, 4>,
    sin_signed: Tensor<B, 4>,
    swap: Tensor<B, 2>,
) -> Tensor<B, 4> {
    let [b, s, h, d] = x.dims();
    let swapped = x
        .clone()
        .reshape([b * s * h, d])
        .matmul(swap)
        .reshape([b, s, h, d]);
    x * cos + swapped * sin_signed
}
