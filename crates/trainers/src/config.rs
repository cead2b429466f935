//! Configuration shared by every trainer, loadable from TOML or JSON.
//!
//! Defaults are the paper's / reference implementation's values (`t2l-reference.md` §2.10 and §4):
//! AdamW with PyTorch's β = (0.9, 0.999) and ε = 1e-8, gradient-norm clipping at 1.0, linear warmup
//! over 20 % of the steps then linear decay to 0, seed 42, 8 tasks × 1 example per batch, at most
//! 512 tokens per example.
//!
//! ```
//! use trainers::config::{OptimConfig, parse_config};
//! let cfg: OptimConfig = parse_config("lr = 2.5e-5\nweight_decay = 0.01", "inline.toml").unwrap();
//! assert_eq!(cfg.lr, 2.5e-5);
//! assert_eq!(cfg.eps, 1e-8); // PyTorch's default, not burn's 1e-5
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// AdamW, clipping and accumulation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate (reference default 1e-4; released T2L SFT 2.5e-5, recon 1e-3, §4).
    pub lr: f64,
    /// AdamW β₁ (PyTorch default 0.9).
    pub beta1: f64,
    /// AdamW β₂ (PyTorch default 0.999).
    pub beta2: f64,
    /// AdamW ε (PyTorch default 1e-8; burn's own default would be 1e-5).
    pub eps: f64,
    /// Decoupled weight decay (PyTorch default 1e-2, the released SFT value §4.1; recon uses 1e-3 §4.2).
    pub weight_decay: f64,
    /// Global gradient-norm clip over all trainable parameters (`clip_grad_norm_`, §4.1: 1.0);
    /// `None` disables clipping.
    pub max_grad_norm: Option<f64>,
    /// Micro-batches whose gradients are summed before one optimizer step (§2.10: 1).
    pub grad_accum_steps: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
            max_grad_norm: Some(1.0),
            grad_accum_steps: 1,
        }
    }
}

impl OptimConfig {
    /// Rejects values AdamW cannot use.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::config(
                "optim.lr",
                format!("{} is not positive", self.lr),
            ));
        }
        for (field, b) in [("optim.beta1", self.beta1), ("optim.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::config(field, format!("{b} is not in [0, 1)")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(
                "optim.eps",
                format!("{} is not positive", self.eps),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "optim.weight_decay",
                format!("{} is negative", self.weight_decay),
            ));
        }
        if let Some(c) = self.max_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::config(
                "optim.max_grad_norm",
                format!("{c} is not positive"),
            ));
        }
        if self.grad_accum_steps == 0 {
            return Err(Error::config(
                "optim.grad_accum_steps",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Linear warmup then linear decay to zero (`transformers.get_scheduler("linear")`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Fraction of the total steps spent warming up (§2.10: 0.2; recon §4.2: 0.1).
    pub warmup_frac: f64,
    /// Explicit number of warmup steps; overrides `warmup_frac` when set.
    pub warmup_steps: Option<usize>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            warmup_frac: 0.2,
            warmup_steps: None,
        }
    }
}

impl ScheduleConfig {
    /// The number of warmup steps for a run of `total` steps.
    pub fn warmup(&self, total: usize) -> usize {
        self.warmup_steps
            .unwrap_or_else(|| (self.warmup_frac * total as f64).round() as usize)
            .min(total)
    }

    /// Rejects a fraction outside `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.warmup_frac) {
            return Err(Error::config(
                "schedule.warmup_frac",
                format!("{} is not in [0, 1]", self.warmup_frac),
            ));
        }
        Ok(())
    }
}

/// Length of the run, logging, validation, checkpoints and early stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice (sampling, initialisation, dropout, noise). §2.10: 42.
    pub seed: u64,
    /// Number of optimizer steps.
    pub steps: usize,
    /// Where metrics, checkpoints and outputs are written.
    pub out_dir: PathBuf,
    /// Validation every this many steps (and at step 0 and at the end); `None` disables it.
    pub val_every: Option<usize>,
    /// Checkpoint every this many steps (and at the end); `None`: only at the end.
    pub checkpoint_every: Option<usize>,
    /// Stop after this many validations without improvement (oracle LoRAs in §4.1: 3).
    pub early_stopping_patience: Option<usize>,
    /// Draw a progress bar with ETA on stderr.
    pub progress: bool,
    /// End this invocation after this many optimizer steps as if killed (no checkpoint is
    /// written then); `--resume` continues from the last periodic checkpoint. For time-boxed
    /// sessions and interruption tests.
    pub stop_after_steps: Option<usize>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            steps: 1000,
            out_dir: PathBuf::from("train_outputs/run"),
            val_every: None,
            checkpoint_every: None,
            early_stopping_patience: None,
            progress: true,
            stop_after_steps: None,
        }
    }
}

impl RunConfig {
    /// Rejects a run of zero steps or zero intervals.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::config("run.steps", "must be at least 1"));
        }
        for (field, v) in [
            ("run.val_every", self.val_every),
            ("run.checkpoint_every", self.checkpoint_every),
            ("run.early_stopping_patience", self.early_stopping_patience),
        ] {
            if v == Some(0) {
                return Err(Error::config(field, "must be at least 1 when set"));
            }
        }
        if self.early_stopping_patience.is_some() && self.val_every.is_none() {
            return Err(Error::config(
                "run.early_stopping_patience",
                "needs run.val_every (early stopping watches the validation loss)",
            ));
        }
        Ok(())
    }
}

/// The LoRA hyper-parameters of trained or generated adapters (reference §2.9: r = 8,
/// α = 16, rsLoRA, dropout 0.05, q_proj and v_proj).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSettings {
    /// Rank.
    pub r: usize,
    /// α.
    pub alpha: f64,
    /// rsLoRA scaling `α/√r` (else `α/r`).
    pub use_rslora: bool,
    /// Dropout on the LoRA path's input during training.
    pub dropout: f64,
    /// Target modules (PEFT names).
    pub target_modules: Vec<String>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 16.0,
            use_rslora: true,
            dropout: 0.05,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
        }
    }
}

impl LoraSettings {
    /// The lora-core config (validated), naming `base_model` in it.
    pub fn to_lora_config(&self, base_model: &str) -> Result<lora_core::LoraConfig> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config(
                "lora.dropout",
                format!("{} is not in [0, 1)", self.dropout),
            ));
        }
        let cfg = lora_core::LoraConfig::new(self.r, self.alpha, self.target_modules.clone())
            .with_rslora(self.use_rslora)
            .with_dropout(self.dropout)
            .with_base_model(base_model);
        cfg.validate("lora")?;
        Ok(cfg)
    }
}

/// Which tasks an SFT run trains on, how batches are drawn, and the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftDataConfig {
    /// The folder holding `tasks/` and `benchmarks/` (default: `$T2L_DATA` or `<repo>/../shared/data`).
    pub data_dir: Option<PathBuf>,
    /// Suite tasks to train on; empty means every `train` task of the suite (multi-task).
    pub tasks: Vec<String>,
    /// Benchmark train splits to train on (formatted with T2L's templates).
    pub benchmarks: Vec<String>,
    /// Distinct tasks per batch (§4.1: 8; 1 for a task-specific LoRA).
    pub tasks_per_batch: usize,
    /// Examples per task in a batch (§4.1: 1; a task-specific LoRA uses the batch size here).
    pub points_per_task: usize,
    /// Maximum tokens per example (prompt truncated from the left), §4.1: 512.
    pub max_len: usize,
    /// Fraction of each task's training rows kept aside for validation (§4.1 uses 10 %).
    pub val_fraction: f64,
    /// At most this many validation rows per task.
    pub val_max_per_task: usize,
    /// Rows per validation forward.
    pub val_batch_size: usize,
    /// Held-out suite tasks whose *test* rows are validated on (unseen-task validation of T2L).
    pub val_heldout_tasks: Vec<String>,
    /// Equal weight per sample (token losses divided by response length), §2.10: true.
    pub equally_weight_samples: bool,
    /// Use only the first this-many descriptions of each task (the reference uses 128); fewer
    /// make description embedding cheaper on CPU.
    pub max_descriptions_per_task: Option<usize>,
}

impl Default for SftDataConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            tasks: Vec::new(),
            benchmarks: Vec::new(),
            tasks_per_batch: 8,
            points_per_task: 1,
            max_len: 512,
            val_fraction: 0.1,
            val_max_per_task: 32,
            val_batch_size: 8,
            val_heldout_tasks: Vec::new(),
            equally_weight_samples: true,
            max_descriptions_per_task: None,
        }
    }
}

/// Parses a config from text; `name` ending in `.json` selects JSON, anything else TOML.
pub fn parse_config<T: DeserializeOwned>(text: &str, name: &str) -> Result<T> {
    if name.ends_with(".json") {
        serde_json::from_str(text).map_err(|source| Error::Json {
            path: name.to_string(),
            source,
        })
    } else {
        toml::from_str(text).map_err(|source| Error::Toml {
            path: PathBuf::from(name),
            source,
        })
    }
}

/// Reads a config file (`.json` as JSON, otherwise TOML).
pub fn load_config<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_config(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pytorch_adamw() {
        let c = OptimConfig::default();
        assert_eq!(
            (c.beta1, c.beta2, c.eps, c.weight_decay),
            (0.9, 0.999, 1e-8, 1e-2)
        );
        assert_eq!(c.max_grad_norm, Some(1.0));
        c.validate().unwrap();
    }

    #[test]
    fn json_and_toml_agree() {
        let a: OptimConfig =
            parse_config(r#"{"lr": 0.001, "max_grad_norm": null}"#, "c.json").unwrap();
        let b: OptimConfig = parse_config("lr = 0.001\n", "c.toml").unwrap();
        assert_eq!(a.lr, b.lr);
        assert_eq!(a.max_grad_norm, None);
        assert_eq!(b.max_grad_norm, Some(1.0));
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let e = parse_config::<OptimConfig>("lrr = 1.0", "c.toml").unwrap_err();
        assert!(e.to_string().contains("lrr"), "{e}");
        let bad = OptimConfig {
            beta2: 1.0,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("optim.beta2")
        );
        let run = RunConfig {
            early_stopping_patience: Some(3),
            ..Default::default()
        };
        assert!(
            run.validate()
                .unwrap_err()
                .to_string()
                .contains("val_every")
        );
    }

    #[test]
    fn warmup_from_fraction_or_steps() {
        let s = ScheduleConfig::default();
        assert_eq!(s.warmup(100), 20);
        let s = ScheduleConfig {
            warmup_steps: Some(7),
            ..s
        };
        assert_eq!(s.warmup(100), 7);
        assert_eq!(s.warmup(5), 5);
    }
}
