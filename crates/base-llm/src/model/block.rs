//! One pre-norm decoder block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.

use burn::prelude::*;

use super::attention::{Attention, AttentionInputs};
use super::mlp::Mlp;
use super::norm::RmsNorm;
use crate::kv_cache::LayerCache;
use crate::lora_hooks::LoraHooks;

/// A decoder block (`model.layers.{i}`).
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    /// `input_layernorm`
    pub input_layernorm: RmsNorm<B>,
    /// `self_attn`
    pub self_attn: Attention<B>,
    /// `post_attention_layernorm`
    pub post_attention_layernorm: RmsNorm<B>,
    /// `mlp`
    pub mlp: Mlp<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// Runs the block on `x [batch, seq, hidden]`.
    pub(crate) fn forward(
        &self,
        x: Tensor<B, 3>,
        inputs: &AttentionInputs<B>,
        cache: Option<&mut LayerCache<B>>,
        hooks: &LoraHooks<'_, B>,
        layer: usize,
    ) -> Tensor<B, 3> {
        let h = self.self_attn.forward(
            self.input_layernorm.forward(x.clone()),
            inputs,
            cache,
            hooks,
            layer,
        );
        let x = x + h;
        let h = self.mlp.forward(
            self.post_attention_layernorm.forward(x.clone()),
            hooks,
            layer,
        );
        x + h
    }
}
