//! Phase timings of one SFT training step (burn has no profiler): data, adapter generation,
//! base-model forward, LM head + cross-entropy forward and backward, the rest of the backward,
//! and the optimizer step, each as wall and process-CPU seconds.
//!
//! The step is split where the trainers' loss splits ([`crate::loss::sft_loss`] =
//! [`grouped_hidden`] + [`head_loss`] per length group): the head runs on a detached copy of the
//! final hidden states, its backward gives `∂L/∂h`, and the trunk (and
//! hypernetwork) backward then runs from `Σ h·∂L/∂h` (+ the L2 term), which has the same
//! gradients as the fused loss. Every phase ends with a read of a scalar, so asynchronous
//! backends are synchronised before the clock stops.

use std::time::Instant;

use base_llm::{Adapters, TrainOptions};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypermod::{HyperModulator, Mode};
use serde::Serialize;

use crate::data::batch::HostBatch;
use crate::error::{Error, Result};
use crate::fit::micro_seed;
use crate::lora_sft::LoraSftObjective;
use crate::loss::{grouped_hidden, head_loss, padded_hidden};
use crate::optim::TrainOptimizer;
use crate::t2l_sft::{T2lSftObjective, l2_generated};
use crate::trainable_lora::TrainableLora;

/// One timed phase of a step.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What ran (`data`, `generate`, `trunk_forward`, `head_forward`, `head_backward`,
    /// `trunk_backward`, `optimizer`).
    pub name: &'static str,
    /// Wall seconds.
    pub wall_s: f64,
    /// CPU seconds of the whole process (all threads) during the phase.
    pub cpu_s: f64,
}

/// The phases of one step, in order, with the step's loss and size.
#[derive(Debug, Clone, Serialize)]
pub struct StepProfile {
    /// Timed phases.
    pub phases: Vec<Phase>,
    /// The step's loss (as the trainer would log it).
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real (non-padding) tokens of the batch.
    pub tokens: usize,
    /// Padded batch shape `[rows, seq]`.
    pub shape: [usize; 2],
    /// Longest length the base model ran at (the batch is run in length groups).
    pub trunk_seq: usize,
    /// Target (response) tokens: the rows the LM head runs on.
    pub targets: usize,
}

impl StepProfile {
    /// Total wall seconds of all phases.
    pub fn wall_s(&self) -> f64 {
        self.phases.iter().map(|p| p.wall_s).sum()
    }

    /// Total CPU seconds of all phases.
    pub fn cpu_s(&self) -> f64 {
        self.phases.iter().map(|p| p.cpu_s).sum()
    }
}

/// CPU seconds used by this process so far (all threads).
pub fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Records consecutive phases.
struct Clock {
    phases: Vec<Phase>,
    wall: Instant,
    cpu: f64,
}

impl Clock {
    fn start() -> Self {
        Self {
            phases: Vec::new(),
            wall: Instant::now(),
            cpu: process_cpu_seconds(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let (wall, cpu) = (Instant::now(), process_cpu_seconds());
        self.phases.push(Phase {
            name,
            wall_s: wall.duration_since(self.wall).as_secs_f64(),
            cpu_s: cpu - self.cpu,
        });
        (self.wall, self.cpu) = (wall, cpu);
    }
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().elem::<f64>()
}

/// The shared part of both profiles: trunk forward → head forward/backward → trunk backward →
/// optimizer. `extra` is a loss term (already weighted) added to the head loss, e.g. the L2
/// penalty on generated weights.
#[allow(clippy::too_many_arguments)]
fn timed_backbone_step<B: AutodiffBackend, M: AutodiffModule<B>>(
    clock: &mut Clock,
    llm: &base_llm::Llama<B>,
    batch: &HostBatch,
    adapters: Adapters<'_, B>,
    options: TrainOptions,
    label_smoothing: f64,
    extra: Option<Tensor<B, 1>>,
    model: M,
    optim: &mut TrainOptimizer<B, M>,
    lr: f64,
    padded: bool,
) -> Result<(M, StepProfile)> {
    let groups = if padded {
        vec![(batch.clone(), padded_hidden(llm, batch, adapters, options)?)]
    } else {
        grouped_hidden(llm, batch, adapters, options)?
    };
    let seq = groups.iter().map(|(b, _)| b.seq).max().unwrap_or(0);
    for (_, h) in &groups {
        scalar(h.clone().slice([0..1, 0..1, 0..1]).reshape([1]));
    }
    clock.lap("trunk_forward");

    let leaves: Vec<Tensor<B, 3>> = groups
        .iter()
        .map(|(_, h)| h.clone().detach().require_grad())
        .collect();
    let mut head: Option<Tensor<B, 1>> = None;
    for ((sub, _), leaf) in groups.iter().zip(&leaves) {
        let l = head_loss(llm, leaf.clone(), sub, label_smoothing)?;
        head = Some(match head {
            Some(t) => t + l,
            None => l,
        });
    }
    let head = head.ok_or_else(|| Error::data("batch", "no target token"))?;
    let head_value = scalar(head.clone());
    clock.lap("head_forward");

    let head_grads = head.backward();
    let mut surrogate: Option<Tensor<B, 1>> = None;
    for ((_, h), leaf) in groups.into_iter().zip(&leaves) {
        let dh = leaf
            .grad(&head_grads)
            .ok_or_else(|| Error::data("hidden states", "no gradient reached the LM head input"))?;
        scalar(dh.clone().slice([0..1, 0..1, 0..1]).reshape([1]));
        let term = (h * Tensor::from_inner(dh)).sum();
        surrogate = Some(match surrogate {
            Some(t) => t + term,
            None => term,
        });
    }
    let mut surrogate = surrogate.ok_or_else(|| Error::data("batch", "no target token"))?;
    clock.lap("head_backward");

    let mut loss = head_value;
    if let Some(extra) = extra {
        loss += scalar(extra.clone());
        surrogate = surrogate + extra;
    }
    if !loss.is_finite() {
        return Err(Error::NonFinite { step: 0, loss });
    }
    let grads = GradientsParams::from_grads(surrogate.backward(), &model);
    clock.lap("trunk_backward");

    optim.accumulate(&model, grads);
    let (model, grad_norm) = optim.step(lr, model);
    clock.lap("optimizer");
    Ok((
        model,
        StepProfile {
            phases: std::mem::take(&mut clock.phases),
            loss,
            grad_norm,
            tokens: batch.n_tokens(),
            shape: [batch.batch, batch.seq],
            trunk_seq: seq,
            targets: batch.target_positions.len(),
        },
    ))
}

/// One T2L SFT optimizer step (one micro-batch) of `objective` at `step`, timed by phase.
/// Seeds the backend generator as [`crate::fit::fit`] does; returns the updated hypernetwork.
/// `padded` runs the base model on the whole padded batch ([`crate::loss::sft_loss_padded`]'s
/// layout) instead of length groups (what training does).
pub fn profile_t2l_sft_step<B: AutodiffBackend>(
    objective: &T2lSftObjective<B>,
    model: HyperModulator<B>,
    optim: &mut TrainOptimizer<B, HyperModulator<B>>,
    seed: u64,
    step: usize,
    lr: f64,
    padded: bool,
) -> Result<(HyperModulator<B>, StepProfile)> {
    let device = objective.llm().device();
    B::seed(&device, micro_seed(seed, step, 0));
    let mut clock = Clock::start();
    let (rows, batch) = objective.training_rows(step, 0)?;
    scalar(rows.clone().sum());
    clock.lap("data");

    let adapters = model.forward(rows, Mode::Train)?;
    let l2 = objective.l2_weight();
    let extra = (l2 > 0.0).then(|| l2_generated(&adapters).mul_scalar(l2));
    if let Some(e) = &extra {
        scalar(e.clone());
    }
    clock.lap("generate");

    timed_backbone_step(
        &mut clock,
        objective.llm(),
        &batch,
        Adapters::PerRow(&adapters),
        objective.train_options(),
        objective.label_smoothing(),
        extra,
        model,
        optim,
        lr,
        padded,
    )
}

/// One LoRA SFT optimizer step (one micro-batch) of `objective` at `step`, timed by phase
/// (`padded` as in [`profile_t2l_sft_step`]).
pub fn profile_lora_sft_step<B: AutodiffBackend>(
    objective: &LoraSftObjective<B>,
    model: TrainableLora<B>,
    optim: &mut TrainOptimizer<B, TrainableLora<B>>,
    seed: u64,
    step: usize,
    lr: f64,
    padded: bool,
) -> Result<(TrainableLora<B>, StepProfile)> {
    let device = objective.llm().device();
    B::seed(&device, micro_seed(seed, step, 0));
    let mut clock = Clock::start();
    let batch = objective.training_batch(step, 0)?;
    clock.lap("data");
    let adapter = model.to_adapter()?;
    clock.lap("generate");
    timed_backbone_step(
        &mut clock,
        objective.llm(),
        &batch,
        Adapters::Single(&adapter),
        objective.train_options(),
        objective.label_smoothing(),
        None,
        model,
        optim,
        lr,
        padded,
    )
}
