//! The compression experiments of the paper (Table 1, Figure 3) at SmolLM2 scale: a library of
//! task-specific ("oracle") LoRAs, reconstruction T2L hypernetworks that compress it, and the
//! benchmark accuracy of the base model, the oracles and the regenerated adapters.
//!
//! - [`args`]: the command line both example programs share (`--quick`, budgets, work dir).
//! - [`oracles`]: oracle LoRA SFT per task, reused across runs.
//! - [`library`]: the oracles with their tasks' training descriptions, as a reconstruction library.
//! - [`recon_variants`]: reconstruction T2L per variant (L/M/S × one-hot/descriptions), its L1
//!   error and the regenerated adapters.
//! - [`recon_curve`]: the reconstruction objective against steps (table and plot).
//! - [`cell_eval`]: one condition on one benchmark through the trainers' evaluator, cached.
//! - [`heldout_loss`]: the training loss of each condition on an oracle's held-back rows.
//! - [`oracle_match`]: how close the T2L rows come to the oracle row, with standard errors.
//! - [`cache`]: outcomes cached by the spec that produced them.
//!
//! Used by `examples/table1_recon.rs` and `examples/fig3_compression.rs`.

pub mod args;
pub mod cache;
pub mod cell_eval;
pub mod heldout_loss;
pub mod library;
pub mod oracle_match;
pub mod oracles;
pub mod recon_curve;
pub mod recon_variants;

use std::path::Path;

use serde::Serialize;
use trainers::config::{RunConfig, ScheduleConfig};
use trainers::eval::benchmark::Benchmark;

use crate::compression::cell_eval::Cell;
use crate::compression::oracles::OracleLora;
use crate::compression::recon_variants::ReconOutcome;

/// The measurements behind a compression result file (its JSON `numbers`).
#[derive(Debug, Serialize)]
pub struct Measurements<'a> {
    /// Benchmark columns.
    pub benchmarks: &'a [Benchmark],
    /// Row labels.
    pub rows: &'a [String],
    /// Cells, row by row.
    pub cells: &'a [Vec<Cell>],
    /// The oracle LoRAs.
    pub oracles: &'a [OracleLora],
    /// The reconstruction runs.
    pub reconstructions: &'a [ReconOutcome],
    /// Whether this was a `--quick` pipeline check.
    pub quick: bool,
}

/// The run settings of every training here: no periodic checkpoints, no early stopping.
fn run_config(
    seed: u64,
    steps: usize,
    out_dir: &Path,
    val_every: Option<usize>,
    progress: bool,
) -> RunConfig {
    RunConfig {
        seed,
        steps,
        out_dir: out_dir.to_path_buf(),
        val_every,
        checkpoint_every: None,
        early_stopping_patience: None,
        progress,
        stop_after_steps: None,
    }
}

impl<'a> Measurements<'a> {
    /// The measurements of a run, in field order.
    pub fn of(
        benchmarks: &'a [Benchmark],
        rows: &'a [String],
        cells: &'a [Vec<Cell>],
        oracles: &'a [OracleLora],
        reconstructions: &'a [ReconOutcome],
        quick: bool,
    ) -> Self {
        Self {
            benchmarks,
            rows,
            cells,
            oracles,
            reconstructions,
            quick,
        }
    }
}

/// 10 % linear warmup, then linear decay (§4.2).
fn warmup_tenth() -> ScheduleConfig {
    ScheduleConfig {
        warmup_frac: 0.1,
        warmup_steps: None,
    }
}
