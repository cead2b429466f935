//! T2L reconstruction training (reference §4.2): the hypernetwork learns to reproduce a library
//! of PEFT adapters from their task embeddings. No base-model forward is needed.
//!
//! Two losses (reference §2.8):
//! - [`ReconLoss::ZScore`] (factorised): targets are z-scored element-wise with the library's
//!   mean and unbiased std (+1e-10); `loss = ½·L1(A_pred, A_z) + ½·L1(B_pred, B_z)`, averaged
//!   over target modules. The stats become the hypernetwork's frozen stacks, so generation
//!   de-normalises.
//! - [`ReconLoss::DeltaW`]: `L1(B_pred·A_pred, (B_t·A_t)·s)` with `s = delta_w_scaling` (10000);
//!   generation divides each factor by `√s`.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypermod::stacks::FrozenFactors;
use hypermod::{HyperModulator, InitMode, Mode};
use lora_core::{BatchedLoraAdapter, LoraAdapter, adapter_stats, load_peft};
use serde::{Deserialize, Serialize};

use crate::config::{OptimConfig, RunConfig, ScheduleConfig};
use crate::data::sampler::{HierarchicalSampler, TaskSizes};
use crate::data::tasks::TaskSuite;
use crate::error::{Error, Result};
use crate::fit::{FitConfig, MicroBatchLoss, Objective, fit};
use crate::hyper_settings::HyperSettings;
use crate::lora_sft::save_run_config;
use crate::task_embeddings::{EmbeddingSource, TaskEmbeddings};

/// Which reconstruction objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReconLoss {
    /// Factorised z-score L1 on A and B.
    #[default]
    ZScore,
    /// L1 on ΔW scaled by `scaling`.
    DeltaW {
        /// `delta_w_scaling` (reference: 10000).
        scaling: f64,
    },
}

/// One adapter of the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconTarget {
    /// Task name (descriptions are looked up in the suite when `descriptions` is empty).
    pub name: String,
    /// The PEFT adapter directory.
    pub adapter: PathBuf,
    /// Descriptions of the task (for description embeddings).
    #[serde(default)]
    pub descriptions: Vec<String>,
}

/// A reconstruction run (`t2l train recon --config FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconConfig {
    /// The adapter library (at least 2 for the z-score statistics).
    pub targets: Vec<ReconTarget>,
    /// Folder holding `tasks/` (for descriptions by task name).
    pub data_dir: Option<PathBuf>,
    /// One-hot or description embeddings.
    pub embedding: EmbeddingSource,
    /// The loss.
    pub loss: ReconLoss,
    /// Hypernetwork size.
    pub hyper: HyperSettings,
    /// Tasks per batch (§4.2: 4), one description each.
    pub tasks_per_batch: usize,
    /// AdamW (§4.2: lr 1e-3, weight decay 1e-3).
    pub optim: OptimConfig,
    /// Schedule (§4.2: 10 % warmup).
    pub schedule: ScheduleConfig,
    /// Length, intervals, output.
    pub run: RunConfig,
}

impl Default for ReconConfig {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            data_dir: None,
            embedding: EmbeddingSource::OneHot,
            loss: ReconLoss::ZScore,
            hyper: HyperSettings::default(),
            tasks_per_batch: 4,
            optim: OptimConfig {
                lr: 1e-3,
                weight_decay: 1e-3,
                ..Default::default()
            },
            schedule: ScheduleConfig {
                warmup_frac: 0.1,
                warmup_steps: None,
            },
            run: RunConfig::default(),
        }
    }
}

/// Per module, the targets of every task, stacked: z-scored factors or scaled ΔW.
enum Targets<B: Backend> {
    ZScore(Vec<(Tensor<B, 4>, Tensor<B, 4>)>),
    DeltaW(Vec<Tensor<B, 4>>),
}

/// The reconstruction objective.
pub struct ReconObjective<B: AutodiffBackend> {
    targets: Targets<B>,
    embeddings: TaskEmbeddings<B>,
    sampler: HierarchicalSampler,
    accum: usize,
}

/// The hypernetwork and objective for a library of adapters, with `cfg`'s loss, hypernetwork
/// size, tasks per batch, accumulation and seed (its `targets` are not read).
pub fn build_recon<B: AutodiffBackend>(
    adapters: &[LoraAdapter<B>],
    embeddings: TaskEmbeddings<B>,
    cfg: &ReconConfig,
    device: &B::Device,
) -> Result<(HyperModulator<B>, ReconObjective<B>)> {
    let (loss, hyper, seed) = (cfg.loss, &cfg.hyper, cfg.run.seed);
    let (tasks_per_batch, accum) = (cfg.tasks_per_batch, cfg.optim.grad_accum_steps);
    if adapters.len() < 2 {
        return Err(Error::config("targets", "at least 2 adapters are needed"));
    }
    if embeddings.per_task.len() != adapters.len() {
        return Err(Error::config(
            "targets",
            format!(
                "{} adapters but {} embedded tasks",
                adapters.len(),
                embeddings.per_task.len()
            ),
        ));
    }
    let first = &adapters[0];
    let mut hcfg = hyper
        .to_config(
            embeddings.dim,
            first.layout().clone(),
            first.config().clone(),
        )
        .with_init(InitMode::Default);
    if let Some(id) = &embeddings.embedder_id {
        hcfg = hcfg.with_embedder(id.clone());
    }
    let modules = first.layout().module_names();
    let stack = |pick: &dyn Fn(&LoraAdapter<B>) -> Tensor<B, 3>| -> Tensor<B, 4> {
        Tensor::stack(adapters.iter().map(pick).collect(), 0)
    };
    let (hcfg, targets, stats) = match loss {
        ReconLoss::ZScore => {
            let refs: Vec<&LoraAdapter<B>> = adapters.iter().collect();
            let stats = adapter_stats(&refs)?;
            let mut t = Vec::new();
            for m in &modules {
                let (mean, std) = (stats.mean.module(m).unwrap(), stats.std.module(m).unwrap());
                let z = |x: Tensor<B, 4>, mu: &Tensor<B, 3>, sd: &Tensor<B, 3>| {
                    (x - mu.clone().unsqueeze_dim(0))
                        / (sd.clone().unsqueeze_dim::<4>(0) + hypermod::Z_SCORE_EPS)
                };
                let a = stack(&|ad| ad.module(m).unwrap().a.clone());
                let b = stack(&|ad| ad.module(m).unwrap().b.clone());
                t.push((z(a, &mean.a, &std.a), z(b, &mean.b, &std.b)));
            }
            (hcfg.with_z_score(true), Targets::ZScore(t), Some(stats))
        }
        ReconLoss::DeltaW { scaling } => {
            if !(scaling.is_finite() && scaling > 0.0) {
                return Err(Error::config(
                    "loss.scaling",
                    format!("{scaling} is not positive"),
                ));
            }
            let t = modules
                .iter()
                .map(|m| {
                    let a = stack(&|ad| ad.module(m).unwrap().a.clone());
                    let b = stack(&|ad| ad.module(m).unwrap().b.clone());
                    b.matmul(a).mul_scalar(scaling)
                })
                .collect();
            (
                hcfg.with_delta_w_scaling(Some(scaling)),
                Targets::DeltaW(t),
                None,
            )
        }
    };
    let mut model = HyperModulator::<B>::new(hcfg, device, seed)?;
    if let Some(stats) = stats {
        let factors = |ad: &LoraAdapter<B>| -> Vec<FrozenFactors<B>> {
            modules
                .iter()
                .map(|m| {
                    let w = ad.module(m).unwrap();
                    FrozenFactors {
                        a: w.a.clone(),
                        b: w.b.clone(),
                    }
                })
                .collect()
        };
        model.stacks.mean = Some(factors(&stats.mean));
        model.stacks.std = Some(factors(&stats.std));
    }
    let sizes = embeddings
        .per_task
        .iter()
        .map(|t| TaskSizes {
            examples: 1,
            descriptions: t.dims()[0],
        })
        .collect();
    let sampler = HierarchicalSampler::new(sizes, tasks_per_batch.min(adapters.len()), 1, seed)?;
    Ok((
        model,
        ReconObjective {
            targets,
            embeddings,
            sampler,
            accum: accum.max(1),
        },
    ))
}

impl<B: AutodiffBackend> ReconObjective<B> {
    /// The loss of the raw predictions for `tasks` (one row each).
    fn loss_of(&self, raw: &BatchedLoraAdapter<B>, tasks: &[usize]) -> (Tensor<B, 1>, usize) {
        let device = self.embeddings.per_task[0].device();
        let idx = Tensor::<B, 1, Int>::from_data(
            TensorData::new(
                tasks.iter().map(|&t| t as i64).collect::<Vec<_>>(),
                [tasks.len()],
            ),
            &device,
        );
        let mut terms = Vec::new();
        let mut elements = 0;
        for (i, (_, w)) in raw.modules().enumerate() {
            match &self.targets {
                Targets::ZScore(t) => {
                    let (ta, tb) = (&t[i].0, &t[i].1);
                    let la = (w.a.clone() - ta.clone().select(0, idx.clone()))
                        .abs()
                        .mean();
                    let lb = (w.b.clone() - tb.clone().select(0, idx.clone()))
                        .abs()
                        .mean();
                    elements += w.a.shape().num_elements() + w.b.shape().num_elements();
                    terms.push((la + lb).mul_scalar(0.5));
                }
                Targets::DeltaW(t) => {
                    let dw = w.b.clone().matmul(w.a.clone());
                    elements += dw.shape().num_elements();
                    terms.push((dw - t[i].clone().select(0, idx.clone())).abs().mean());
                }
            }
        }
        let n = terms.len();
        (Tensor::cat(terms, 0).sum().div_scalar(n as f64), elements)
    }

    /// Number of tasks in the library.
    pub fn n_tasks(&self) -> usize {
        self.embeddings.per_task.len()
    }
}

impl<B: AutodiffBackend> Objective<B> for ReconObjective<B> {
    type Model = HyperModulator<B>;

    fn name(&self) -> &'static str {
        "recon"
    }

    fn loss(
        &mut self,
        model: &Self::Model,
        step: usize,
        micro: usize,
    ) -> Result<MicroBatchLoss<B>> {
        let refs = self.sampler.batch(step * self.accum + micro);
        let picks: Vec<(usize, usize)> = refs.iter().map(|r| (r.task, r.description)).collect();
        let raw = model.predict(self.embeddings.rows(&picks), Mode::Train)?;
        let tasks: Vec<usize> = refs.iter().map(|r| r.task).collect();
        let (loss, tokens) = self.loss_of(&raw, &tasks);
        Ok(MicroBatchLoss { loss, tokens })
    }

    /// The loss of every task with its first description, without dropout (nothing is
    /// recorded for backward: the outputs are detached).
    fn validate(&mut self, model: &Self::Model) -> Result<Option<f64>> {
        let tasks: Vec<usize> = (0..self.n_tasks()).collect();
        let picks: Vec<(usize, usize)> = tasks.iter().map(|&t| (t, 0)).collect();
        let raw = model.predict(self.embeddings.rows(&picks), Mode::Inference)?;
        let (loss, _) = self.loss_of(&raw, &tasks);
        Ok(Some(loss.detach().into_scalar().elem::<f64>()))
    }
}

/// Mean absolute difference, over all A and B entries, between the adapters a hypernetwork
/// generates for each task's first description and the library (raw parameter space).
pub fn reconstruction_l1<B: AutodiffBackend>(
    model: &HyperModulator<B>,
    embeddings: &TaskEmbeddings<B>,
    adapters: &[LoraAdapter<B>],
) -> Result<f64> {
    let picks: Vec<(usize, usize)> = (0..adapters.len()).map(|t| (t, 0)).collect();
    let generated = model.generate(embeddings.rows(&picks))?;
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, target) in adapters.iter().enumerate() {
        let g = generated.get(i)?;
        for (name, w) in target.modules() {
            let gw = g.module(name).unwrap();
            for (x, y) in [(&gw.a, &w.a), (&gw.b, &w.b)] {
                sum += (x.clone() - y.clone())
                    .abs()
                    .sum()
                    .into_scalar()
                    .elem::<f64>();
                count += y.shape().num_elements();
            }
        }
    }
    Ok(sum / count as f64)
}

/// What a reconstruction run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ReconReport {
    /// The saved hypernetwork (hypermod checkpoint directory).
    pub hypermod_dir: PathBuf,
    /// Steps trained.
    pub steps: usize,
    /// Final validation loss (the training objective, no dropout).
    pub best_val: Option<f64>,
    /// Mean absolute error of the regenerated adapters in parameter space.
    pub recon_l1: f64,
    /// The metrics file.
    pub metrics: PathBuf,
}

/// The adapters of a reconstruction run and their tasks' descriptions.
pub struct Library<B: Backend> {
    /// The PEFT adapters, in config order.
    pub adapters: Vec<LoraAdapter<B>>,
    /// Per adapter, its task's descriptions (empty for one-hot runs without given ones).
    pub descriptions: Vec<Vec<String>>,
}

/// Loads the library and descriptions a config names.
pub fn load_library<B: AutodiffBackend>(
    cfg: &ReconConfig,
    device: &B::Device,
) -> Result<Library<B>> {
    let mut adapters = Vec::new();
    let mut descriptions = Vec::new();
    let mut suite: Option<TaskSuite> = None;
    for t in &cfg.targets {
        adapters.push(load_peft::<B>(&t.adapter, device)?);
        if !t.descriptions.is_empty() || cfg.embedding == EmbeddingSource::OneHot {
            descriptions.push(t.descriptions.clone());
            continue;
        }
        if suite.is_none() {
            let root = match &cfg.data_dir {
                Some(d) => d.clone(),
                None => crate::data::tasks::data_root()?,
            };
            suite = Some(TaskSuite::open(&root.join("tasks"))?);
        }
        let info = suite.as_ref().unwrap().task(&t.name)?;
        descriptions.push(info.descriptions.clone());
    }
    Ok(Library {
        adapters,
        descriptions,
    })
}

/// Runs reconstruction training; writes `<out_dir>/hypermod/` (hypermod checkpoint),
/// `metrics.jsonl`, `checkpoints/`, `config.json`.
pub fn train_recon<B: AutodiffBackend>(
    cfg: &ReconConfig,
    resume: Option<&Path>,
    device: &B::Device,
) -> Result<ReconReport> {
    let Library {
        adapters,
        descriptions,
    } = load_library::<B>(cfg, device)?;
    let embeddings = TaskEmbeddings::build(&cfg.embedding, &descriptions, device)?;
    let (model, mut objective) = build_recon(&adapters, embeddings, cfg, device)?;
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
    let hypermod_dir = cfg.run.out_dir.join("hypermod");
    outcome.best.save(&hypermod_dir)?;
    let recon_l1 = reconstruction_l1(&outcome.best, &objective.embeddings, &adapters)?;
    Ok(ReconReport {
        hypermod_dir,
        steps: outcome.steps,
        best_val: outcome.best_val,
        recon_l1,
        metrics: outcome.metrics_path,
    })
}
