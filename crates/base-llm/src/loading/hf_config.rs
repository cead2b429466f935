//! [`LlamaConfig`] from and to a Hugging Face `config.json` (Llama, Mistral, Qwen2).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::LoadError;
use crate::config::{Architecture, LlamaConfig, RopeScaling};
use crate::error::Result;

/// Reads the fields of one `config.json`, naming the file in errors.
struct Fields<'a> {
    json: &'a Value,
    path: &'a Path,
}

impl Fields<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> LoadError {
        LoadError::ConfigField {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.json.get(field).filter(|v| !v.is_null())
    }

    fn usize(&self, field: &str) -> std::result::Result<usize, LoadError> {
        let v = self.get(field).ok_or_else(|| self.err(field, "missing"))?;
        v.as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| self.err(field, format!("expected a non-negative integer, found {v}")))
    }

    fn opt_usize(&self, field: &str) -> std::result::Result<Option<usize>, LoadError> {
        self.get(field).map(|_| self.usize(field)).transpose()
    }

    fn opt_f64(&self, field: &str) -> std::result::Result<Option<f64>, LoadError> {
        self.get(field)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.err(field, format!("expected a number, found {v}")))
            })
            .transpose()
    }

    fn opt_bool(&self, field: &str) -> std::result::Result<Option<bool>, LoadError> {
        self.get(field)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.err(field, format!("expected a bool, found {v}")))
            })
            .transpose()
    }

    fn token_ids(&self, field: &str) -> std::result::Result<Vec<u32>, LoadError> {
        let bad = |v: &Value| self.err(field, format!("expected a token id or a list, found {v}"));
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_u64().map(|x| x as u32).ok_or_else(|| bad(v)))
                .collect(),
            Some(v) => v.as_u64().map(|x| vec![x as u32]).ok_or_else(|| bad(v)),
        }
    }
}

impl LlamaConfig {
    /// Reads a Hugging Face `config.json` (see [`LlamaConfig::from_hf_config`]).
    pub fn from_hf_config_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|source| LoadError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_hf_config(&json, path)
    }

    /// The config of a parsed Hugging Face `config.json`; `path` is named in errors.
    ///
    /// Required: `vocab_size`, `hidden_size`, `intermediate_size`, `num_hidden_layers`,
    /// `num_attention_heads`. Defaults as in transformers: `model_type` `llama`,
    /// `num_key_value_heads` = heads, `head_dim` = hidden / heads, `max_position_embeddings`
    /// 2048, `rms_norm_eps` 1e-6, `rope_theta` 10000, untied embeddings, `attention_bias` false
    /// (always true for Qwen2). `rope_scaling` may be absent, `default` or `llama3`.
    ///
    /// ```
    /// let json = serde_json::json!({"model_type": "llama", "vocab_size": 100, "hidden_size": 16,
    ///     "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    ///     "num_key_value_heads": 2, "tie_word_embeddings": true, "eos_token_id": 2});
    /// let c = base_llm::LlamaConfig::from_hf_config(&json, "config.json".as_ref()).unwrap();
    /// assert_eq!((c.head_dim, c.eos_token_ids.as_slice()), (4, &[2][..]));
    /// ```
    pub fn from_hf_config(json: &Value, path: &Path) -> Result<Self> {
        let f = Fields { json, path };
        let model_type = match f.get("model_type") {
            None => "llama",
            Some(v) => v
                .as_str()
                .ok_or_else(|| f.err("model_type", format!("expected a string, found {v}")))?,
        };
        let architecture = match model_type {
            "llama" => Architecture::Llama,
            "mistral" => Architecture::Mistral,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(LoadError::UnsupportedArchitecture {
                    path: path.to_path_buf(),
                    arch: other.to_string(),
                }
                .into());
            }
        };
        let hidden_size = f.usize("hidden_size")?;
        let num_attention_heads = f.usize("num_attention_heads")?;
        if num_attention_heads == 0 {
            return Err(f.err("num_attention_heads", "must be at least 1").into());
        }
        let rope_scaling = match f.get("rope_scaling") {
            None => None,
            Some(v) => rope_scaling(v, &f)?,
        };
        let config = Self {
            architecture,
            vocab_size: f.usize("vocab_size")?,
            hidden_size,
            intermediate_size: f.usize("intermediate_size")?,
            num_hidden_layers: f.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: f
                .opt_usize("num_key_value_heads")?
                .unwrap_or(num_attention_heads),
            head_dim: f
                .opt_usize("head_dim")?
                .unwrap_or(hidden_size / num_attention_heads),
            max_position_embeddings: f.opt_usize("max_position_embeddings")?.unwrap_or(2048),
            rms_norm_eps: f.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta: f.opt_f64("rope_theta")?.unwrap_or(10000.0),
            rope_scaling,
            tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            attention_bias: architecture == Architecture::Qwen2
                || f.opt_bool("attention_bias")?.unwrap_or(false),
            bos_token_id: f.token_ids("bos_token_id")?.first().copied(),
            eos_token_ids: f.token_ids("eos_token_id")?,
        };
        config.validate()?;
        Ok(config)
    }

    /// The Hugging Face `config.json` of this config (what [`LlamaConfig::from_hf_config`]
    /// reads back to an equal config; `torch_dtype` is `float32`).
    pub fn to_hf_config(&self) -> Value {
        let (model_type, class) = match self.architecture {
            Architecture::Llama => ("llama", "LlamaForCausalLM"),
            Architecture::Mistral => ("mistral", "MistralForCausalLM"),
            Architecture::Qwen2 => ("qwen2", "Qwen2ForCausalLM"),
        };
        let eos = match self.eos_token_ids.as_slice() {
            [] => Value::Null,
            [one] => json!(one),
            many => json!(many),
        };
        let rope_scaling = self.rope_scaling.as_ref().map(|s| {
            json!({
                "rope_type": "llama3",
                "factor": s.factor,
                "low_freq_factor": s.low_freq_factor,
                "high_freq_factor": s.high_freq_factor,
                "original_max_position_embeddings": s.original_max_position_embeddings,
            })
        });
        json!({
            "architectures": [class],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": eos,
            "hidden_act": "silu",
            "torch_dtype": "float32",
        })
    }

    /// Writes [`LlamaConfig::to_hf_config`] to `path` (pretty JSON).
    pub fn write_hf_config(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(&self.to_hf_config()).map_err(|source| {
            LoadError::Json {
                path: PathBuf::from(path),
                source,
            }
        })?;
        std::fs::write(path, text).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(())
    }
}

/// `rope_scaling`: `None` for the default type, Llama-3 parameters, an error for other types.
fn rope_scaling(v: &Value, f: &Fields<'_>) -> std::result::Result<Option<RopeScaling>, LoadError> {
    let field = "rope_scaling";
    let kind = v
        .get("rope_type")
        .or_else(|| v.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| f.err(field, format!("no rope_type in {v}")))?;
    match kind {
        "default" => Ok(None),
        "llama3" => {
            let num = |k: &str| {
                v.get(k)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| f.err(field, format!("llama3 scaling needs a number `{k}`")))
            };
            Ok(Some(RopeScaling {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")? as usize,
            }))
        }
        other => Err(f.err(field, format!("rope_type `{other}` is not supported"))),
    }
}
