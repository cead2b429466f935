//! `t2l eval --model PATH --benchmarks LIST [...]`: benchmark accuracies of a base model, with
//! context conditions, a PEFT adapter or T2L adapters, in the paper's table layout
//! (`trainers::eval`).

use std::path::{Path, PathBuf};

use base_llm::{BasePrecision, ModelBundle};
use burn::prelude::Backend;
use clap::Args;
use hypermod::HyperModulator;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lora_core::{LoraAdapter, load_peft, peft};
use serde::Serialize;
use trainers::data::chat::ChatEncoder;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::cloze::ClozePrompt;
use trainers::eval::descriptions::DescriptionSet;
use trainers::eval::protocol::Protocol;
use trainers::eval::report::{EvalReport, Score};
use trainers::eval::runner::{EvalOptions, Evaluator, Method};
use trainers::eval::sandbox::SandboxConfig;

use crate::cli::GlobalArgs;
use crate::commands::t2l_pipeline::open_pipeline;
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// `t2l eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The base model: a `.gguf` file, a Hugging Face directory, or a directory holding one `.gguf`.
    #[arg(long)]
    pub model: PathBuf,
    /// Comma-separated benchmarks (arc_challenge, arc_easy, boolq, gsm8k, hellaswag, openbookqa,
    /// piqa, winogrande, humaneval, mbpp) or `all`.
    #[arg(long)]
    pub benchmarks: String,
    /// Precision of the frozen base model's weights: f32, f16 or bf16 (products in that type:
    /// what pays on GPUs), f16-store or bf16-store (stored reduced, multiplied in f32). Adapters
    /// and hypernetworks stay f32.
    #[arg(long, default_value = "f32")]
    pub precision: BasePrecision,
    /// A PEFT adapter directory to evaluate (merged into the base model), as an extra row.
    #[arg(long, conflicts_with = "t2l")]
    pub adapter: Option<PathBuf>,
    /// A T2L checkpoint: adapters are generated from each description of the chosen sets.
    #[arg(long)]
    pub t2l: Option<PathBuf>,
    /// Description sets for --t2l, comma-separated: train, eval, other, random.
    #[arg(long, requires = "t2l", value_delimiter = ',', default_value = "eval")]
    pub descriptions: Vec<String>,
    /// The text-embedder directory for --t2l (default: the embedder the checkpoint records).
    #[arg(long, requires = "t2l")]
    pub embedder: Option<PathBuf>,
    /// Scoring, comma-separated: generate (the paper's: greedy generation + parsing), loglik
    /// (highest answer-label log-probability), cloze (highest log-probability per character of
    /// each choice's text, lm-eval style), both (= generate,loglik) or all (all three).
    #[arg(long, default_value = "both")]
    pub protocol: String,
    /// How the cloze protocol shows its contexts: raw (plain text, lm-eval's default) or chat
    /// (the context as the user turn, the choice as the start of the reply).
    #[arg(long, default_value = "raw", value_name = "raw|chat")]
    pub cloze_prompt: String,
    /// Add a row with the benchmark's task description prepended to every prompt.
    #[arg(long)]
    pub task_description: bool,
    /// Add a row with K in-context examples from the train split.
    #[arg(long, value_name = "K")]
    pub shots: Option<usize>,
    /// Examples per benchmark: a subsample seeded by --seed (default: the whole split).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Prompts per forward batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Most generated tokens for choice and yes/no answers.
    #[arg(long, default_value_t = 16)]
    pub max_new_tokens: usize,
    /// Most generated tokens for GSM8K and code.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens_long: usize,
    /// Seconds each HumanEval/MBPP program may run.
    #[arg(long, default_value_t = 10)]
    pub time_limit: u64,
    /// The folder holding `benchmarks/` and `tasks/` (default: $T2L_DATA or ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Write results.json (every example) and results.md (the tables) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `t2l eval --json` prints (per-example records are in `--out`'s results.json).
#[derive(Debug, Serialize)]
pub struct EvalSummary {
    /// Accuracies per method, benchmark and protocol.
    pub scores: Vec<Score>,
    /// The markdown tables, one per protocol (+ `cloze (sum)` when cloze ran).
    pub tables: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Where the results were written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
}

struct Eval<'a> {
    args: &'a EvalArgs,
    global: &'a GlobalArgs,
}

fn missing(path: &Path, what: &str) -> CliError {
    CliError::Input(format!("{}: no such {what}", path.display()))
}

impl BackendTask for Eval<'_> {
    type Output = EvalReport;

    fn run<B: Backend>(self, device: B::Device) -> Result<EvalReport, CliError> {
        let Eval { args, global } = self;
        let benchmarks = Benchmark::parse_list(&args.benchmarks)?;
        let protocols = Protocol::parse_set(&args.protocol)?;
        let cloze_prompt: ClozePrompt = args.cloze_prompt.parse()?;
        let sets = args
            .descriptions
            .iter()
            .map(|s| s.parse::<DescriptionSet>())
            .collect::<Result<Vec<_>, _>>()?;
        if args.limit == Some(0) || args.batch_size == 0 {
            return Err(CliError::Input(
                "--limit and --batch-size must be at least 1".into(),
            ));
        }
        if !args.model.exists() {
            return Err(missing(&args.model, "model file or directory"));
        }
        let data = match &args.data {
            Some(d) if d.join("benchmarks").is_dir() => d.clone(),
            Some(d) => return Err(missing(&d.join("benchmarks"), "benchmark directory")),
            None => trainers::data::tasks::data_root()?,
        };
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
        if let Some(dir) = &args.t2l
            && !dir.is_dir()
        {
            return Err(missing(dir, "T2L checkpoint directory"));
        }

        let bundle = ModelBundle::<B>::load_with(&args.model, &device, args.precision)?;
        let codec = ChatEncoder::new(bundle.tokenizer)?;
        let mut model = bundle.model;
        let adapter: Option<LoraAdapter<B>> = match &args.adapter {
            Some(dir) => {
                let a = load_peft::<B>(dir, &device)?;
                model.check_adapter_layout(a.layout())?;
                Some(a)
            }
            None => None,
        };
        let pipeline = match &args.t2l {
            Some(dir) => {
                let hyper =
                    HyperModulator::<B>::open(dir, &device).map_err(trainers::Error::from)?;
                model.check_adapter_layout(&hyper.config().layout)?;
                Some(open_pipeline(hyper, dir, args.embedder.as_deref(), &device)?.0)
            }
            None => None,
        };
        let generate = |d: &str| -> trainers::Result<LoraAdapter<B>> {
            let p = pipeline
                .as_ref()
                .ok_or_else(|| trainers::Error::config("t2l", "no checkpoint"))?;
            Ok(p.adapter(d)?)
        };

        let mut methods = vec![Method::Base];
        if args.task_description {
            methods.push(Method::TaskDescription);
        }
        if let Some(k) = args.shots {
            methods.push(Method::KShot(k));
        }
        if let (Some(a), Some(dir)) = (&adapter, &args.adapter) {
            let name = dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            methods.push(Method::Adapter { name, adapter: a });
        }
        if pipeline.is_some() {
            for &set in &sets {
                methods.push(Method::T2l {
                    set,
                    generate: &generate,
                });
            }
        }

        let options = EvalOptions {
            protocols,
            limit: args.limit,
            seed: global.seed,
            batch_size: args.batch_size,
            max_new_tokens: args.max_new_tokens.max(1),
            max_new_tokens_long: args.max_new_tokens_long.max(1),
            sandbox: SandboxConfig {
                time_limit: std::time::Duration::from_secs(args.time_limit.max(1)),
                ..SandboxConfig::default()
            },
            cloze_prompt,
            stop_at_choice: EvalOptions::default().stop_at_choice,
        };
        let bar = if global.quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} examples  eta {eta}",
                )
                .expect("valid template"),
            );
            bar
        };
        let report = Evaluator::new(&mut model, &codec, data, options)
            .with_progress(bar)
            .run(&args.model.display().to_string(), &benchmarks, &methods)?;
        if let Some(out) = &args.out {
            report.write(out)?;
        }
        Ok(report)
    }
}

/// Entry point of `t2l eval`.
pub fn run(args: &EvalArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let report = run_on(global.device, Eval { args, global })?;
    let tables = report.markdown_tables();
    if global.json {
        let summary = EvalSummary {
            scores: report.scores.clone(),
            tables,
            seconds: report.seconds,
            out: args.out.as_ref().map(|o| o.display().to_string()),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serialises")
        );
    } else {
        println!("{}", tables.join("\n"));
        if !global.quiet {
            eprintln!(
                "[{} examples scored in {:.1} s{}]",
                report.records.len(),
                report.seconds,
                args.out
                    .as_ref()
                    .map(|o| format!("; results in {}", o.display()))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}
