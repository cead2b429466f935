//! Task-specific ("oracle") LoRAs: one LoRA SFT run per task with the trainers' LoRA SFT,
//! saved as PEFT in the work directory and reused by later runs.

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use trainers::Result;
use trainers::config::{LoraSettings, OptimConfig, SftDataConfig};
use trainers::lora_sft::{LoraSftConfig, SftLossConfig, train_lora};
use trainers::metrics::read_metrics;
use trainers::model_source::ModelSource;

use crate::compression::cache::cached;
use crate::compression::{run_config, warmup_tenth};

/// Where an oracle's training rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSource {
    /// A benchmark's train split, formatted with T2L's templates (`tasks/benchmarks.json`).
    Benchmark,
    /// A task of the suite (`tasks/index.json`).
    Suite,
}

/// A task to train an oracle LoRA on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleTask {
    /// Benchmark or suite task name.
    pub name: String,
    /// Which collection `name` is in.
    pub source: TaskSource,
}

impl OracleTask {
    /// A benchmark's train split.
    pub fn benchmark(name: &str) -> Self {
        Self {
            name: name.to_string(),
            source: TaskSource::Benchmark,
        }
    }

    /// A suite task.
    pub fn suite(name: &str) -> Self {
        Self {
            name: name.to_string(),
            source: TaskSource::Suite,
        }
    }
}

/// The LoRA SFT budget of every oracle (everything else: the trainers' paper defaults — r 8,
/// α 16, rsLoRA, q/v, dropout 0.05, label smoothing 0.1, NEFTune 5, AdamW, clipping 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleSettings {
    /// The frozen base model (GGUF file or HF directory).
    pub model: PathBuf,
    /// Optimizer steps.
    pub steps: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate (10 % linear warmup, then linear decay).
    pub lr: f64,
    /// Longest tokenised example (prompt truncated from the left).
    pub max_len: usize,
    /// Training rows held back for the validation loss (0: no validation; the last model is kept).
    pub val_rows: usize,
    /// Seed of sampling, initialisation, dropout and noise.
    pub seed: u64,
}

/// What an oracle run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleLora {
    /// The task.
    pub task: OracleTask,
    /// The PEFT adapter directory.
    pub adapter_dir: PathBuf,
    /// Steps trained.
    pub steps: usize,
    /// Validation loss of the base model (step 0, where the LoRA's B is zero).
    pub base_val_loss: Option<f64>,
    /// Best validation loss of the adapter.
    pub best_val_loss: Option<f64>,
    /// Training wall time in seconds (from the run's metrics, also when it was reused).
    pub train_seconds: f64,
}

/// The directory of `task`'s oracle under `work`.
pub fn oracle_dir(work: &Path, task: &OracleTask) -> PathBuf {
    work.join("oracles").join(&task.name)
}

/// The LoRA SFT config of one oracle, writing under `out_dir`.
pub fn oracle_config(
    task: &OracleTask,
    settings: &OracleSettings,
    out_dir: &Path,
    progress: bool,
) -> LoraSftConfig {
    let mut data = SftDataConfig {
        tasks_per_batch: 1,
        points_per_task: settings.batch_size,
        max_len: settings.max_len,
        val_max_per_task: settings.val_rows,
        val_fraction: if settings.val_rows > 0 { 0.1 } else { 0.0 },
        ..SftDataConfig::default()
    };
    match task.source {
        TaskSource::Benchmark => data.benchmarks = vec![task.name.clone()],
        TaskSource::Suite => data.tasks = vec![task.name.clone()],
    }
    LoraSftConfig {
        model: ModelSource::Path {
            path: settings.model.clone(),
        },
        lora: LoraSettings::default(),
        data,
        loss: SftLossConfig::default(),
        optim: OptimConfig {
            lr: settings.lr,
            ..OptimConfig::default()
        },
        schedule: warmup_tenth(),
        run: run_config(
            settings.seed,
            settings.steps,
            out_dir,
            (settings.val_rows > 0).then_some(settings.steps),
            progress,
        ),
    }
}

/// Trains `task`'s oracle LoRA under `work/oracles/NAME/`, or reads it back when a finished run
/// with the same task and settings is there ([`cached`]); the numbers come from the run's
/// metrics.
pub fn train_oracle<B: AutodiffBackend>(
    work: &Path,
    task: &OracleTask,
    settings: &OracleSettings,
    progress: bool,
    device: &B::Device,
) -> Result<(OracleLora, bool)> {
    let spec = (task, settings);
    cached(&oracle_dir(work, task), &spec, |dir| {
        let cfg = oracle_config(task, settings, dir, progress);
        let report = train_lora::<B>(&cfg, None, device)?;
        let metrics = read_metrics(&report.metrics)?;
        let vals: Vec<(usize, f64)> = metrics
            .iter()
            .filter_map(|r| r.val_loss.map(|v| (r.step, v)))
            .collect();
        Ok(OracleLora {
            task: task.clone(),
            adapter_dir: report.adapter_dir,
            steps: report.steps,
            base_val_loss: vals.iter().find(|(s, _)| *s == 0).map(|&(_, v)| v),
            best_val_loss: vals
                .iter()
                .filter(|(s, _)| *s > 0)
                .map(|&(_, v)| v)
                .reduce(f64::min),
            train_seconds: metrics.last().map_or(0.0, |r| r.elapsed_s),
        })
    })
}

/// Trains (or reuses) the oracle of every task in order, announcing each on stderr.
pub fn train_oracles<B: AutodiffBackend>(
    work: &Path,
    tasks: &[OracleTask],
    settings: &OracleSettings,
    progress: bool,
    device: &B::Device,
) -> Result<Vec<OracleLora>> {
    let mut out = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        eprintln!("[oracle {}/{}] {}", i + 1, tasks.len(), task.name);
        let (oracle, reused) = train_oracle::<B>(work, task, settings, progress, device)?;
        if reused {
            eprintln!("  reused {}", oracle.adapter_dir.display());
        }
        out.push(oracle);
    }
    Ok(out)
}
