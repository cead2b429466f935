//! One T2L SFT training step (reference §4.1: 8 tasks × 1 example per batch), through the
//! trainers' public API: the hypernetwork generates one adapter per row, the frozen base model
//! runs with them unmerged, the loss is label-smoothed cross-entropy + L2 on the generated
//! weights; then backward, global-norm clipping and AdamW.

use base_llm::{Llama, TrainOptions};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use hypermod::{HyperModulator, Mode};
use trainers::config::{LoraSettings, OptimConfig};
use trainers::data::batch::{HostBatch, Weighting, collate};
use trainers::data::encode::SftSample;
use trainers::hyper_settings::HyperSettings;
use trainers::optim::TrainOptimizer;
use trainers::t2l_sft::generated_loss;

use crate::ceiling::Ceilings;
use crate::error::{BenchError, sync};
use crate::llm::prompt_ids;
use crate::report::Measurement;
use crate::timing::time_iters;
use crate::work::sft_step_work_in;

/// The shape of the step.
#[derive(Debug, Clone, PartialEq)]
pub struct SftStepSpec {
    /// Tasks per batch, one example each (§4.1: 8).
    pub tasks: usize,
    /// Tokens per example (all rows the same length, no padding).
    pub seq: usize,
    /// Response (target) tokens at the end of each example.
    pub response: usize,
    /// Task-embedding width (384: all-MiniLM-L6-v2, this project's encoder; 1024: gte-large).
    pub task_dim: usize,
    /// Hypernetwork size (D = 128, H = 512, dropout 0.05 as trainers' defaults).
    pub hyper: HyperSettings,
    /// Generated adapters (trainers' defaults: r = 8, rsLoRA, q_proj/v_proj, dropout 0.05).
    pub lora: LoraSettings,
}

impl Default for SftStepSpec {
    /// 8 tasks × 1 example of 128 tokens with 32 response tokens (the shapes of
    /// `crates/trainers/scripts/torch_sft_step.py`), the shipped checkpoint's hypernetwork: M
    /// with all-MiniLM-L6-v2 embeddings (E = 384), as `scripts/bench/sft_step_reference.py`.
    fn default() -> Self {
        Self {
            tasks: 8,
            seq: 128,
            response: 32,
            task_dim: 384,
            hyper: HyperSettings {
                variant: hypermod::Variant::M,
                ..HyperSettings::default()
            },
            lora: LoraSettings::default(),
        }
    }
}

impl SftStepSpec {
    /// `M/8tasks×128tok`.
    pub fn name(&self) -> String {
        format!("{}/{}tasks×{}tok", self.hyper.variant, self.tasks, self.seq)
    }

    /// The batch: deterministic token ids, the last `response` tokens of each row targets,
    /// per-sample weighting (the reference's `equally_weight_sample`).
    pub fn batch(&self, vocab: usize) -> Result<HostBatch, BenchError> {
        if self.tasks == 0 || self.response == 0 || self.response >= self.seq {
            return Err(BenchError::param(
                "sft step shape",
                format!(
                    "need tasks ≥ 1 and 1 ≤ response < seq (got tasks {}, seq {}, response {})",
                    self.tasks, self.seq, self.response
                ),
            ));
        }
        let samples: Vec<SftSample> = (0..self.tasks)
            .map(|row| SftSample {
                ids: prompt_ids(vocab, self.seq + row)
                    .into_iter()
                    .skip(row)
                    .map(|id| id as u32)
                    .collect(),
                n_prompt: self.seq - self.response,
            })
            .collect();
        Ok(collate(&samples, 0, 8, Weighting::PerSample))
    }
}

/// A T2L SFT step ready to run: the hypernetwork, its optimizer, the batch and the rows' task
/// embeddings.
pub struct SftStep<'a, B: AutodiffBackend> {
    llm: &'a Llama<B>,
    hyper: Option<HyperModulator<B>>,
    optim: TrainOptimizer<B, HyperModulator<B>>,
    batch: HostBatch,
    rows: Tensor<B, 2>,
    lora_dropout: f64,
}

impl<'a, B: AutodiffBackend> SftStep<'a, B> {
    /// Builds the hypernetwork for `llm`'s layout (seeded) and the batch of `spec`.
    pub fn new(llm: &'a Llama<B>, spec: &SftStepSpec, seed: u64) -> Result<Self, BenchError> {
        let device = llm.device();
        let lora = spec.lora.to_lora_config("bench")?;
        let layout = llm.adapter_layout(&spec.lora.target_modules)?;
        let cfg = spec.hyper.to_config(spec.task_dim, layout, lora);
        let hyper = HyperModulator::<B>::new(cfg, &device, seed)?;
        B::seed(&device, seed);
        let rows = Tensor::random(
            [spec.tasks, spec.task_dim],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        Ok(Self {
            llm,
            hyper: Some(hyper),
            optim: TrainOptimizer::new(&OptimConfig::default()),
            batch: spec.batch(llm.config().vocab_size)?,
            rows,
            lora_dropout: spec.lora.dropout,
        })
    }

    /// The hypernetwork being trained.
    pub fn hyper(&self) -> Option<&HyperModulator<B>> {
        self.hyper.as_ref()
    }

    /// The batch.
    pub fn batch(&self) -> &HostBatch {
        &self.batch
    }

    /// One optimizer step (label smoothing 0.1, NEFTune α 5, L2 1e-3, lr 2.5e-5); returns the
    /// loss. The device is synchronised before returning.
    pub fn step(&mut self) -> Result<f64, BenchError> {
        let hyper = self
            .hyper
            .take()
            .ok_or_else(|| BenchError::param("sft step", "an earlier step failed"))?;
        let options = TrainOptions {
            lora_dropout: self.lora_dropout,
            neftune_alpha: Some(5.0),
            seed: None,
        };
        let loss = generated_loss(
            self.llm,
            &hyper,
            &self.batch,
            self.rows.clone(),
            Mode::Train,
            options,
            0.1,
            1e-3,
        )?;
        let value = loss.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), &hyper);
        self.optim.accumulate(&hyper, grads);
        let (hyper, _norm) = self.optim.step(2.5e-5, hyper);
        self.hyper = Some(hyper);
        sync::<B>(&self.llm.device(), "the SFT step")?;
        Ok(value)
    }
}

/// Times one T2L SFT step on `llm` (a warm-up step is recommended: the first allocates the
/// optimizer state).
pub fn bench_sft_step<B: AutodiffBackend>(
    llm: &Llama<B>,
    case: &str,
    spec: &SftStepSpec,
    warmup: usize,
    iters: usize,
    ceilings: &Ceilings,
) -> Result<Measurement, BenchError> {
    let mut step = SftStep::new(llm, spec, 0)?;
    let targets = step.batch().target_positions.len();
    let seq = step.batch().seq;
    let hyper_cfg = step
        .hyper()
        .map(|h| h.config().clone())
        .ok_or_else(|| BenchError::param("sft step", "no hypernetwork"))?;
    let timing = time_iters(warmup, iters, || step.step().map(drop))?;
    Ok(Measurement::new(
        "sft-step",
        format!("{case}/{}", spec.name()),
        timing,
        sft_step_work_in(
            llm.config(),
            &hyper_cfg,
            spec.tasks,
            seq,
            targets,
            llm.precision(),
        ),
        ceilings,
    )
    .with_items((spec.tasks * seq) as f64, "tokens"))
}
