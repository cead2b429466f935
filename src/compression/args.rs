//! The command line of the compression examples and the two budgets it selects: `--quick` (a
//! pipeline check of a few minutes on 2 CPU cores) and the full run (about an hour on CPU).

use std::path::{Path, PathBuf};
use std::time::Instant;

use base_llm::Llama;
use burn::prelude::Backend;

use clap::Args;
use trainers::Result;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::codec::EvalCodec;
use trainers::eval::protocol::Protocol;
use trainers::eval::runner::EvalOptions;

use crate::compression::cell_eval::CellEvaluator;
use crate::compression::oracles::OracleSettings;
use crate::compression::recon_variants::ReconSettings;
use crate::results::{Report, RunMetadata};

/// Default peak learning rate of the reconstruction T2L. The paper's 1e-3 is for about a
/// million steps; in the thousand steps a CPU run affords, the z-score L1 falls about linearly
/// with the learning rate at 1e-3 (see `docs/results/table1_recon.md`), so the default is
/// higher.
pub const RECON_LR: f64 = 1e-2;

/// The full mode's benchmarks: the ones with short prompts (BoolQ passages and HellaSwag
/// contexts cost several times more per CPU step; add them with `--benchmarks` when time
/// allows).
pub const FULL_BENCHMARKS: &str = "arc_easy,arc_challenge,openbookqa,piqa,winogrande";

/// The `--quick` mode's benchmarks (a pipeline check: three oracles are enough to z-score).
pub const QUICK_BENCHMARKS: &str = "arc_easy,piqa,winogrande";

/// Sizes of one run mode; every field can be overridden on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Optimizer steps per oracle LoRA.
    pub oracle_steps: usize,
    /// Examples per oracle step.
    pub oracle_batch: usize,
    /// Training rows held back per oracle for its validation loss (0: none).
    pub oracle_val_rows: usize,
    /// Optimizer steps per reconstruction T2L.
    pub recon_steps: usize,
    /// Peak learning rate of the reconstruction T2L.
    pub recon_lr: f64,
    /// Training descriptions per task for description embeddings.
    pub descriptions_per_task: usize,
    /// Evaluation examples per benchmark (seeded subsample).
    pub limit: usize,
}

impl Budget {
    /// `--quick`: numbers are only a pipeline check.
    pub fn quick() -> Self {
        Self {
            oracle_steps: 2,
            oracle_batch: 2,
            oracle_val_rows: 0,
            recon_steps: 40,
            recon_lr: RECON_LR,
            descriptions_per_task: 4,
            limit: 4,
        }
    }

    /// The full run, sized for about an hour on 2 (lightly shared) CPU cores: oracles of 32
    /// steps × 4 examples (about 10 s a step), reconstructions of 1000 steps (about 0.6 s a
    /// step for M), 100 evaluation examples per benchmark (about 0.5 s each, loglik).
    pub fn full() -> Self {
        Self {
            oracle_steps: 32,
            oracle_batch: 4,
            oracle_val_rows: 16,
            recon_steps: 1000,
            recon_lr: RECON_LR,
            descriptions_per_task: 16,
            limit: 100,
        }
    }
}

/// Options shared by `table1_recon` and `fig3_compression`.
#[derive(Args, Debug, Clone)]
pub struct CompressionArgs {
    /// A few minutes on 2 CPU cores: few SFT steps, a handful of examples (a pipeline check).
    #[arg(long)]
    pub quick: bool,
    /// Work directory for trained oracles, hypernetworks and evaluation cells
    /// (default `train_outputs/table1`, `train_outputs/table1-quick` with --quick).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// The base model (GGUF file or Hugging Face directory).
    #[arg(
        long,
        default_value = "assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    pub model: PathBuf,
    /// The sentence encoder of description embeddings.
    #[arg(long, default_value = "assets/all-minilm-l6-v2")]
    pub embedder: PathBuf,
    /// Benchmarks with an oracle LoRA (their train splits) and an evaluation (default: the
    /// mode's, [`FULL_BENCHMARKS`] or [`QUICK_BENCHMARKS`]).
    #[arg(long, value_delimiter = ',')]
    pub benchmarks: Option<Vec<String>>,
    /// Optimizer steps per oracle LoRA (default: the mode's).
    #[arg(long)]
    pub oracle_steps: Option<usize>,
    /// Examples per oracle step (default: the mode's).
    #[arg(long)]
    pub oracle_batch: Option<usize>,
    /// Peak learning rate of the oracles (chosen by the oracles' validation loss on held-back
    /// train rows: 1e-3 lowers it within the CPU budget's few dozen steps).
    #[arg(long, default_value_t = 1e-3)]
    pub oracle_lr: f64,
    /// Optimizer steps per reconstruction T2L (default: the mode's).
    #[arg(long)]
    pub recon_steps: Option<usize>,
    /// Peak learning rate of the reconstruction T2L (default: the mode's).
    #[arg(long)]
    pub recon_lr: Option<f64>,
    /// Evaluation examples per benchmark (default: the mode's).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Scoring protocols, comma-separated: `generate`, `loglik`, `cloze`, `both` (generate +
    /// loglik) or `all`. The default scores the answer label's log-likelihood: with one-token
    /// labels the greedy first token of `generate` is that label (the two agreed in every cell
    /// of earlier runs), at a fraction of the cost.
    #[arg(long, default_value = "loglik")]
    pub protocols: String,
    /// Seed of training and evaluation subsamples.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the result files go.
    #[arg(long, default_value = "docs/results")]
    pub out: PathBuf,
    /// File stem of the results (default: the example's name).
    #[arg(long)]
    pub stem: Option<String>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl CompressionArgs {
    /// The mode's budget with the command line's overrides.
    pub fn budget(&self) -> Budget {
        let mut b = if self.quick {
            Budget::quick()
        } else {
            Budget::full()
        };
        if let Some(s) = self.oracle_steps {
            b.oracle_steps = s;
        }
        if let Some(s) = self.oracle_batch {
            b.oracle_batch = s;
        }
        if let Some(s) = self.recon_steps {
            b.recon_steps = s;
        }
        if let Some(lr) = self.recon_lr {
            b.recon_lr = lr;
        }
        if let Some(l) = self.limit {
            b.limit = l;
        }
        b
    }

    /// `--stem`, or `default`.
    pub fn stem_or<'s>(&'s self, default: &'s str) -> &'s str {
        self.stem.as_deref().unwrap_or(default)
    }

    /// `--work`, or the mode's default.
    pub fn work_dir(&self) -> PathBuf {
        self.work.clone().unwrap_or_else(|| {
            Path::new("train_outputs").join(if self.quick { "table1-quick" } else { "table1" })
        })
    }

    /// The benchmarks, parsed (`--benchmarks` or the mode's).
    pub fn benchmarks(&self) -> Result<Vec<Benchmark>> {
        match &self.benchmarks {
            Some(list) => Benchmark::parse_list(&list.join(",")),
            None if self.quick => Benchmark::parse_list(QUICK_BENCHMARKS),
            None => Benchmark::parse_list(FULL_BENCHMARKS),
        }
    }

    /// The oracle LoRA settings.
    pub fn oracle_settings(&self) -> OracleSettings {
        let b = self.budget();
        OracleSettings {
            model: self.model.clone(),
            steps: b.oracle_steps,
            batch_size: b.oracle_batch,
            lr: self.oracle_lr,
            max_len: 512,
            val_rows: b.oracle_val_rows,
            seed: self.seed,
        }
    }

    /// The reconstruction settings (§4.2: 4 tasks per batch; D 128, H 512; the mode's learning
    /// rate, see [`RECON_LR`]).
    pub fn recon_settings(&self) -> ReconSettings {
        let b = self.budget();
        ReconSettings {
            steps: b.recon_steps,
            tasks_per_batch: 4,
            lr: b.recon_lr,
            latent: 128,
            head_in: 512,
            embedder: self.embedder.clone(),
            seed: self.seed,
        }
    }

    /// The evaluation options: protocols, seeded subsample of `limit` examples.
    pub fn eval_options(&self) -> Result<EvalOptions> {
        Ok(EvalOptions {
            protocols: Protocol::parse_set(&self.protocols)?,
            limit: Some(self.budget().limit),
            seed: self.seed,
            ..EvalOptions::default()
        })
    }

    /// A cell evaluator over the base model with these evaluation options, caching cells in
    /// `WORK/eval/`.
    pub fn cell_evaluator<'a, B: Backend>(
        &self,
        model: &'a mut Llama<B>,
        codec: &'a dyn EvalCodec,
        data_root: &Path,
    ) -> Result<CellEvaluator<'a, B>> {
        Ok(CellEvaluator {
            model,
            codec,
            data_root: data_root.to_path_buf(),
            options: self.eval_options()?,
            cache_dir: self.work_dir().join("eval"),
            progress: !self.quiet,
        })
    }

    /// The metadata of this run (command, wall time since `started`, hardware, commit).
    pub fn run_metadata(&self, started: Instant) -> RunMetadata {
        RunMetadata::collect(started)
            .with_note("device: CPU, burn flex backend (dev profile, dependencies at opt-level 3)")
    }

    /// Writes `report` as `OUT/STEM.{md,json}` (`--stem` or `default_stem`) with this run's
    /// metadata; returns both paths.
    pub fn write_report(
        &self,
        report: &Report,
        default_stem: &str,
        started: Instant,
    ) -> crate::results::Result<(PathBuf, PathBuf)> {
        report.write(
            &self.out,
            self.stem_or(default_stem),
            &self.run_metadata(started),
        )
    }

    /// The line every result file starts with in quick mode.
    pub fn mode_note(&self) -> &'static str {
        if self.quick {
            "**--quick run: a pipeline check only.** A few SFT steps and a handful of evaluation \
             examples; the numbers say nothing about the method."
        } else if self.budget() != Budget::full() {
            "Reduced run: the full mode's budget was overridden on the command line (settings \
             below); read the numbers with the example counts in mind."
        } else {
            "Full run (CPU budget, see the settings below)."
        }
    }
}
