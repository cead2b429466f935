//! Host-side named tensors: what a checkpoint loader (GGUF or safetensors) produces and the model consumes.

use std::collections::BTreeMap;

/// One dense f32 tensor in host memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first (a Linear weight is `[out, in]`, as in PyTorch).
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` equals the product of `shape`.
    pub data: Vec<f32>,
}

/// Named f32 tensors in Hugging Face naming and layout.
///
/// Names are the `transformers` state-dict keys (`model.embed_tokens.weight`,
/// `model.layers.{i}.self_attn.q_proj.weight`, `model.layers.{i}.mlp.gate_proj.weight`,
/// `model.norm.weight`, `lm_head.weight` when untied). Linear weights are `[out, in]`, and q/k
/// projections are in the Hugging Face (rotate-half) row order whatever file they came from, so a
/// PEFT LoRA on `q_proj` means the same thing for every source.
#[derive(Debug, Clone, Default)]
pub struct WeightMap {
    /// The tensors by name.
    pub tensors: BTreeMap<String, HostTensor>,
}
