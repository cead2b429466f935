//! Reading a BERT-family model directory: `config.json` and the sentence-transformers files
//! (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::pooling::Pooling;

/// The hyper-parameters of a BERT encoder (`config.json`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Feed-forward activation: `gelu` (erf) or `gelu_new` / `gelu_pytorch_tanh` (tanh).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Number of learned positions.
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` is supported.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

/// The feed-forward activation of a [`BertConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x·Φ(x)` with the exact (erf) normal CDF.
    Gelu,
    /// The tanh approximation of GELU.
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

impl BertConfig {
    /// Reads and checks `config.json`: the architecture must be BERT (`model_type: "bert"`);
    /// anything else, gte's `NewModel` included, is an [`Error::UnsupportedArchitecture`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let value = read_json(path)?;
        let model_type = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let architecture = value
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| model_type.clone());
        let bert_arch = architecture.starts_with("Bert") || architecture == "bert";
        if model_type != "bert" || !bert_arch {
            let architecture = if architecture.is_empty() {
                "<none: config.json names no architecture or model_type>".to_string()
            } else {
                architecture
            };
            let hint = if architecture == "NewModel" {
                "gte-style `NewModel` (rotary positions + GLU feed-forward) is not implemented; \
                 supported: BERT-family encoders, model_type \"bert\""
            } else {
                "supported: BERT-family encoders, model_type \"bert\""
            };
            return Err(Error::UnsupportedArchitecture {
                path: path.to_path_buf(),
                architecture,
                hint: hint.to_string(),
            });
        }
        let config: Self = serde_json::from_value(value).map_err(|e| Error::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.activation(path)?;
        if config.position_embedding_type != "absolute" {
            return Err(Error::config(
                path,
                "position_embedding_type",
                format!(
                    "`{}` is not supported (only `absolute`)",
                    config.position_embedding_type
                ),
            ));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(Error::config(
                path,
                "num_attention_heads",
                format!(
                    "{} heads do not divide hidden_size {}",
                    config.num_attention_heads, config.hidden_size
                ),
            ));
        }
        Ok(config)
    }

    /// The feed-forward activation; `path` names the config in the error.
    pub fn activation(&self, path: &Path) -> Result<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(Error::config(
                path,
                "hidden_act",
                format!("activation `{other}` is not supported (gelu, gelu_new, relu)"),
            )),
        }
    }
}

/// What the sentence-transformers files of a model directory say (all optional).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SentenceTransformerConfig {
    /// The pooling of the `Pooling` module.
    pub pooling: Option<Pooling>,
    /// Whether `modules.json` lists a `Normalize` module.
    pub normalize: bool,
    /// `max_seq_length` of `sentence_bert_config.json`.
    pub max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl SentenceTransformerConfig {
    /// Reads `modules.json`, the pooling module's `config.json` and `sentence_bert_config.json`
    /// from `dir`, each when present. Without `modules.json`, `1_Pooling/config.json` is tried.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut out = Self::default();
        let modules_path = dir.join("modules.json");
        let mut pooling_dir = Some(dir.join("1_Pooling"));
        if modules_path.is_file() {
            let modules: Vec<ModuleEntry> = serde_json::from_value(read_json(&modules_path)?)
                .map_err(|e| Error::Json {
                    path: modules_path.clone(),
                    message: e.to_string(),
                })?;
            pooling_dir = modules
                .iter()
                .find(|m| m.kind.ends_with(".Pooling"))
                .map(|m| dir.join(&m.path));
            out.normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        }
        if let Some(pdir) = pooling_dir {
            let p = pdir.join("config.json");
            if p.is_file() {
                out.pooling = Some(read_pooling(&p)?);
            }
        }
        let sb = dir.join("sentence_bert_config.json");
        if sb.is_file() {
            let v = read_json(&sb)?;
            if let Some(m) = v.get("max_seq_length").filter(|m| !m.is_null()) {
                let m = m.as_u64().filter(|&m| m > 0).ok_or_else(|| {
                    Error::config(
                        &sb,
                        "max_seq_length",
                        format!("`{m}` is not a positive integer"),
                    )
                })?;
                out.max_seq_length = Some(m as usize);
            }
        }
        Ok(out)
    }
}

fn read_pooling(path: &Path) -> Result<Pooling> {
    let f: PoolingFile = serde_json::from_value(read_json(path)?).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let unsupported = [
        (f.pooling_mode_max_tokens, "pooling_mode_max_tokens"),
        (
            f.pooling_mode_mean_sqrt_len_tokens,
            "pooling_mode_mean_sqrt_len_tokens",
        ),
        (
            f.pooling_mode_weightedmean_tokens,
            "pooling_mode_weightedmean_tokens",
        ),
    ];
    if let Some((_, field)) = unsupported.iter().find(|(on, _)| *on) {
        return Err(Error::config(
            path,
            *field,
            "this pooling mode is not supported",
        ));
    }
    let modes: Vec<Pooling> = [
        (f.pooling_mode_cls_token, Pooling::Cls),
        (f.pooling_mode_mean_tokens, Pooling::Mean),
        (f.pooling_mode_lasttoken, Pooling::LastToken),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect();
    match modes.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::config(
            path,
            "pooling_mode_*",
            "no pooling mode is enabled",
        )),
        _ => Err(Error::config(
            path,
            "pooling_mode_*",
            "several pooling modes (concatenated) are not supported",
        )),
    }
}

/// Reads a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        path: PathBuf::from(path),
        message: e.to_string(),
    })
}
