//! [`ReferenceArgs`]: the fields of a reference `args.yaml` that fix the hypernetwork's architecture
//! and its generation path.
//!
//! The reference writes `yaml.dump(vars(args))` of its `TrainingArguments` (`configs.py`) next to
//! every checkpoint and rebuilds the module from these flags (`load_hypermod_checkpoint`). Every
//! other field (learning rate, task lists, `save_freq: 10**100`, ...) is ignored.

use std::path::Path;

use serde::Deserialize;

use super::error::ReferenceError;

/// The architecture- and generation-relevant fields of a reference `args.yaml`, with the
/// reference's defaults (`configs.py: TrainingArguments`) for absent fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReferenceArgs {
    /// `sft` or `recon`: SFT adds `AB_offset`; reconstruction de-normalises (see [`Self::factorized`]).
    #[serde(default = "default_training_task")]
    pub training_task: String,
    /// The base model (a Hugging Face id or directory).
    #[serde(default)]
    pub model_dir: Option<String>,
    /// The text embedder; empty means the base model itself embeds (last-token pooling).
    #[serde(default)]
    pub emb_model: Option<String>,
    /// Target modules as the training command listed them.
    #[serde(default)]
    pub target_modules: Option<Vec<String>>,
    /// M and S variants: A and B share one head.
    #[serde(default, rename = "shared_AB_head")]
    pub shared_ab_head: bool,
    /// S variant: one rank row per pass.
    #[serde(default)]
    pub autoreg_gen: bool,
    /// Learned rank-position embedding instead of RoPE (not supported).
    #[serde(default)]
    pub learnable_pos_emb: bool,
    /// Latent width `D`.
    #[serde(default = "default_latent")]
    pub hypernet_latent_size: usize,
    /// Head input width `H`.
    #[serde(default = "default_head_in")]
    pub head_in_size: usize,
    /// Task encoder kind; only `linear` (the released one) is supported.
    #[serde(default = "default_encoder")]
    pub encoder_type: String,
    /// One-hot task ids instead of description embeddings (not supported).
    #[serde(default)]
    pub use_one_hot_task_emb: bool,
    /// SFT over a multi-task LoRA (the hypernetwork predicts a residual added to `AB_offset`).
    #[serde(default)]
    pub mt_lora_path: Option<String>,
    /// Reconstruction: targets were z-scores.
    #[serde(default = "yes")]
    pub pred_z_score: bool,
    /// Reconstruction: loss on the factors (true) or on ΔW (false).
    #[serde(default)]
    pub factorized: bool,
    /// Reconstruction on ΔW: the target scaling (each factor is divided by its square root).
    #[serde(default = "default_delta_w_scaling")]
    pub delta_w_scaling: f64,
}

fn default_training_task() -> String {
    "sft".into()
}
fn default_latent() -> usize {
    128
}
fn default_head_in() -> usize {
    512
}
fn default_encoder() -> String {
    "linear".into()
}
fn yes() -> bool {
    true
}
fn default_delta_w_scaling() -> f64 {
    10000.0
}

impl ReferenceArgs {
    /// Parses the text of an `args.yaml`; `file` names it in errors.
    ///
    /// ```
    /// use hypermod::reference::ReferenceArgs;
    /// let a = ReferenceArgs::from_yaml_str("shared_AB_head: true\nsave_freq: 1000000000000000000000000\n", "args.yaml").unwrap();
    /// assert!(a.shared_ab_head && !a.autoreg_gen);
    /// assert_eq!((a.hypernet_latent_size, a.head_in_size), (128, 512));
    /// ```
    pub fn from_yaml_str(text: &str, file: &str) -> Result<Self, ReferenceError> {
        serde_yaml_ng::from_str(text).map_err(|source| ReferenceError::Yaml {
            file: file.to_string(),
            source,
        })
    }

    /// Reads an `args.yaml`.
    pub fn from_yaml_file(path: &Path) -> Result<Self, ReferenceError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReferenceError::io(path, e))?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// The text embedder the hypernetwork was trained with, if it is a separate model.
    pub fn embedder(&self) -> Option<&str> {
        self.emb_model.as_deref().filter(|s| !s.is_empty())
    }
}
