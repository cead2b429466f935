//! The training loop every trainer shares: micro-batches → gradient accumulation → global clip →
//! AdamW at the scheduled rate, metrics, progress, periodic validation, early stopping,
//! checkpoints and resume.
//!
//! A trainer supplies an [`Objective`]: the loss of micro-batch `micro` of step `step`, which must
//! be a pure function of the run's seed, the step numbers and the model. The loop seeds the
//! backend's generator from `(seed, step, micro)` before each micro-batch, so dropout and noise
//! draws are also reproducible, and a resumed run logs the same numbers as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::checkpoint::{TrainState, load_checkpoint, resolve_checkpoint, save_checkpoint};
use crate::config::{OptimConfig, RunConfig, ScheduleConfig};
use crate::error::{Error, Result};
use crate::metrics::{MetricsRecord, MetricsWriter};
use crate::optim::TrainOptimizer;
use crate::progress::Progress;
use crate::schedule::LinearSchedule;

/// The loss of one micro-batch.
pub struct MicroBatchLoss<B: Backend> {
    /// The scalar loss to minimise (`[1]`).
    pub loss: Tensor<B, 1>,
    /// Tokens (or target elements) in the micro-batch, for throughput.
    pub tokens: usize,
}

/// What a trainer contributes to [`fit`].
pub trait Objective<B: AutodiffBackend> {
    /// The trainable module (only its parameters get gradients and optimizer state).
    type Model: AutodiffModule<B>;

    /// Trainer name stored in checkpoints (`lora`, `recon`, `sft`).
    fn name(&self) -> &'static str;

    /// The loss of micro-batch `micro` of optimizer step `step` (both 0-based).
    fn loss(&mut self, model: &Self::Model, step: usize, micro: usize)
    -> Result<MicroBatchLoss<B>>;

    /// The mean validation loss, or `None` when the objective has no validation data.
    fn validate(&mut self, model: &Self::Model) -> Result<Option<f64>>;
}

/// How a [`fit`] ended.
pub struct FitOutcome<M> {
    /// The model after the last step.
    pub model: M,
    /// The model with the best validation loss (the last one when there was no validation).
    pub best: M,
    /// Optimizer steps completed.
    pub steps: usize,
    /// Best validation loss.
    pub best_val: Option<f64>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The metrics file.
    pub metrics_path: PathBuf,
}

/// The seed of micro-batch `micro` of step `step`: distinct, stable streams per micro-batch.
pub fn micro_seed(seed: u64, step: usize, micro: usize) -> u64 {
    // SplitMix64 finaliser over the packed position.
    let mut z = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (micro as u64).wrapping_mul(0xD1B5_4A32_D192_ED69);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Everything [`fit`] needs besides the objective and model.
pub struct FitConfig<'a> {
    /// Optimizer settings.
    pub optim: &'a OptimConfig,
    /// Learning-rate schedule.
    pub schedule: &'a ScheduleConfig,
    /// Run length, intervals and output directory.
    pub run: &'a RunConfig,
    /// A checkpoint (or run directory) to continue from.
    pub resume: Option<&'a Path>,
}

/// Trains `model` on `objective`.
///
/// Writes `metrics.jsonl` and `checkpoints/` under `run.out_dir`. With `resume`, the model and
/// optimizer are restored from the checkpoint, metrics after the checkpoint's step are dropped,
/// and training continues at the next step.
pub fn fit<B: AutodiffBackend, O: Objective<B>>(
    objective: &mut O,
    model: O::Model,
    cfg: FitConfig<'_>,
    device: &B::Device,
) -> Result<FitOutcome<O::Model>> {
    cfg.optim.validate()?;
    cfg.schedule.validate()?;
    cfg.run.validate()?;
    let run = cfg.run;
    std::fs::create_dir_all(&run.out_dir).map_err(|e| Error::io(&run.out_dir, e))?;
    let metrics_path = run.out_dir.join("metrics.jsonl");
    let mut optim = TrainOptimizer::<B, O::Model>::new(cfg.optim);
    let mut model = model;
    let mut best = model.clone();
    let mut state = TrainState {
        trainer: objective.name().to_string(),
        step: 0,
        seed: run.seed,
        total_steps: run.steps,
        elapsed_s: 0.0,
        best_val: None,
        vals_since_best: 0,
        stopped_early: false,
    };
    let mut metrics = match cfg.resume {
        Some(path) => {
            let dir = resolve_checkpoint(path)?;
            let loaded = load_checkpoint(&dir, model, optim, device)?;
            let s = loaded.state;
            if s.trainer != state.trainer || s.seed != run.seed || s.total_steps != run.steps {
                return Err(Error::checkpoint(
                    &dir,
                    format!(
                        "written by trainer `{}` (seed {}, {} steps); this run is `{}` (seed {}, {} steps)",
                        s.trainer, s.seed, s.total_steps, state.trainer, run.seed, run.steps
                    ),
                ));
            }
            (model, best, optim, state) = (loaded.model, loaded.best, loaded.optim, s);
            MetricsWriter::resume(&metrics_path, state.step)?
        }
        None => {
            // A fresh run starts a fresh metrics file.
            std::fs::write(&metrics_path, b"").map_err(|e| Error::io(&metrics_path, e))?;
            MetricsWriter::append(&metrics_path)?
        }
    };
    let schedule = LinearSchedule::new(cfg.optim.lr, cfg.schedule.warmup(run.steps), run.steps);
    let accum = cfg.optim.grad_accum_steps;
    let progress = Progress::new(run.steps, state.step, run.progress);
    let segment_start = Instant::now();
    let base_elapsed = state.elapsed_s;
    let elapsed = |start: &Instant| base_elapsed + start.elapsed().as_secs_f64();

    let validate = |objective: &mut O,
                    model: &O::Model,
                    state: &mut TrainState,
                    metrics: &mut MetricsWriter,
                    best: &mut O::Model|
     -> Result<()> {
        let Some(v) = objective.validate(model)? else {
            return Ok(());
        };
        metrics.write(&MetricsRecord {
            step: state.step,
            val_loss: Some(v),
            elapsed_s: elapsed(&segment_start),
            ..Default::default()
        })?;
        progress.println(&format!("step {}: validation loss {v:.5}", state.step));
        if state.best_val.is_none_or(|b| v < b) {
            state.best_val = Some(v);
            state.vals_since_best = 0;
            *best = model.clone();
        } else {
            state.vals_since_best += 1;
        }
        Ok(())
    };

    if state.step == 0 && run.val_every.is_some() {
        validate(objective, &model, &mut state, &mut metrics, &mut best)?;
    }
    let segment_first = state.step;
    while state.step < run.steps && !state.stopped_early {
        if run
            .stop_after_steps
            .is_some_and(|n| state.step >= segment_first + n)
        {
            break;
        }
        let step = state.step;
        let t0 = Instant::now();
        let lr = schedule.lr(step);
        let mut loss_sum = 0.0;
        let mut tokens = 0;
        for micro in 0..accum {
            B::seed(device, micro_seed(run.seed, step, micro));
            let out = objective.loss(&model, step, micro)?;
            let loss = if accum > 1 {
                out.loss.div_scalar(accum as f64)
            } else {
                out.loss
            };
            let value = loss.clone().into_scalar().elem::<f64>() * accum as f64;
            if !value.is_finite() {
                return Err(Error::NonFinite { step, loss: value });
            }
            loss_sum += value;
            tokens += out.tokens;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            optim.accumulate(&model, grads);
        }
        let (m, grad_norm) = optim.step(lr, model);
        model = m;
        state.step += 1;
        let loss = loss_sum / accum as f64;
        let dt = t0.elapsed().as_secs_f64();
        metrics.write(&MetricsRecord {
            step: state.step,
            loss: Some(loss),
            lr: Some(lr),
            grad_norm: Some(grad_norm),
            tokens: Some(tokens),
            tokens_per_s: Some(tokens as f64 / dt.max(1e-9)),
            elapsed_s: elapsed(&segment_start),
            ..Default::default()
        })?;
        progress.update(state.step, &format!("loss {loss:.4} lr {lr:.2e}"));

        let last = state.step == run.steps;
        if let Some(every) = run.val_every
            && (state.step.is_multiple_of(every) || last)
        {
            validate(objective, &model, &mut state, &mut metrics, &mut best)?;
            if let Some(patience) = run.early_stopping_patience
                && state.vals_since_best >= patience
            {
                state.stopped_early = true;
                progress.println(&format!(
                    "early stopping at step {}: {patience} validations without improvement",
                    state.step
                ));
            }
        }
        if run.val_every.is_none() {
            // No validation: the best model is the latest (so `best.bin` never stays the
            // initial model).
            best = model.clone();
        }
        let periodic = run
            .checkpoint_every
            .is_some_and(|every| state.step.is_multiple_of(every));
        if periodic || last || state.stopped_early {
            state.elapsed_s = elapsed(&segment_start);
            save_checkpoint(&run.out_dir, &model, &best, &optim, &state)?;
        }
    }
    progress.finish();
    if run.val_every.is_none() {
        best = model.clone();
    }
    Ok(FitOutcome {
        model,
        best,
        steps: state.step,
        best_val: state.best_val,
        stopped_early: state.stopped_early,
        metrics_path,
    })
}
