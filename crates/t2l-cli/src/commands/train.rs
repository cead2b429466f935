//! `t2l train lora|recon|sft --config FILE [--resume DIR]`: the trainers of the `trainers` crate.
//!
//! `--steps`, `--out` and an explicitly given `--seed` override the config's `run.steps`,
//! `run.out_dir` and `run.seed`; `--quiet` turns the progress bar off (it is also hidden when
//! stderr is not a terminal).

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
    /// `--seed`, when it was given on the command line (its default does not override the
    /// config's seed).
    seed: Option<u64>,
}

/// Whether `--seed` appears on the command line (`--seed N` or `--seed=N`).
fn seed_given(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .take_while(|a| a != "--")
        .any(|a| a == "--seed" || a.to_string_lossy().starts_with("--seed="))
}

impl Train<'_> {
    fn adjust(&self, run: &mut RunConfig) {
        if let Some(s) = self.args.steps {
            run.steps = s;
        }
        if let Some(o) = &self.args.out {
            run.out_dir = o.clone();
        }
        if let Some(seed) = self.seed {
            run.seed = seed;
        }
        if self.quiet {
            run.progress = false;
        }
    }
}

/// Loads a config, with parse errors on one line (the TOML parser's message quotes the offending
/// source lines under the error; they are dropped, the position and reason kept).
fn load<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, CliError> {
    load_config(path).map_err(|e| CliError::Input(one_line(&e.to_string())))
}

/// `message` without source-snippet lines (`  |`, `2 | text`, `  ^^^`), the rest joined by `; `.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| {
            let snippet = l.starts_with('|')
                || l.starts_with('^')
                || l.split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()));
            !l.is_empty() && !snippet
        })
        .collect::<Vec<_>>()
        .join("; ")
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
                let mut cfg: LoraSftConfig = load(path)?;
                self.adjust(&mut cfg.run);
                to_json(&train_lora::<Autodiff<B>>(&cfg, resume, &device)?)
            }
            TrainKind::Recon => {
                let mut cfg: ReconConfig = load(path)?;
                self.adjust(&mut cfg.run);
                to_json(&train_recon::<Autodiff<B>>(&cfg, resume, &device)?)
            }
            TrainKind::Sft => {
                let mut cfg: T2lSftConfig = load(path)?;
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
            seed: seed_given(std::env::args_os()).then_some(global.seed),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_given_only_when_named() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(seed_given(args(&["t2l", "train", "lora", "--seed", "3"])));
        assert!(seed_given(args(&["t2l", "--seed=3", "train"])));
        assert!(!seed_given(args(&["t2l", "train", "lora", "--steps", "3"])));
        assert!(!seed_given(args(&["t2l", "train", "--", "--seed"])));
    }

    #[test]
    fn toml_errors_lose_their_source_snippet() {
        let msg = "c.toml: invalid TOML: TOML parse error at line 2, column 1\n  |\n2 | stepz = 3\n  | ^^^^^\nunknown field `stepz`, expected one of `seed`\n";
        assert_eq!(
            one_line(msg),
            "c.toml: invalid TOML: TOML parse error at line 2, column 1; unknown field `stepz`, expected one of `seed`"
        );
        assert_eq!(one_line("plain"), "plain");
    }
}
