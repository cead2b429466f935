//! One T2L reconstruction step (reference §4.2): the hypernetwork predicts the z-scored factors
//! of a batch of library adapters from their task embeddings; L1 loss, backward, AdamW. Built
//! with the trainers' public API (`build_recon` and its `Objective`).

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use hypermod::{HyperModulator, Variant};
use lora_core::{LoraAdapter, LoraWeights};
use trainers::fit::Objective;
use trainers::hyper_settings::HyperSettings;
use trainers::optim::TrainOptimizer;
use trainers::recon::{ReconConfig, ReconObjective, build_recon};
use trainers::task_embeddings::TaskEmbeddings;

use crate::ceiling::Ceilings;
use crate::error::{BenchError, sync};
use crate::generate::AdapterShape;
use crate::report::Measurement;
use crate::timing::time_iters;
use crate::work::recon_step_work;

/// The shape of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconStepSpec {
    /// Adapter layout and hypernetwork sizes ([`AdapterShape::hyper_config`]).
    pub shape: AdapterShape,
    /// Head variant.
    pub variant: Variant,
    /// Adapters in the library (random; at least 2 for the z-score statistics).
    pub library: usize,
    /// Tasks per batch (§4.2: 4), one description each.
    pub tasks_per_batch: usize,
}

impl Default for ReconStepSpec {
    /// SmolLM2-135M q/v, variant L, a library of 9 adapters, 4 tasks per batch.
    fn default() -> Self {
        Self {
            shape: AdapterShape::Smollm2_135m,
            variant: Variant::L,
            library: 9,
            tasks_per_batch: 4,
        }
    }
}

impl ReconStepSpec {
    /// `shape/variant/4tasks`.
    pub fn name(&self) -> String {
        format!(
            "{}/{}/{}tasks",
            self.shape, self.variant, self.tasks_per_batch
        )
    }
}

/// A reconstruction step ready to run.
pub struct ReconStep<B: AutodiffBackend> {
    hyper: Option<HyperModulator<B>>,
    objective: ReconObjective<B>,
    optim: TrainOptimizer<B, HyperModulator<B>>,
    device: B::Device,
    step: usize,
}

impl<B: AutodiffBackend> ReconStep<B> {
    /// A random library (factors ~ N(0, 0.02²)) with random task embeddings of the spec's width,
    /// and the hypernetwork and objective `build_recon` makes for it.
    pub fn new(spec: &ReconStepSpec, device: &B::Device, seed: u64) -> Result<Self, BenchError> {
        if spec.library < 2 || spec.tasks_per_batch == 0 {
            return Err(BenchError::param(
                "recon step shape",
                format!(
                    "need a library of ≥ 2 adapters and ≥ 1 task per batch (got {} and {})",
                    spec.library, spec.tasks_per_batch
                ),
            ));
        }
        B::seed(device, seed);
        let hcfg = spec.shape.hyper_config(spec.variant);
        let (layout, lora) = (hcfg.layout.clone(), hcfg.lora.clone());
        let (l, r) = (layout.n_layers, lora.r);
        let noise = Distribution::Normal(0.0, 0.02);
        let adapters = (0..spec.library)
            .map(|_| {
                let modules = layout
                    .modules
                    .iter()
                    .map(|m| {
                        let a = Tensor::random([l, r, m.d_in], noise, device);
                        let b = Tensor::random([l, m.d_out, r], noise, device);
                        (m.name.clone(), LoraWeights { a, b })
                    })
                    .collect();
                LoraAdapter::new(lora.clone(), layout.clone(), modules)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let embeddings = TaskEmbeddings {
            per_task: (0..spec.library)
                .map(|_| Tensor::random([1, hcfg.task_dim], Distribution::Normal(0.0, 1.0), device))
                .collect(),
            dim: hcfg.task_dim,
            embedder_id: None,
        };
        let cfg = ReconConfig {
            hyper: HyperSettings {
                variant: spec.variant,
                latent: hcfg.latent,
                head_in: hcfg.head_in,
                ..HyperSettings::default()
            },
            tasks_per_batch: spec.tasks_per_batch,
            ..ReconConfig::default()
        };
        let (hyper, objective) = build_recon(&adapters, embeddings, &cfg, device)?;
        Ok(Self {
            hyper: Some(hyper),
            objective,
            optim: TrainOptimizer::new(&cfg.optim),
            device: device.clone(),
            step: 0,
        })
    }

    /// The hypernetwork being trained.
    pub fn hyper(&self) -> Option<&HyperModulator<B>> {
        self.hyper.as_ref()
    }

    /// One optimizer step (lr 1e-3); returns the loss. The device is synchronised before
    /// returning.
    pub fn step(&mut self) -> Result<f64, BenchError> {
        let hyper = self
            .hyper
            .take()
            .ok_or_else(|| BenchError::param("recon step", "an earlier step failed"))?;
        let micro = self.objective.loss(&hyper, self.step, 0)?;
        let value = micro.loss.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(micro.loss.backward(), &hyper);
        self.optim.accumulate(&hyper, grads);
        let (hyper, _norm) = self.optim.step(1e-3, hyper);
        self.hyper = Some(hyper);
        self.step += 1;
        sync::<B>(&self.device, "the reconstruction step")?;
        Ok(value)
    }
}

/// Times one reconstruction step.
pub fn bench_recon_step<B: AutodiffBackend>(
    spec: &ReconStepSpec,
    device: &B::Device,
    warmup: usize,
    iters: usize,
    ceilings: &Ceilings,
) -> Result<Measurement, BenchError> {
    let mut step = ReconStep::<B>::new(spec, device, 0)?;
    let cfg = step
        .hyper()
        .map(|h| h.config().clone())
        .ok_or_else(|| BenchError::param("recon step", "no hypernetwork"))?;
    let timing = time_iters(warmup, iters, || step.step().map(drop))?;
    Ok(Measurement::new(
        "recon-step",
        spec.name(),
        timing,
        recon_step_work(&cfg, spec.tasks_per_batch.min(spec.library)),
        ceilings,
    )
    .with_items(spec.tasks_per_batch as f64, "tasks"))
}
