//! Model hyper-parameters of a Llama-family decoder (Llama, Mistral, Qwen2, ...).

use serde::{Deserialize, Serialize};

/// Which member of the Llama family a config describes.
///
/// The variants share one implementation; they differ only in flags such as
/// [`LlamaConfig::attention_bias`] (Qwen2 has q/k/v biases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama 1/2/3 and SmolLM.
    Llama,
    /// Mistral (same maths as Llama).
    Mistral,
    /// Qwen2 / Qwen2.5 (bias on q/k/v projections).
    Qwen2,
}

/// Llama-3 style frequency scaling of the rotary embedding (`rope_scaling` with `rope_type: "llama3"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// Overall scaling factor (`factor`).
    pub factor: f64,
    /// `low_freq_factor`.
    pub low_freq_factor: f64,
    /// `high_freq_factor`.
    pub high_freq_factor: f64,
    /// `original_max_position_embeddings`.
    pub original_max_position_embeddings: usize,
}

/// Shape and numerics of a Llama-family model, named as in Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Model family.
    pub architecture: Architecture,
    /// Vocabulary size (rows of the token embedding).
    pub vocab_size: usize,
    /// Model width `d_model`.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when smaller than the query heads).
    pub num_key_value_heads: usize,
    /// Per-head width (usually `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// Longest sequence the rotary tables are built for.
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rotary base frequency.
    pub rope_theta: f64,
    /// Optional Llama-3 rotary scaling.
    pub rope_scaling: Option<RopeScaling>,
    /// Whether the LM head reuses the token embedding.
    pub tie_word_embeddings: bool,
    /// Whether q/k/v projections carry a bias (Qwen2).
    pub attention_bias: bool,
    /// Beginning-of-sequence token, if any.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence tokens (generation stops on any of them).
    pub eos_token_ids: Vec<u32>,
}
