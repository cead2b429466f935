//! `t2l run --model PATH --prompt TEXT`: a continuation from a base model, optionally through its
//! chat template and with an adapter merged in: a PEFT directory, or one a T2L checkpoint generates
//! from a task description on the fly (`--t2l CKPT --description TEXT`); `--compare` also shows the
//! base model's answer.

use std::path::PathBuf;

use base_llm::{
    Adapters, BasePrecision, Completion, FinishReason, GenerationConfig, ModelBundle, Prompt,
};
use burn::prelude::Backend;
use clap::Args;
use hypermod::HyperModulator;
use lora_core::{LoraAdapter, load_peft, peft};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::commands::t2l_pipeline::open_pipeline;
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// `t2l run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The base model: a `.gguf` file, a Hugging Face directory (config.json, safetensors,
    /// tokenizer.json) or a directory holding one `.gguf`.
    #[arg(long)]
    pub model: PathBuf,
    /// The text to continue (with `--chat`: the user's message).
    #[arg(long)]
    pub prompt: String,
    /// Render the prompt with the model's chat template (user turn + generation prompt).
    #[arg(long)]
    pub chat: bool,
    /// A system message for the chat template (needs `--chat`).
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    /// A PEFT LoRA adapter directory, merged into the model before generating.
    #[arg(long, conflicts_with = "t2l")]
    pub adapter: Option<PathBuf>,
    /// A T2L checkpoint directory: generates an adapter from --description and merges it.
    #[arg(long, requires = "description")]
    pub t2l: Option<PathBuf>,
    /// The task, in one sentence, for --t2l.
    #[arg(long, requires = "t2l")]
    pub description: Option<String>,
    /// The text-embedder directory for --t2l (default: the embedder the checkpoint records).
    #[arg(long, requires = "t2l")]
    pub embedder: Option<PathBuf>,
    /// Also answer with the base model, and show both answers (needs --adapter or --t2l).
    #[arg(long)]
    pub compare: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Greedy decoding (the default when no --temperature is given).
    #[arg(long, conflicts_with_all = ["temperature", "top_p"])]
    pub greedy: bool,
    /// Sampling temperature (> 0), seeded by --seed.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass in (0, 1] (needs --temperature).
    #[arg(long, requires = "temperature")]
    pub top_p: Option<f32>,
    /// Precision of the frozen base model's weights: f32, f16 or bf16 (products in that type:
    /// what pays on GPUs), f16-store or bf16-store (stored reduced, multiplied in f32). Adapters
    /// and hypernetworks stay f32.
    #[arg(long, default_value = "f32")]
    pub precision: BasePrecision,
}

/// What `t2l run --json` prints.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The generated text (special tokens left out).
    pub text: String,
    /// Generated token ids (the stop token included when there was one).
    pub token_ids: Vec<u32>,
    /// Number of prompt tokens.
    pub prompt_tokens: usize,
    /// `"eos"`, `"stop_string"`, `"max_new_tokens"` or `"context_full"`.
    pub finish_reason: &'static str,
    /// Generated tokens per second (prefill included).
    pub tokens_per_second: f64,
    /// Prompt tokens per second of the prefill.
    pub prefill_tokens_per_second: f64,
    /// Tokens per second of the decode steps.
    pub decode_tokens_per_second: f64,
}

impl RunReport {
    fn new(c: &Completion) -> Self {
        Self {
            text: c.text.clone(),
            token_ids: c.token_ids.clone(),
            prompt_tokens: c.prompt_ids.len(),
            finish_reason: match c.finish_reason {
                FinishReason::StopToken(_) => "eos",
                FinishReason::StopString(_) => "stop_string",
                FinishReason::MaxTokens => "max_new_tokens",
                FinishReason::ContextFull => "context_full",
            },
            tokens_per_second: c.tokens_per_second(),
            prefill_tokens_per_second: c.prefill_tokens_per_second(),
            decode_tokens_per_second: c.decode_tokens_per_second(),
        }
    }
}

/// The generation settings the arguments ask for.
fn generation_config(args: &RunArgs, seed: u64) -> Result<GenerationConfig, CliError> {
    if args.max_new_tokens == 0 {
        return Err(CliError::Input(
            "--max-new-tokens must be at least 1".into(),
        ));
    }
    match args.temperature {
        Some(t) if !(t > 0.0 && t.is_finite()) => Err(CliError::Input(format!(
            "--temperature must be a positive number, got {t}"
        ))),
        _ if args.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) => Err(CliError::Input(format!(
            "--top-p must be in (0, 1], got {}",
            args.top_p.unwrap_or_default()
        ))),
        temperature => Ok(GenerationConfig {
            max_new_tokens: args.max_new_tokens,
            temperature: if args.greedy { None } else { temperature },
            top_p: args.top_p.unwrap_or(1.0),
            seed,
            ..GenerationConfig::default()
        }),
    }
}

struct Run<'a>(&'a RunArgs, &'a GlobalArgs);

impl BackendTask for Run<'_> {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) -> Result<(), CliError> {
        let Run(args, global) = self;
        let config = generation_config(args, global.seed)?;
        if !args.model.exists() {
            return Err(CliError::Input(format!(
                "{}: no such file or directory",
                args.model.display()
            )));
        }
        if let Some(dir) = &args.adapter
            && !peft::is_peft_dir(dir)
        {
            return Err(CliError::Input(format!(
                "{}: not a PEFT adapter directory (expected {} and {})",
                dir.display(),
                peft::WEIGHTS_FILE,
                peft::CONFIG_FILE
            )));
        }
        if args.compare && args.adapter.is_none() && args.t2l.is_none() {
            return Err(CliError::Input(
                "--compare needs an adapter: --adapter DIR or --t2l CKPT --description TEXT".into(),
            ));
        }
        let mut bundle = ModelBundle::<B>::load_with(&args.model, &device, args.precision)?;
        let adapter: Option<LoraAdapter<B>> = match (&args.adapter, &args.t2l, &args.description) {
            (Some(dir), _, _) => Some(load_peft::<B>(dir, &device)?),
            (None, Some(ckpt), Some(description)) => {
                let hyper = HyperModulator::<B>::open(ckpt, &device)?;
                // A checkpoint for another model fails here, before its embedder is looked for.
                bundle.model.check_adapter_layout(&hyper.config().layout)?;
                let (pipeline, _) = open_pipeline(hyper, ckpt, args.embedder.as_deref(), &device)?;
                Some(pipeline.adapter(description)?)
            }
            _ => None,
        };
        let prompt = if args.chat {
            Prompt::chat(args.system.as_deref(), &args.prompt)
        } else {
            Prompt::Text(args.prompt.clone())
        };
        let base = if args.compare {
            Some(RunReport::new(&bundle.complete(
                &prompt,
                &config,
                Adapters::None,
            )?))
        } else {
            None
        };
        if let Some(adapter) = &adapter {
            bundle.model.merge_adapter(adapter)?;
        }
        let report = RunReport::new(&bundle.complete(&prompt, &config, Adapters::None)?);
        match (&base, global.json) {
            (Some(base), true) => {
                println!("{}", serde_json::json!({ "base": base, "adapted": report }))
            }
            (None, true) => println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("report serialises")
            ),
            (Some(base), false) => {
                println!("--- base model ---\n{}", base.text);
                println!("--- with the adapter ---\n{}", report.text);
            }
            (None, false) => println!("{}", report.text),
        }
        if !global.json && !global.quiet {
            eprintln!(
                "[{} prompt + {} generated tokens, {:.1} tokens/s ({:.1} prefill, {:.1} decode), stop: {}]",
                report.prompt_tokens,
                report.token_ids.len(),
                report.tokens_per_second,
                report.prefill_tokens_per_second,
                report.decode_tokens_per_second,
                report.finish_reason
            );
        }
        Ok(())
    }
}

/// Entry point of `t2l run`.
pub fn run(args: &RunArgs, global: &GlobalArgs) -> Result<(), CliError> {
    run_on(global.device, Run(args, global))
}
