//! Grouped-query self-attention with rotate-half RoPE and an optional KV cache.
//!
//! Written for cheap autodiff on CPU backends: the projections stay in their `[batch, seq,
//! heads, head_dim]` layout (the rotary products are contiguous element-wise passes), the
//! query heads that share a key/value head attend through one broadcast batched product (no
//! repeated K/V, no copy of the queries), the `1/√head_dim` scale is folded into the query's
//! rotary tables, the mask is an additive bias built once per forward, and the softmax takes
//! its normaliser as a reciprocal, so that backward needs few full-size passes over the scores.

use burn::prelude::*;

use super::linear::FrozenLinear;
use super::rope::{RotaryTables, apply_rotary, half_swap};
use crate::kv_cache::LayerCache;
use crate::lora_hooks::{LoraHooks, Projection};

/// The attention half of a decoder block (`self_attn.{q,k,v,o}_proj`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// `q_proj`: `[heads·head_dim, hidden]`.
    pub q_proj: FrozenLinear<B>,
    /// `k_proj`: `[kv_heads·head_dim, hidden]`.
    pub k_proj: FrozenLinear<B>,
    /// `v_proj`: `[kv_heads·head_dim, hidden]`.
    pub v_proj: FrozenLinear<B>,
    /// `o_proj`: `[hidden, heads·head_dim]`.
    pub o_proj: FrozenLinear<B>,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (a divisor of `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

/// Per-call inputs shared by every layer: rotary tables for the new positions and the mask.
pub(crate) struct AttentionInputs<B: Backend> {
    /// Rotary `cos · scale` for the queries, `[batch, seq, heads, head_dim]`.
    pub cos_q: Tensor<B, 4>,
    /// Rotary signed `sin · scale` for the queries, `[batch, seq, heads, head_dim]`.
    pub sin_q: Tensor<B, 4>,
    /// Rotary `cos` for the keys, `[batch, seq, kv_heads, head_dim]`.
    pub cos_k: Tensor<B, 4>,
    /// Rotary signed `sin` for the keys, `[batch, seq, kv_heads, head_dim]`.
    pub sin_k: Tensor<B, 4>,
    /// The half swap of rotate-half ([`half_swap`]), `[head_dim, head_dim]`.
    pub swap: Tensor<B, 2>,
    /// `[batch, kv_heads, groups, seq, past + seq]`: 0 where query `i` may attend key `j`,
    /// `-∞` where not (padding keys and future keys; a query always sees itself, so no row is
    /// all `-∞`). Materialised at full size so that adding it is one contiguous pass.
    pub bias: Tensor<B, 5>,
}

impl<B: Backend> AttentionInputs<B> {
    /// The inputs for new tokens at rotary `positions [batch, seq]`, attending over `keys
    /// [batch, past + seq]` (true for real tokens, false for padding; the last `seq` are the new
    /// ones).
    pub fn new(
        rope: &RotaryTables<B>,
        positions: Tensor<B, 2, Int>,
        keys: Tensor<B, 2, Bool>,
        heads: usize,
        kv_heads: usize,
    ) -> Self {
        let [b, s] = positions.dims();
        let [_, t] = keys.dims();
        let head_dim = rope.cos.dims()[1];
        let device = positions.device();
        let scale = 1.0 / (head_dim as f64).sqrt();
        let (cos_q, sin_q) = rope.gather(positions.clone(), heads, scale);
        let (cos_k, sin_k) = rope.gather(positions, kv_heads, 1.0);
        let groups = heads / kv_heads;
        let blocked = blocked_keys(keys, s, t - s);
        let bias = Tensor::<B, 4>::zeros([b, 1, s, t], &device)
            .mask_fill(blocked, f32::NEG_INFINITY)
            .unsqueeze_dim::<5>(1)
            .expand([b, kv_heads, groups, s, t]);
        // `expand` is a view; one addition materialises it contiguously.
        let bias = Tensor::zeros([b, kv_heads, groups, s, t], &device) + bias;
        Self {
            cos_q,
            sin_q,
            cos_k,
            sin_k,
            swap: half_swap(head_dim, &device),
            bias,
        }
    }
}

/// `[batch, 1, seq, past + seq]`, true where query `i` may not attend key `j`: keys that are
/// padding and keys in the future. A query always sees itself, so rows of padding stay finite.
fn blocked_keys<B: Backend>(
    keys: Tensor<B, 2, Bool>,
    seq: usize,
    past: usize,
) -> Tensor<B, 4, Bool> {
    let [b, t] = keys.dims();
    let device = keys.device();
    let pad = keys.bool_not().reshape([b, 1, 1, t]).expand([b, 1, seq, t]);
    let not_self = Tensor::<B, 2, Bool>::diag_mask([seq, t], past as i64, &device)
        .reshape([1, 1, seq, t])
        .expand([b, 1, seq, t]);
    let future = Tensor::<B, 2, Bool>::tril_mask([seq, t], past as i64, &device)
        .reshape([1, 1, seq, t])
        .expand([b, 1, seq, t]);
    pad.bool_and(not_self).bool_or(future)
}

/// Softmax over the last dimension as `e · (1/Σe)` with `e = exp(x - max(x))` (the max
/// detached): the product's backward costs fewer full-size passes than a division's.
fn softmax_last<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let max = x.clone().detach().max_dim(D - 1);
    let e = (x - max).exp();
    let norm = e.clone().sum_dim(D - 1).recip();
    e * norm
}

impl<B: Backend> Attention<B> {
    /// Attends `x [batch, seq, hidden]` over the cached and new positions.
    pub(crate) fn forward(
        &self,
        x: Tensor<B, 3>,
        inputs: &AttentionInputs<B>,
        cache: Option<&mut LayerCache<B>>,
        hooks: &LoraHooks<'_, B>,
        layer: usize,
    ) -> Tensor<B, 3> {
        let [b, s, _] = x.dims();
        let (h, kvh, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let g = h / kvh;
        let q = self
            .q_proj
            .forward(x.clone(), hooks.path(layer, Projection::Q))
            .reshape([b, s, h, hd]);
        let k = self
            .k_proj
            .forward(x.clone(), hooks.path(layer, Projection::K))
            .reshape([b, s, kvh, hd]);
        let v = self
            .v_proj
            .forward(x, hooks.path(layer, Projection::V))
            .reshape([b, s, kvh, hd]);

        // Queries come out pre-scaled by 1/√head_dim (folded into their tables).
        let q = apply_rotary(
            q,
            inputs.cos_q.clone(),
            inputs.sin_q.clone(),
            inputs.swap.clone(),
        );
        let k = apply_rotary(
            k,
            inputs.cos_k.clone(),
            inputs.sin_k.clone(),
            inputs.swap.clone(),
        );
        let (k, v) = (k.swap_dims(1, 2), v.swap_dims(1, 2)); // [b, kvh, s, hd] views
        let (k, v) = match cache {
            Some(c) => c.append(k, v),
            None => (k, v),
        };
        // The `g` query heads sharing a key/value head: [b, kvh, g, s, hd] (a strided view);
        // keys and values broadcast over the group axis.
        let q = q.reshape([b, s, kvh, g, hd]).permute([0, 2, 3, 1, 4]);
        let k = k.unsqueeze_dim::<5>(2);
        let v = v.unsqueeze_dim::<5>(2);
        let scores = q.matmul(k.swap_dims(3, 4)) + inputs.bias.clone(); // [b, kvh, g, s, t]
        let out = softmax_last(scores).matmul(v); // [b, kvh, g, s, hd]
        let out = out.permute([0, 3, 1, 2, 4]).reshape([b, s, h * hd]);
        self.o_proj.forward(out, hooks.path(layer, Projection::O))
    }
}

#[cfg(test)]
mod tests {
    //! The attention path against the straightforward one it replaced (heads-first layout,
    //! rotate-half by slicing, K/V repeated per query head, burn's `attention` with a boolean
    //! mask): same output and input gradient.

    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;

    use super::*;
    use crate::config::LlamaConfig;
    use crate::lora_hooks::{Adapters, LoraNoise};

    type B = Autodiff<Flex>;

    fn linear(d_out: usize, d_in: usize, device: &burn::tensor::Device<B>) -> FrozenLinear<B> {
        let w = Tensor::random([d_out, d_in], Distribution::Normal(0.0, 0.5), device);
        FrozenLinear::new(w, None)
    }

    /// The previous implementation, kept as the reference.
    fn reference(
        attn: &Attention<B>,
        rope: &RotaryTables<B>,
        x: Tensor<B, 3>,
        positions: Tensor<B, 2, Int>,
        keys: Tensor<B, 2, Bool>,
    ) -> Tensor<B, 3> {
        let [b, s, _] = x.dims();
        let (h, kvh, hd) = (attn.n_heads, attn.n_kv_heads, attn.head_dim);
        let g = h / kvh;
        let rot = |t: Tensor<B, 4>, heads: usize| {
            let flat = positions.clone().reshape([b * s]);
            let table = |tab: &Tensor<B, 2>| {
                tab.clone()
                    .select(0, flat.clone())
                    .reshape([b, 1, s, hd])
                    .repeat_dim(1, heads)
            };
            let (cos, sin) = (table(&rope.cos), table(&rope.sin));
            let t1 = t.clone().slice([0..b, 0..heads, 0..s, 0..hd / 2]);
            let t2 = t.clone().slice([0..b, 0..heads, 0..s, hd / 2..hd]);
            t * cos + Tensor::cat(vec![t2, t1], 3) * sin
        };
        let q = attn
            .q_proj
            .forward(x.clone(), None)
            .reshape([b, s, h, hd])
            .swap_dims(1, 2);
        let k = attn
            .k_proj
            .forward(x.clone(), None)
            .reshape([b, s, kvh, hd])
            .swap_dims(1, 2);
        let v = attn
            .v_proj
            .forward(x, None)
            .reshape([b, s, kvh, hd])
            .swap_dims(1, 2);
        let (q, k) = (rot(q, h), rot(k, kvh));
        let repeat = |t: Tensor<B, 4>| {
            t.unsqueeze_dim::<5>(2)
                .repeat_dim(2, g)
                .reshape([b, h, s, hd])
        };
        let mask = blocked_keys(keys, s, 0).repeat_dim(1, h);
        let out = attention(
            q,
            repeat(k),
            repeat(v),
            Some(mask),
            None,
            AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: false,
            },
        );
        let out = out.swap_dims(1, 2).reshape([b, s, h * hd]);
        attn.o_proj.forward(out, None)
    }

    fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn grouped_attention_matches_the_reference_path_with_gradients() {
        let device = Default::default();
        <B as Backend>::seed(&device, 7);
        let mut config = LlamaConfig::tiny(32);
        config.hidden_size = 24;
        config.num_attention_heads = 6;
        config.num_key_value_heads = 2;
        config.head_dim = 8;
        let (d, h, kvh, hd) = (24, 6, 2, 8);
        let attn = Attention {
            q_proj: linear(h * hd, d, &device),
            k_proj: linear(kvh * hd, d, &device),
            v_proj: linear(kvh * hd, d, &device),
            o_proj: linear(d, h * hd, &device),
            n_heads: h,
            n_kv_heads: kvh,
            head_dim: hd,
        };
        let rope = RotaryTables::new(&config, &device);
        // Row 1 is left-padded by two positions; rotary positions count real tokens.
        let (b, s) = (2, 5);
        let keys = Tensor::<B, 2, Bool>::from_data(
            TensorData::new(
                vec![true, true, true, true, true, false, false, true, true, true],
                [b, s],
            ),
            &device,
        );
        let positions = keys.clone().int().cumsum(1).sub_scalar(1).clamp_min(0);
        let weights = Tensor::<B, 3>::random([b, s, d], Distribution::Normal(0.0, 1.0), &device);
        let x0 = Tensor::<B, 3>::random([b, s, d], Distribution::Normal(0.0, 1.0), &device);
        let hooks = LoraHooks {
            adapters: Adapters::None,
            noise: LoraNoise::default(),
        };

        let run = |new: bool| {
            let x = x0.clone().detach().require_grad();
            let out = if new {
                let inputs = AttentionInputs::new(&rope, positions.clone(), keys.clone(), h, kvh);
                attn.forward(x.clone(), &inputs, None, &hooks, 0)
            } else {
                reference(&attn, &rope, x.clone(), positions.clone(), keys.clone())
            };
            let grads = (out.clone() * weights.clone()).sum().backward();
            let gx = x.grad(&grads).expect("input gradient");
            (
                out.into_data().to_vec::<f32>().unwrap(),
                gx.into_data().to_vec::<f32>().unwrap(),
            )
        };
        let (out_new, grad_new) = run(true);
        let (out_ref, grad_ref) = run(false);
        assert!(out_new.iter().chain(&grad_new).all(|v| v.is_finite()));
        let (d_out, d_grad) = (rel_diff(&out_new, &out_ref), rel_diff(&grad_new, &grad_ref));
        assert!(d_out <= 1e-5, "output differs by {d_out} (relative to max)");
        assert!(
            d_grad <= 1e-5,
            "input gradient differs by {d_grad} (relative to max)"
        );
    }
}
