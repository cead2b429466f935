//! T2L SFT (reference §4.1): the hypernetwork generates one adapter per batch row from the row's
//! task description; the adapters are injected unmerged into the frozen base model; the loss is
//! the label-smoothed SFT cross-entropy plus an L2 penalty on the generated weights. Only the
//! hypernetwork's parameters get gradients and optimizer state.

use std::path::{Path, PathBuf};

use base_llm::{Adapters, Llama, TrainOptions};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypermod::{HyperModulator, Mode};
use lora_core::BatchedLoraAdapter;
use serde::{Deserialize, Serialize};
use text_embed::{BertEmbedder, TaskEmbedder, TextEmbedder};

use crate::config::{LoraSettings, OptimConfig, RunConfig, ScheduleConfig, SftDataConfig};
use crate::data::batch::HostBatch;
use crate::data::sft_data::{SftData, load_tasks};
use crate::error::{Error, Result};
use crate::fit::{FitConfig, MicroBatchLoss, Objective, fit};
use crate::hyper_settings::HyperSettings;
use crate::lora_sft::{SftLossConfig, save_run_config, validation_loss};
use crate::loss::sft_loss;
use crate::model_source::ModelSource;
use crate::task_embeddings::{EmbeddingSource, TaskEmbeddings};

/// What the hypernetwork is conditioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Conditioning {
    /// A random training description of the row's task (T2L).
    #[default]
    Description,
    /// The row's own input text (the Hyperdecoders baseline, `use_inp_as_desc`); needs
    /// description embeddings (`embedding.kind = "descriptions"`).
    Input,
}

/// A T2L SFT run (`t2l train sft --config FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct T2lSftConfig {
    /// The frozen base model.
    pub model: ModelSource,
    /// The generated adapters' hyper-parameters (dropout = LoRA-path dropout, §3: 0.05).
    pub lora: LoraSettings,
    /// Tasks, batches (§4.1: 8 tasks × 1 example) and validation (held-out tasks).
    pub data: SftDataConfig,
    /// Label smoothing 0.1 and NEFTune α 5 (§2.10).
    pub loss: SftLossConfig,
    /// Weight of `Σ_modules mean(A²) + mean(B²)` over the generated weights (§2.10: 1e-3).
    pub l2_reg_generated_w: f64,
    /// One-hot or description embeddings.
    pub embedding: EmbeddingSource,
    /// Description (T2L) or input (Hyperdecoders) conditioning.
    pub conditioning: Conditioning,
    /// Hypernetwork size.
    pub hyper: HyperSettings,
    /// AdamW (released models: lr 2.5e-5, weight decay 1e-2).
    pub optim: OptimConfig,
    /// Schedule (§2.10: 20 % warmup).
    pub schedule: ScheduleConfig,
    /// Length, intervals, output.
    pub run: RunConfig,
}

impl Default for T2lSftConfig {
    fn default() -> Self {
        Self {
            model: ModelSource::default(),
            lora: LoraSettings::default(),
            data: SftDataConfig::default(),
            loss: SftLossConfig::default(),
            l2_reg_generated_w: 1e-3,
            embedding: EmbeddingSource::OneHot,
            conditioning: Conditioning::Description,
            hyper: HyperSettings::default(),
            optim: OptimConfig {
                lr: 2.5e-5,
                ..Default::default()
            },
            schedule: ScheduleConfig::default(),
            run: RunConfig::default(),
        }
    }
}

type InputEmbedder<B> = TaskEmbedder<BertEmbedder<<B as AutodiffBackend>::InnerBackend>>;

/// The T2L SFT objective.
pub struct T2lSftObjective<B: AutodiffBackend> {
    llm: Llama<B>,
    data: SftData,
    /// Embeddings of [`SftData::val_tasks`] (training tasks first).
    embeddings: TaskEmbeddings<B>,
    input_embedder: Option<InputEmbedder<B>>,
    loss: SftLossConfig,
    l2: f64,
    lora_dropout: f64,
    accum: usize,
}

impl<B: AutodiffBackend> T2lSftObjective<B> {
    /// The frozen base model.
    pub fn llm(&self) -> &Llama<B> {
        &self.llm
    }

    /// Task embeddings for rows given as `(task, description)` of the validation task list, or
    /// the rows' own inputs under input conditioning.
    fn conditioning_rows(&self, picks: &[(usize, usize)], inputs: &[&str]) -> Result<Tensor<B, 2>> {
        match &self.input_embedder {
            Some(e) => Ok(Tensor::from_inner(e.embed(inputs)?).to_device(&self.llm.device())),
            None => Ok(self.embeddings.rows(picks)),
        }
    }

    /// The training-forward options: LoRA-path dropout and NEFTune.
    pub fn train_options(&self) -> TrainOptions {
        self.loss.train_options(self.lora_dropout)
    }

    /// Label smoothing of the cross-entropy.
    pub fn label_smoothing(&self) -> f64 {
        self.loss.label_smoothing
    }

    /// Weight of the L2 penalty on generated weights.
    pub fn l2_weight(&self) -> f64 {
        self.l2
    }

    /// Micro-batch `micro` of optimizer step `step`: the hypernetwork's conditioning rows
    /// `[batch, dim]` and the padded token batch.
    pub fn training_rows(&self, step: usize, micro: usize) -> Result<(Tensor<B, 2>, HostBatch)> {
        let (refs, batch) = self.data.train_batch(step * self.accum + micro)?;
        let picks: Vec<(usize, usize)> = refs.iter().map(|r| (r.task, r.description)).collect();
        let inputs: Vec<&str> = refs
            .iter()
            .map(|r| self.data.tasks[r.task].train[r.example].input.as_str())
            .collect();
        Ok((self.conditioning_rows(&picks, &inputs)?, batch))
    }

    /// The validation loss of the base model alone (no adapter): what T2L must beat.
    pub fn base_validation_loss(&self) -> Result<Option<f64>> {
        let llm = self.llm.valid();
        validation_loss(&self.data, |_, batch| {
            sft_loss(
                &llm,
                batch,
                Adapters::None,
                TrainOptions::default(),
                self.loss.label_smoothing,
            )
        })
    }
}

/// The SFT loss of `batch` with the adapters `hyper` generates from `rows` (one per batch row),
/// plus `l2 ·` [`l2_generated`] when `l2 > 0`.
#[allow(clippy::too_many_arguments)]
pub fn generated_loss<B: Backend>(
    llm: &Llama<B>,
    hyper: &HyperModulator<B>,
    batch: &HostBatch,
    rows: Tensor<B, 2>,
    mode: Mode,
    options: TrainOptions,
    label_smoothing: f64,
    l2: f64,
) -> Result<Tensor<B, 1>> {
    let adapters = hyper.forward(rows, mode)?;
    let ce = sft_loss(
        llm,
        batch,
        Adapters::PerRow(&adapters),
        options,
        label_smoothing,
    )?;
    if l2 > 0.0 {
        Ok(ce + l2_generated(&adapters).mul_scalar(l2))
    } else {
        Ok(ce)
    }
}

/// `Σ_modules mean(A²) + mean(B²)` over all rows and layers of generated adapters.
pub fn l2_generated<B: Backend>(adapters: &BatchedLoraAdapter<B>) -> Tensor<B, 1> {
    let terms: Vec<Tensor<B, 1>> = adapters
        .modules()
        .map(|(_, w)| w.a.clone().square().mean() + w.b.clone().square().mean())
        .collect();
    Tensor::cat(terms, 0).sum()
}

impl<B: AutodiffBackend> Objective<B> for T2lSftObjective<B> {
    type Model = HyperModulator<B>;

    fn name(&self) -> &'static str {
        "sft"
    }

    fn loss(
        &mut self,
        model: &Self::Model,
        step: usize,
        micro: usize,
    ) -> Result<MicroBatchLoss<B>> {
        let (rows, batch) = self.training_rows(step, micro)?;
        let loss = generated_loss(
            &self.llm,
            model,
            &batch,
            rows,
            Mode::Train,
            self.train_options(),
            self.loss.label_smoothing,
            self.l2,
        )?;
        Ok(MicroBatchLoss {
            loss,
            tokens: batch.n_tokens(),
        })
    }

    /// Validation on the inner (non-autodiff) backend: nothing is recorded for backward, so
    /// memory stays flat however large the validation set.
    fn validate(&mut self, model: &Self::Model) -> Result<Option<f64>> {
        let this = &*self;
        let llm = this.llm.valid();
        let hyper = model.valid();
        validation_loss(&this.data, |rows, batch| {
            let picks: Vec<(usize, usize)> = rows.iter().map(|v| (v.task, v.description)).collect();
            let inputs: Vec<&str> = rows
                .iter()
                .map(|v| this.data.val_tasks[v.task].val[v.example].input.as_str())
                .collect();
            let emb = this.conditioning_rows(&picks, &inputs)?.inner();
            generated_loss(
                &llm,
                &hyper,
                batch,
                emb,
                Mode::Inference,
                TrainOptions::default(),
                this.loss.label_smoothing,
                0.0,
            )
        })
    }
}

/// What a T2L SFT run produced.
#[derive(Debug, Clone, Serialize)]
pub struct T2lSftReport {
    /// The saved hypernetwork (hypermod checkpoint directory).
    pub hypermod_dir: PathBuf,
    /// Steps trained.
    pub steps: usize,
    /// Validation loss of the base model alone.
    pub base_val: Option<f64>,
    /// Best validation loss of the generated adapters.
    pub best_val: Option<f64>,
    /// The metrics file.
    pub metrics: PathBuf,
}

/// Builds the hypernetwork and objective of a config.
pub fn build_t2l_sft<B: AutodiffBackend>(
    cfg: &T2lSftConfig,
    device: &B::Device,
) -> Result<(HyperModulator<B>, T2lSftObjective<B>)> {
    let (llm, encoder) = cfg.model.load::<B>(device)?;
    let (tasks, heldout) = load_tasks(&cfg.data)?;
    let data = SftData::new(tasks, heldout, encoder, &cfg.data, cfg.run.seed)?;
    let descriptions: Vec<Vec<String>> = data
        .val_tasks
        .iter()
        .map(|t| t.descriptions.clone())
        .collect();
    let embeddings = TaskEmbeddings::build(&cfg.embedding, &descriptions, device)?;
    let input_embedder = match (cfg.conditioning, &cfg.embedding) {
        (Conditioning::Description, _) => None,
        (Conditioning::Input, EmbeddingSource::Descriptions { embedder }) => {
            let probe = Tensor::<B, 1>::zeros([1], device).inner().device();
            Some(TaskEmbedder::new(BertEmbedder::load(embedder, &probe)?))
        }
        (Conditioning::Input, EmbeddingSource::OneHot) => {
            return Err(Error::config(
                "conditioning",
                "input conditioning needs embedding.kind = \"descriptions\"",
            ));
        }
    };
    let lora = cfg.lora.to_lora_config(&cfg.model.name())?;
    let layout = llm.adapter_layout(&cfg.lora.target_modules)?;
    let mut hcfg = cfg.hyper.to_config(embeddings.dim, layout, lora);
    if let Some(id) = &embeddings.embedder_id {
        hcfg = hcfg.with_embedder(id.clone());
    }
    let hyper = HyperModulator::<B>::new(hcfg, device, cfg.run.seed)?;
    Ok((
        hyper,
        T2lSftObjective {
            llm,
            data,
            embeddings,
            input_embedder,
            loss: cfg.loss.clone(),
            l2: cfg.l2_reg_generated_w,
            lora_dropout: cfg.lora.dropout,
            accum: cfg.optim.grad_accum_steps.max(1),
        },
    ))
}

/// Runs T2L SFT; writes `<out_dir>/hypermod/` (hypermod checkpoint), `metrics.jsonl`,
/// `checkpoints/`, `config.json`.
pub fn train_t2l_sft<B: AutodiffBackend>(
    cfg: &T2lSftConfig,
    resume: Option<&Path>,
    device: &B::Device,
) -> Result<T2lSftReport> {
    let (hyper, mut objective) = build_t2l_sft::<B>(cfg, device)?;
    save_run_config(&cfg.run.out_dir, cfg)?;
    let base_val = if cfg.run.val_every.is_some() {
        objective.base_validation_loss()?
    } else {
        None
    };
    let outcome = fit(
        &mut objective,
        hyper,
        FitConfig {
            optim: &cfg.optim,
            schedule: &cfg.schedule,
            run: &cfg.run,
            resume,
        },
        device,
    )?;
    let hypermod_dir = cfg.run.out_dir.join("hypermod");
    outcome.best.save(&hypermod_dir)?;
    Ok(T2lSftReport {
        hypermod_dir,
        steps: outcome.steps,
        base_val,
        best_val: outcome.best_val,
        metrics: outcome.metrics_path,
    })
}
