//! LoRA SFT: a task-specific ("oracle") LoRA for one task, or one multi-task LoRA over many —
//! the paper's baselines. Only the LoRA A/B are trained; the base model stays frozen. The result
//! is a PEFT adapter directory.

use std::path::{Path, PathBuf};

use base_llm::{Adapters, Llama, TrainOptions};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use lora_core::{SaveDtype, save_peft};
use serde::{Deserialize, Serialize};

use crate::config::{LoraSettings, OptimConfig, RunConfig, ScheduleConfig, SftDataConfig};
use crate::data::batch::HostBatch;
use crate::data::sft_data::{SftData, ValSample, load_tasks};
use crate::error::{Error, Result};
use crate::fit::{FitConfig, FitOutcome, MicroBatchLoss, Objective, fit};
use crate::loss::sft_loss;
use crate::model_source::ModelSource;
use crate::trainable_lora::TrainableLora;

/// Options of the SFT forward shared by the LoRA and T2L SFT trainers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftLossConfig {
    /// Label smoothing of the cross-entropy (§2.10: 0.1).
    pub label_smoothing: f64,
    /// NEFTune α on the input embeddings during training (§2.10: 5); `None` disables it.
    pub neftune_alpha: Option<f64>,
}

impl SftLossConfig {
    /// The training-forward options: LoRA-path dropout `lora_dropout` and this NEFTune α.
    pub fn train_options(&self, lora_dropout: f64) -> TrainOptions {
        TrainOptions {
            lora_dropout,
            neftune_alpha: self.neftune_alpha,
            seed: None,
        }
    }
}

impl Default for SftLossConfig {
    fn default() -> Self {
        Self {
            label_smoothing: 0.1,
            neftune_alpha: Some(5.0),
        }
    }
}

/// A LoRA SFT run (`t2l train lora --config FILE`).
///
/// ```
/// use trainers::lora_sft::LoraSftConfig;
/// let cfg: LoraSftConfig = trainers::config::parse_config(r#"
/// [model]
/// kind = "path"
/// path = "assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
/// [data]
/// tasks = ["glue_sst2"]
/// tasks_per_batch = 1
/// points_per_task = 8
/// [optim]
/// lr = 8e-5
/// [run]
/// steps = 200
/// out_dir = "runs/oracle_sst2"
/// "#, "lora.toml").unwrap();
/// assert_eq!(cfg.lora.r, 8);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSftConfig {
    /// The frozen base model.
    pub model: ModelSource,
    /// The adapter's hyper-parameters.
    pub lora: LoraSettings,
    /// Tasks, batches and validation.
    pub data: SftDataConfig,
    /// Loss options.
    pub loss: SftLossConfig,
    /// AdamW (the oracle LoRAs of §4.1 use lr 8e-5).
    pub optim: OptimConfig,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Length, intervals, output.
    pub run: RunConfig,
}

/// The LoRA SFT objective: sampled batches through the frozen model with the trainable adapter.
pub struct LoraSftObjective<B: AutodiffBackend> {
    llm: Llama<B>,
    data: SftData,
    loss: SftLossConfig,
    lora_dropout: f64,
    accum: usize,
}

impl<B: AutodiffBackend> LoraSftObjective<B> {
    /// An objective over `data` on the frozen `llm`.
    pub fn new(
        llm: Llama<B>,
        data: SftData,
        loss: SftLossConfig,
        lora_dropout: f64,
        accum: usize,
    ) -> Self {
        Self {
            llm,
            data,
            loss,
            lora_dropout,
            accum: accum.max(1),
        }
    }

    /// The frozen base model.
    pub fn llm(&self) -> &Llama<B> {
        &self.llm
    }

    /// The training-forward options: LoRA-path dropout and NEFTune.
    pub fn train_options(&self) -> TrainOptions {
        self.loss.train_options(self.lora_dropout)
    }

    /// Label smoothing of the cross-entropy.
    pub fn label_smoothing(&self) -> f64 {
        self.loss.label_smoothing
    }

    /// The padded token batch of micro-batch `micro` of optimizer step `step`.
    pub fn training_batch(&self, step: usize, micro: usize) -> Result<HostBatch> {
        Ok(self.data.train_batch(step * self.accum + micro)?.1)
    }
}

/// Mean validation loss over `data`'s validation set, `run` giving each batch's loss
/// (`None` when there is no validation data).
pub fn validation_loss<B: Backend>(
    data: &SftData,
    mut run: impl FnMut(&[&ValSample], &HostBatch) -> Result<Tensor<B, 1>>,
) -> Result<Option<f64>> {
    let batches = data.val_batches();
    if batches.is_empty() {
        return Ok(None);
    }
    let (mut sum, mut n) = (0.0, 0usize);
    for (rows, batch) in &batches {
        let loss = run(rows, batch)?.into_scalar().elem::<f64>();
        sum += loss * rows.len() as f64;
        n += rows.len();
    }
    Ok(Some(sum / n as f64))
}

impl<B: AutodiffBackend> Objective<B> for LoraSftObjective<B> {
    type Model = TrainableLora<B>;

    fn name(&self) -> &'static str {
        "lora"
    }

    fn loss(
        &mut self,
        model: &Self::Model,
        step: usize,
        micro: usize,
    ) -> Result<MicroBatchLoss<B>> {
        let batch = self.training_batch(step, micro)?;
        let adapter = model.to_adapter()?;
        let loss = sft_loss(
            &self.llm,
            &batch,
            Adapters::Single(&adapter),
            self.train_options(),
            self.loss.label_smoothing,
        )?;
        Ok(MicroBatchLoss {
            loss,
            tokens: batch.n_tokens(),
        })
    }

    /// Validation on the inner (non-autodiff) backend, as T2L SFT's: no graph is recorded.
    fn validate(&mut self, model: &Self::Model) -> Result<Option<f64>> {
        let adapter = model.valid().to_adapter()?;
        let llm = &self.llm.valid();
        let ls = self.loss.label_smoothing;
        validation_loss(&self.data, |_, batch| {
            sft_loss(
                llm,
                batch,
                Adapters::Single(&adapter),
                TrainOptions::default(),
                ls,
            )
        })
    }
}

/// What a LoRA SFT run produced.
#[derive(Debug, Clone, Serialize)]
pub struct LoraSftReport {
    /// The PEFT directory of the best (or last) adapter.
    pub adapter_dir: PathBuf,
    /// Steps trained.
    pub steps: usize,
    /// Best validation loss.
    pub best_val: Option<f64>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The metrics file.
    pub metrics: PathBuf,
}

/// Saves `cfg` as `config.json` in the run directory (what `--resume` runs are compared with).
pub fn save_run_config<T: Serialize>(out_dir: &Path, cfg: &T) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let p = out_dir.join("config.json");
    let text = serde_json::to_string_pretty(cfg).expect("config serialises");
    crate::checkpoint::write_atomic(&p, text.as_bytes())
}

/// Runs LoRA SFT as `cfg` says; writes `<out_dir>/adapter/` (PEFT), `metrics.jsonl`,
/// `checkpoints/` and `config.json`.
pub fn train_lora<B: AutodiffBackend>(
    cfg: &LoraSftConfig,
    resume: Option<&Path>,
    device: &B::Device,
) -> Result<LoraSftReport> {
    let (llm, encoder) = cfg.model.load::<B>(device)?;
    let (tasks, heldout) = load_tasks(&cfg.data)?;
    let data = SftData::new(tasks, heldout, encoder, &cfg.data, cfg.run.seed)?;
    let lora_cfg = cfg.lora.to_lora_config(&cfg.model.name())?;
    let layout = llm.adapter_layout(&cfg.lora.target_modules)?;
    let model = TrainableLora::init(lora_cfg, layout, device, cfg.run.seed);
    let mut objective = LoraSftObjective::new(
        llm,
        data,
        cfg.loss.clone(),
        cfg.lora.dropout,
        cfg.optim.grad_accum_steps,
    );
    save_run_config(&cfg.run.out_dir, cfg)?;
    let outcome = fit(
        &mut objective,
        model,
        FitConfig {
            optim: &cfg.optim,
            schedule: &cfg.schedule,
            run: &cfg.run,
            resume,
        },
        device,
    )?;
    finish_lora(&cfg.run.out_dir, outcome)
}

/// Writes the best adapter of a finished run as a PEFT directory.
pub fn finish_lora<B: AutodiffBackend>(
    out_dir: &Path,
    outcome: FitOutcome<TrainableLora<B>>,
) -> Result<LoraSftReport> {
    let adapter_dir = out_dir.join("adapter");
    save_peft(&outcome.best.to_adapter()?, &adapter_dir, SaveDtype::F32)?;
    Ok(LoraSftReport {
        adapter_dir,
        steps: outcome.steps,
        best_val: outcome.best_val,
        stopped_early: outcome.stopped_early,
        metrics: outcome.metrics_path,
    })
}
