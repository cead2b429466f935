//! Grouped-query self-attention with rotate-half RoPE and an optional KV cache.

use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::linear::FrozenLinear;
use super::rope::apply_rotary;
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
    /// Rotary `cos` for the queries, `[batch, heads, seq, head_dim]`.
    pub cos_q: Tensor<B, 4>,
    /// Rotary signed `sin` for the queries, `[batch, heads, seq, head_dim]`.
    pub sin_q: Tensor<B, 4>,
    /// Rotary `cos` for the keys, `[batch, kv_heads, seq, head_dim]`.
    pub cos_k: Tensor<B, 4>,
    /// Rotary signed `sin` for the keys, `[batch, kv_heads, seq, head_dim]`.
    pub sin_k: Tensor<B, 4>,
    /// `[batch, kv_heads, groups·seq, past + seq]`, true where attention is not allowed (query
    /// heads grouped per key/value head, see [`Attention::forward`]).
    pub mask: Tensor<B, 4, Bool>,
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
        let q = self
            .q_proj
            .forward(x.clone(), hooks.path(layer, Projection::Q));
        let k = self
            .k_proj
            .forward(x.clone(), hooks.path(layer, Projection::K));
        let v = self.v_proj.forward(x, hooks.path(layer, Projection::V));

        let q = q.reshape([b, s, h, hd]).swap_dims(1, 2);
        let k = k.reshape([b, s, kvh, hd]).swap_dims(1, 2);
        let v = v.reshape([b, s, kvh, hd]).swap_dims(1, 2);
        let q = apply_rotary(q, inputs.cos_q.clone(), inputs.sin_q.clone());
        let k = apply_rotary(k, inputs.cos_k.clone(), inputs.sin_k.clone());

        let (k, v) = match cache {
            Some(c) => c.append(k, v),
            None => (k, v),
        };
        // Grouped-query attention without repeating K/V: the `g = heads / kv_heads` query heads
        // that share a key/value head are stacked along the sequence axis.
        let g = h / kvh;
        let q = q.reshape([b, kvh, g * s, hd]);
        let out = attention(
            q,
            k,
            v,
            Some(inputs.mask.clone()),
            None,
            AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: false,
            },
        );
        let out = out.reshape([b, h, s, hd]);
        let out = out.swap_dims(1, 2).reshape([b, s, h * hd]);
        self.o_proj.forward(out, hooks.path(layer, Projection::O))
    }
}
