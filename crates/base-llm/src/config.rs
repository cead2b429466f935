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

impl LlamaConfig {
    /// Checks the relations the model relies on: non-zero sizes, query heads a multiple of the
    /// key/value heads, an even head width, a positive epsilon and rotary base.
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::Error;
        let bad = |field: &'static str, reason: String| Err(Error::Config { field, reason });
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return bad(field, "must be positive".into());
            }
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            );
        }
        if !self.head_dim.is_multiple_of(2) {
            return bad(
                "head_dim",
                format!("{} is odd; rotary needs pairs", self.head_dim),
            );
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps <= 0.0 {
            return bad(
                "rms_norm_eps",
                format!("{} is not positive", self.rms_norm_eps),
            );
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return bad("rope_theta", format!("{} is not positive", self.rope_theta));
        }
        if let Some(s) = &self.rope_scaling
            && (s.factor <= 0.0 || s.high_freq_factor <= s.low_freq_factor)
        {
            return bad(
                "rope_scaling",
                "needs factor > 0 and high_freq_factor > low_freq_factor".into(),
            );
        }
        if let Some(&id) = self
            .eos_token_ids
            .iter()
            .find(|&&id| id as usize >= self.vocab_size)
        {
            return bad("eos_token_id", format!("{id} is outside the vocabulary"));
        }
        Ok(())
    }

    /// The shapes and numerics of SmolLM2-135M-Instruct (what [`crate::Llama::load`] reads from
    /// its GGUF): 30 blocks of width 576, 9 query / 3 key-value heads of 64, SwiGLU width 1536, a
    /// 49,152-token vocabulary with tied embeddings, rotary base 100,000, context 8,192.
    ///
    /// Meant for random-weight models of the real size (throughput benchmarks, backend checks),
    /// where the weights' values do not matter but their shapes do:
    ///
    /// ```
    /// let c = base_llm::LlamaConfig::smollm2_135m();
    /// assert_eq!((c.hidden_size, c.num_hidden_layers, c.vocab_size), (576, 30, 49152));
    /// ```
    pub fn smollm2_135m() -> Self {
        Self {
            architecture: Architecture::Llama,
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            max_position_embeddings: 8192,
            rms_norm_eps: 1e-5,
            rope_theta: 100000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            attention_bias: false,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
        }
    }

    /// A tiny Llama (2 layers, width 16, 4 query / 2 key-value heads, vocabulary `vocab`) for tests.
    pub fn tiny(vocab: usize) -> Self {
        Self {
            architecture: Architecture::Llama,
            vocab_size: vocab,
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 4,
            max_position_embeddings: 128,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            attention_bias: false,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
        }
    }
}
