//! `t2l train lora|recon|sft --config FILE [--resume DIR]`: the trainers of the `trainers` crate.

use std::path::PathBuf;

use burn::backend::Autodiff;
use burn::prelude::Backend;
use clap::{Args, ValueEnum};
use serde::Serialize;
use trainers::config::{RunConfig, load_config};
use trainers::lora_sft::{LoraSftConfig, train_lora};
use trainers::recon::{ReconConfig, train_recon};
use trainers::t2l_sft::{T2lSftConfig, train_t2l_sft};

use crate::cli::GlobalArgs;
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainKind {
    /// A task-specific or multi-task LoRA (PEFT adapter out).
    Lora,
    /// A T2L hypernetwork reconstructing a library of PEFT adapters.
    Recon,
    /// A T2L hypernetwork trained by SFT through the frozen base model.
    Sft,
}

/// `t2l train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// What to train.
    pub kind: TrainKind,
    /// The run's config (TOML, or JSON when the name ends in `.json`); see docs/trainers.md.
    #[arg(long)]
    pub config: PathBuf,
    /// Continue a run: its output directory or one of its checkpoints.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Override `run.steps`.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Override `run.out_dir`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

struct Train<'a> {
    args: &'a TrainArgs,
    quiet: bool,
}

impl Train<'_> {
    fn adjust(&self, run: &mut RunConfig) {
        if let Some(s) = self.args.steps {
            run.steps = s;
        }
        if let Some(o) = &self.args.out {
            run.out_dir = o.clone();
        }
        if self.quiet {
            run.progress = false;
        }
    }
}

fn to_json<T: Serialize>(report: &T) -> serde_json::Value {
    serde_json::to_value(report).expect("reports serialise")
}

impl BackendTask for Train<'_> {
    type Output = serde_json::Value;

    fn run<B: Backend>(self, device: B::Device) -> Result<Self::Output, CliError> {
        let resume = self.args.resume.as_deref();
        let path = &self.args.config;
        Ok(match self.args.kind {
            TrainKind::Lora => {
                let mut cfg: LoraSftConfig = load_config(path)?;
                self.adjust(&mut cfg.run);
                to_json(&train_lora::<Autodiff<B>>(&cfg, resume, &device)?)
            }
            TrainKind::Recon => {
                let mut cfg: ReconConfig = load_config(path)?;
                self.adjust(&mut cfg.run);
                to_json(&train_recon::<Autodiff<B>>(&cfg, resume, &device)?)
            }
            TrainKind::Sft => {
                let mut cfg: T2lSftConfig = load_config(path)?;
                self.adjust(&mut cfg.run);
                to_json(&train_t2l_sft::<Autodiff<B>>(&cfg, resume, &device)?)
            }
        })
    }
}

/// Runs `t2l train`.
pub fn run(args: &TrainArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let report = run_on(
        global.device,
        Train {
            args,
            quiet: global.quiet,
        },
    )?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else if let Some(map) = report.as_object() {
        for (k, v) in map {
            println!("{k}: {v}");
        }
    }
    Ok(())
}
