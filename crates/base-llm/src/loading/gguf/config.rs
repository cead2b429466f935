//! [`LlamaConfig`] from the `{arch}.*` and `tokenizer.ggml.*` metadata of a GGUF file.

use super::rope_freqs::scaling_from_factors;
use super::{GgufFile, GgufMetadata, GgufValue};
use crate::config::{Architecture, LlamaConfig};
use crate::error::Result;
use crate::loading::LoadError;

impl LlamaConfig {
    /// The config of a Llama-family GGUF file (`general.architecture` `llama` or `qwen2`).
    ///
    /// Required keys (errors name the key): `{arch}.block_count`, `{arch}.embedding_length`,
    /// `{arch}.feed_forward_length`, `{arch}.attention.head_count`, `{arch}.context_length`,
    /// `{arch}.attention.layer_norm_rms_epsilon`. Optional: `{arch}.attention.head_count_kv`
    /// (default: the head count), `{arch}.attention.key_length` (head width, default hidden /
    /// heads), `{arch}.rope.freq_base` (10000), `{arch}.vocab_size` (else the rows of
    /// `token_embd.weight`, else the length of `tokenizer.ggml.tokens`), `tokenizer.ggml.bos_token_id`,
    /// `tokenizer.ggml.eos_token_id` and `tokenizer.ggml.eot_token_id` (end-of-sequence tokens).
    /// The embedding is tied when there is no `output.weight`; q/k/v carry a bias when
    /// `blk.0.attn_q.bias` exists. Llama-3 rotary scaling is recovered from the
    /// `rope_freqs.weight` divisors ([`super::rope_freqs`]); other scaling
    /// (`{arch}.rope.scaling.type` other than `none`, or divisors that fit no Llama-3 parameters)
    /// is an error rather than a silently wrong model.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let md = &file.metadata;
        let arch = md.get_str("general.architecture")?;
        let architecture = match arch {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(LoadError::UnsupportedArchitecture {
                    path: file.path().to_path_buf(),
                    arch: other.to_string(),
                }
                .into());
            }
        };
        let key = |k: &str| format!("{arch}.{k}");
        let opt_usize = |k: &str| -> Result<Option<usize>> {
            let k = key(k);
            Ok(if md.contains(&k) {
                Some(md.get_usize(&k)?)
            } else {
                None
            })
        };
        let unsupported = |field: String, reason: &str| LoadError::ConfigField {
            path: file.path().to_path_buf(),
            field,
            reason: reason.to_string(),
        };
        if md.contains(&key("rope.scaling.type")) {
            let kind = md.get_str(&key("rope.scaling.type"))?;
            if kind != "none" {
                return Err(unsupported(
                    key("rope.scaling.type"),
                    "rotary scaling from GGUF is not supported",
                )
                .into());
            }
        }
        let hidden_size = md.get_usize(&key("embedding_length"))?;
        let num_attention_heads = md.get_usize(&key("attention.head_count"))?;
        if num_attention_heads == 0 {
            return Err(unsupported(key("attention.head_count"), "must be at least 1").into());
        }
        // The embedding rows are the model's vocabulary (it may be padded beyond the tokenizer's).
        let vocab_size = match (
            opt_usize("vocab_size")?,
            file.tensor_info("token_embd.weight"),
        ) {
            (Some(v), _) => v,
            (None, Some(t)) if t.dims.len() == 2 => t.dims[1] as usize,
            (None, _) => md.get_array("tokenizer.ggml.tokens")?.len(),
        };
        let token = |k: &str| -> Result<Option<u32>> {
            Ok(if md.contains(k) {
                Some(md.get_u32(k)?)
            } else {
                None
            })
        };
        let mut eos_token_ids = Vec::new();
        for k in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let Some(id) = token(k)?
                && !eos_token_ids.contains(&id)
            {
                eos_token_ids.push(id);
            }
        }
        let mut config = Self {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: md.get_usize(&key("feed_forward_length"))?,
            num_hidden_layers: md.get_usize(&key("block_count"))?,
            num_attention_heads,
            num_key_value_heads: opt_usize("attention.head_count_kv")?
                .unwrap_or(num_attention_heads),
            head_dim: opt_usize("attention.key_length")?
                .unwrap_or(hidden_size / num_attention_heads),
            max_position_embeddings: md.get_usize(&key("context_length"))?,
            rms_norm_eps: decimal_f64(md, &key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: if md.contains(&key("rope.freq_base")) {
                decimal_f64(md, &key("rope.freq_base"))?
            } else {
                10000.0
            },
            rope_scaling: None,
            tie_word_embeddings: file.tensor_info("output.weight").is_none(),
            attention_bias: file.tensor_info("blk.0.attn_q.bias").is_some(),
            bos_token_id: token("tokenizer.ggml.bos_token_id")?,
            eos_token_ids,
        };
        if file.tensor_info("rope_freqs.weight").is_some() {
            let factors = file.tensor_f32("rope_freqs.weight")?.data;
            config.rope_scaling =
                scaling_from_factors(&factors, config.head_dim, config.rope_theta).ok_or_else(
                    || {
                        unsupported(
                            "rope_freqs.weight".into(),
                            "the rotary frequency divisors match no Llama-3 scaling parameters",
                        )
                    },
                )?;
        }
        config.validate()?;
        Ok(config)
    }
}

/// A float as `f64`; an `f32` is widened through its shortest decimal form, so the `1e-5` that
/// converters store as f32 reads back as `1e-5` (the same f32 value as Hugging Face's config).
fn decimal_f64(md: &GgufMetadata, key: &str) -> Result<f64> {
    Ok(match md.require(key)? {
        GgufValue::F32(x) => x.to_string().parse().unwrap_or(f64::from(*x)),
        _ => md.get_f64(key)?,
    })
}
