//! Zero-shot LoRA generation (paper Table 2) at SmolLM2-135M scale.
//!
//! Trains T2L hypernetworks (L, M, S heads) by SFT on the training tasks of the task suite
//! (`split_role = "train"`; the held-out tasks and the benchmarks are never trained on), then
//! evaluates on the benchmarks, generating each benchmark's adapters from its three held-out
//! `eval` descriptions, against the paper's baselines:
//!
//! | row | what |
//! |---|---|
//! | base model | SmolLM2-135M-Instruct, zero-shot |
//! | base + task description | the benchmark's first training description prepended to each prompt |
//! | 3-shot ICL | three seeded train-split examples before each prompt |
//! | average LoRA | the element-wise mean of the A and B matrices of task-specific ("oracle") LoRAs trained on a few *training* tasks of the suite (`--oracle-tasks`) |
//! | multi-task LoRA | one LoRA trained on all training tasks with the T2L runs' data, batches, steps and schedule |
//! | T2L-L/M/S (eval descriptions) | one adapter per held-out description, the cell is the mean over them |
//! | Hyperdecoders-M (per-input adapters) | a T2L-M trained with the same recipe but conditioned on each training row's own input (reference `--use_inp_as_desc`); evaluated with one adapter per example, generated from the example's prompt |
//!
//! Every protocol of the harness is scored (`generate`: greedy answer + the reference's parsing,
//! the paper's; `loglik`: the answer label with the highest log-likelihood; `cloze`: the choice
//! text with the highest log-likelihood per character), and for T2L the spread over the three
//! descriptions (mean ± sample std, min–max of the benchmark average). Each row's average over
//! the benchmarks is also given with its standard error (examples as the sampling units,
//! `EvalReport::mean_with_error`).
//!
//! Trained artefacts are cached under `--work` (one directory per run, keyed by its full
//! config): a rerun reuses them and only evaluates. Everything is seeded (training seed from the
//! config, `--eval-seed` for subsamples and shots), so a rerun gives the same numbers.
//!
//! ```text
//! # pipeline check, a few minutes on 2 CPU cores (numbers meaningless)
//! cargo run --example table2_zeroshot -- --quick
//! # the full CPU run (about an hour on 2 idle cores)
//! cargo run --example table2_zeroshot
//! # larger budgets
//! cargo run --example table2_zeroshot -- --t2l-steps 200 --limit 100 --benchmarks all
//! ```
//!
//! Writes `<out>/table2_zeroshot[_quick].{md,json}` (tables, spread, run metadata) and the full
//! per-example evaluation records to `<work>/<mode>/eval/results.json`.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base_llm::ModelBundle;
use burn::backend::{Autodiff, Flex};
use clap::Parser;
use hypermod::pipeline::Pipeline;
use hypermod::{HyperModulator, Variant};
use indicatif::{ProgressBar, ProgressStyle};
use lora_core::{LoraAdapter, average, load_peft};
use serde::Serialize;
use text_embed::BertEmbedder;
use text_to_lora::compression::cache::cached;
use text_to_lora::compression::oracles::{OracleSettings, OracleTask, train_oracle};
use text_to_lora::description_spread::{per_description, spread_markdown};
use text_to_lora::results::{Report, RunMetadata};
use trainers::config::load_config;
use trainers::data::chat::ChatEncoder;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::descriptions::DescriptionSet;
use trainers::eval::protocol::Protocol;
use trainers::eval::report::EvalReport;
use trainers::eval::runner::{EvalOptions, Evaluator, Method};
use trainers::lora_sft::{LoraSftConfig, train_lora};
use trainers::model_source::ModelSource;
use trainers::step_profile::process_cpu_seconds;
use trainers::t2l_sft::{Conditioning, T2lSftConfig, train_t2l_sft};
use trainers::task_embeddings::EmbeddingSource;

type Train = Autodiff<Flex>;
type Infer = Flex;
type AnyResult<T> = Result<T, Box<dyn Error>>;

/// Zero-shot LoRA generation (paper Table 2) on SmolLM2-135M-Instruct.
#[derive(Parser, Debug)]
#[command(about, long_about = None)]
struct Args {
    /// Pipeline check: a few steps, 2 benchmarks, 3 examples each; the numbers mean nothing.
    #[arg(long)]
    quick: bool,
    /// The T2L SFT recipe (the multi-task LoRA shares its data, steps and schedule).
    #[arg(long, default_value = "configs/table2_t2l_sft.toml")]
    config: PathBuf,
    /// Cache of trained artefacts and evaluation records (`<work>/quick` or `<work>/full`).
    #[arg(long, default_value = "train_outputs/table2")]
    work: PathBuf,
    /// Where the result document and JSON go.
    #[arg(long, default_value = "docs/results")]
    out: PathBuf,
    /// Benchmarks (comma-separated names or `all`); default: the mode's set.
    #[arg(long)]
    benchmarks: Option<String>,
    /// Examples per benchmark (a seeded subsample); default: the mode's.
    #[arg(long)]
    limit: Option<usize>,
    /// T2L and multi-task LoRA optimizer steps; default: the config's (quick: 2).
    #[arg(long)]
    t2l_steps: Option<usize>,
    /// Training tasks whose oracle LoRAs are averaged into the average LoRA.
    #[arg(long, value_delimiter = ',')]
    oracle_tasks: Option<Vec<String>>,
    /// Optimizer steps of each oracle LoRA; default: the mode's.
    #[arg(long)]
    oracle_steps: Option<usize>,
    /// Peak learning rate of the oracle and multi-task LoRAs (the trainers' measured oracle
    /// recipe; the T2L rate is the config's).
    #[arg(long, default_value_t = 3e-4)]
    lora_lr: f64,
    /// T2L head variants to train and evaluate.
    #[arg(long, value_delimiter = ',', default_value = "L,M,S")]
    variants: Vec<Variant>,
    /// Leave out the Hyperdecoders row (a T2L-M trained and evaluated with input conditioning).
    #[arg(long)]
    no_hyperdecoders: bool,
    /// Protocols: comma-separated `generate`, `loglik`, `cloze`, or `both` (the paper's two) or
    /// `all`.
    #[arg(long, default_value = "all")]
    protocols: String,
    /// Seed of evaluation subsamples and k-shot picks.
    #[arg(long, default_value_t = 0)]
    eval_seed: u64,
    /// Hide the progress bars.
    #[arg(long)]
    quiet: bool,
}

/// What one mode trains and evaluates.
#[derive(Debug, Clone, Serialize)]
struct Plan {
    mode: &'static str,
    t2l_steps: usize,
    tasks_per_batch: usize,
    max_len: usize,
    max_descriptions: Option<usize>,
    oracle_tasks: Vec<String>,
    oracle_steps: usize,
    oracle_batch: usize,
    lora_lr: f64,
    variants: Vec<Variant>,
    hyperdecoders: bool,
    benchmarks: Vec<Benchmark>,
    limit: usize,
    protocols: Vec<Protocol>,
    eval_seed: u64,
}

/// The choice benchmarks: GSM8K, HumanEval and MBPP need up to 512 generated tokens per example,
/// beyond a CPU hour (add them with `--benchmarks all`).
const FULL_BENCHMARKS: &str = "arc_challenge,arc_easy,boolq,hellaswag,openbookqa,piqa,winogrande";
/// Short prompts: arc_easy (4 letters) and winogrande (2 options).
const QUICK_BENCHMARKS: &str = "arc_easy,winogrande";
/// Training tasks of the suite whose oracles form the average LoRA: two commonsense
/// multiple-choice tasks, a classification task and a short-answer task.
const ORACLE_TASKS: [&str; 4] = ["csqa", "socialiqa", "glue_sst2", "triviaqa"];

impl Plan {
    fn new(args: &Args, cfg: &T2lSftConfig) -> AnyResult<Self> {
        let quick = args.quick;
        let default_oracles = if quick {
            &ORACLE_TASKS[..2]
        } else {
            &ORACLE_TASKS[..]
        };
        Ok(Self {
            mode: if quick { "quick" } else { "full" },
            t2l_steps: args
                .t2l_steps
                .unwrap_or(if quick { 2 } else { cfg.run.steps }),
            tasks_per_batch: if quick { 2 } else { cfg.data.tasks_per_batch },
            max_len: if quick { 128 } else { cfg.data.max_len },
            max_descriptions: if quick {
                Some(2)
            } else {
                cfg.data.max_descriptions_per_task
            },
            oracle_tasks: args
                .oracle_tasks
                .clone()
                .unwrap_or_else(|| default_oracles.iter().map(|s| s.to_string()).collect()),
            oracle_steps: args.oracle_steps.unwrap_or(if quick { 2 } else { 16 }),
            oracle_batch: if quick { 2 } else { 4 },
            lora_lr: args.lora_lr,
            variants: args.variants.clone(),
            hyperdecoders: !args.no_hyperdecoders,
            benchmarks: Benchmark::parse_list(args.benchmarks.as_deref().unwrap_or(if quick {
                QUICK_BENCHMARKS
            } else {
                FULL_BENCHMARKS
            }))?,
            limit: args.limit.unwrap_or(if quick { 3 } else { 10 }),
            protocols: Protocol::parse_set(&args.protocols)?,
            eval_seed: args.eval_seed,
        })
    }

    /// The T2L SFT config of one head variant.
    fn t2l_config(&self, base: &T2lSftConfig, variant: Variant, dir: &Path) -> T2lSftConfig {
        let mut cfg = base.clone();
        cfg.conditioning = Conditioning::Description;
        cfg.hyper.variant = variant;
        cfg.run.steps = self.t2l_steps;
        cfg.run.out_dir = dir.to_path_buf();
        cfg.data.tasks_per_batch = self.tasks_per_batch;
        cfg.data.max_len = self.max_len;
        cfg.data.max_descriptions_per_task = self.max_descriptions;
        cfg
    }

    /// The multi-task LoRA: the T2L runs' model, tasks, batches, loss, steps and schedule.
    fn multitask_config(&self, base: &T2lSftConfig, dir: &Path) -> LoraSftConfig {
        let t2l = self.t2l_config(base, base.hyper.variant, dir);
        LoraSftConfig {
            model: t2l.model,
            lora: t2l.lora,
            data: t2l.data,
            loss: t2l.loss,
            optim: trainers::config::OptimConfig {
                lr: self.lora_lr,
                ..t2l.optim
            },
            schedule: t2l.schedule,
            run: t2l.run,
        }
    }

    /// The Hyperdecoders baseline: the T2L-M run with input conditioning.
    fn hyperdecoders_config(&self, base: &T2lSftConfig, dir: &Path) -> T2lSftConfig {
        let mut cfg = self.t2l_config(base, Variant::M, dir);
        cfg.conditioning = Conditioning::Input;
        cfg
    }

    fn oracle_settings(&self, model: &Path, seed: u64) -> OracleSettings {
        OracleSettings {
            model: model.to_path_buf(),
            steps: self.oracle_steps,
            batch_size: self.oracle_batch,
            lr: self.lora_lr,
            max_len: self.max_len,
            val_rows: 0,
            seed,
        }
    }
}

/// The trained artefacts the evaluation needs.
struct Trained {
    oracles: Vec<PathBuf>,
    multitask: PathBuf,
    t2l: Vec<(Variant, PathBuf)>,
    hyperdecoders: Option<PathBuf>,
}

fn model_path(cfg: &T2lSftConfig) -> AnyResult<PathBuf> {
    match &cfg.model {
        ModelSource::Path { path } => Ok(path.clone()),
        other => Err(format!("{}: needs a real model (kind = \"path\")", other.name()).into()),
    }
}

/// Trains (or reuses) every model of the plan.
fn train(plan: &Plan, base: &T2lSftConfig, work: &Path, progress: bool) -> AnyResult<Trained> {
    let device = Default::default();
    let model = model_path(base)?;
    let mut oracles = Vec::new();
    for name in &plan.oracle_tasks {
        let t0 = Instant::now();
        let settings = plan.oracle_settings(&model, base.run.seed);
        let (oracle, reused) =
            train_oracle::<Train>(work, &OracleTask::suite(name), &settings, progress, &device)?;
        log_run(&format!("oracle LoRA {name}"), reused, t0);
        oracles.push(oracle.adapter_dir);
    }
    let t0 = Instant::now();
    let dir = work.join(format!("multitask_lora_{}steps", plan.t2l_steps));
    let spec = plan.multitask_config(base, &dir);
    let mut cfg = spec.clone();
    cfg.run.progress = progress;
    let (multitask, reused) = cached(&dir, &spec, |_| {
        Ok(train_lora::<Train>(&cfg, None, &device)?.adapter_dir)
    })?;
    log_run("multi-task LoRA", reused, t0);
    let train_hyper = |what: &str, spec: T2lSftConfig| -> AnyResult<PathBuf> {
        let t0 = Instant::now();
        let mut cfg = spec.clone();
        cfg.run.progress = progress;
        let (hyper, reused) = cached(&spec.run.out_dir, &spec, |_| {
            Ok(train_t2l_sft::<Train>(&cfg, None, &device)?.hypermod_dir)
        })?;
        log_run(what, reused, t0);
        Ok(hyper)
    };
    let mut t2l = Vec::new();
    for &v in &plan.variants {
        let dir = work.join(format!("t2l_{v}_{}steps", plan.t2l_steps));
        t2l.push((
            v,
            train_hyper(&format!("T2L-{v}"), plan.t2l_config(base, v, &dir))?,
        ));
    }
    let hyperdecoders = if plan.hyperdecoders {
        let dir = work.join(format!("hyperdecoders_M_{}steps", plan.t2l_steps));
        Some(train_hyper(
            "Hyperdecoders-M",
            plan.hyperdecoders_config(base, &dir),
        )?)
    } else {
        None
    };
    Ok(Trained {
        oracles,
        multitask,
        t2l,
        hyperdecoders,
    })
}

fn log_run(what: &str, reused: bool, t0: Instant) {
    let how = if reused {
        "reused from the work directory"
    } else {
        "trained"
    };
    eprintln!("{what}: {how} ({:.0} s)", t0.elapsed().as_secs_f64());
}

/// A progress bar over examples, labelled `what`.
fn eval_bar(what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_message(what.to_string());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>24} [{elapsed_precise}] {bar:30} {pos}/{len} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// The label of a T2L variant's row.
fn t2l_label(v: Variant) -> String {
    format!("T2L-{v} (eval descriptions)")
}

/// The name of the Hyperdecoders row (the evaluator adds "(per-input adapters)").
const HYPERDECODERS: &str = "Hyperdecoders-M";

/// Appends the rows of `part` to `report`, relabelled `label` when given.
fn append(report: &mut EvalReport, part: EvalReport, label: Option<String>) {
    report.seconds += part.seconds;
    match label {
        Some(label) => {
            report.methods.push(label.clone());
            report.records.extend(part.records.into_iter().map(|mut r| {
                r.method = label.clone();
                r
            }));
        }
        None => {
            report.methods.extend(part.methods);
            report.records.extend(part.records);
        }
    }
}

/// Evaluates every row of the table; the T2L rows are evaluated one variant at a time and
/// relabelled, then everything is scored together.
fn evaluate(
    plan: &Plan,
    base: &T2lSftConfig,
    trained: &Trained,
    progress: bool,
) -> AnyResult<EvalReport> {
    let device = Default::default();
    let model_file = model_path(base)?;
    let bundle = ModelBundle::<Infer>::load(&model_file, &device)?;
    let codec = ChatEncoder::new(bundle.tokenizer)?;
    let mut model = bundle.model;
    let data_root = trainers::data::tasks::data_root()?;
    let options = EvalOptions {
        protocols: plan.protocols.clone(),
        limit: Some(plan.limit),
        seed: plan.eval_seed,
        ..EvalOptions::default()
    };
    let oracles = trained
        .oracles
        .iter()
        .map(|d| load_peft::<Infer>(d, &device))
        .collect::<Result<Vec<_>, _>>()?;
    let avg = average(&oracles.iter().collect::<Vec<_>>())?;
    let multitask = load_peft::<Infer>(&trained.multitask, &device)?;
    let baselines = [
        Method::Base,
        Method::TaskDescription,
        Method::KShot(3),
        Method::Adapter {
            name: format!("average LoRA ({} oracles)", oracles.len()),
            adapter: &avg,
        },
        Method::Adapter {
            name: "multi-task LoRA".into(),
            adapter: &multitask,
        },
    ];
    let name = model_file.display().to_string();
    let mut report = Evaluator::new(&mut model, &codec, data_root.clone(), options.clone())
        .with_progress(eval_bar("baselines", progress))
        .run(&name, &plan.benchmarks, &baselines)?;
    eprintln!("evaluated the baselines ({:.0} s)", report.seconds);
    let embedder = match &base.embedding {
        EmbeddingSource::Descriptions { embedder } => embedder.clone(),
        EmbeddingSource::OneHot => return Err("T2L needs embedding.kind = \"descriptions\"".into()),
    };
    // One text embedder for every hypernetwork (they were all trained with it).
    let bert = BertEmbedder::<Infer>::load(&embedder, &device)?;
    for (v, dir) in &trained.t2l {
        let pipeline = Pipeline::new(HyperModulator::<Infer>::open(dir, &device)?, &bert)?;
        let generate =
            |d: &str| -> trainers::Result<LoraAdapter<Infer>> { Ok(pipeline.adapter(d)?) };
        let methods = [Method::T2l {
            set: DescriptionSet::Eval,
            generate: &generate,
        }];
        let part = Evaluator::new(&mut model, &codec, data_root.clone(), options.clone())
            .with_progress(eval_bar(&format!("T2L-{v}"), progress))
            .run(&name, &plan.benchmarks, &methods)?;
        eprintln!("evaluated T2L-{v} ({:.0} s)", part.seconds);
        append(&mut report, part, Some(t2l_label(*v)));
    }
    if let Some(dir) = &trained.hyperdecoders {
        let pipeline = Pipeline::new(HyperModulator::<Infer>::open(dir, &device)?, &bert)?;
        let generate =
            |input: &str| -> trainers::Result<LoraAdapter<Infer>> { Ok(pipeline.adapter(input)?) };
        let methods = [Method::InputConditioned {
            name: HYPERDECODERS.into(),
            generate: &generate,
        }];
        let part = Evaluator::new(&mut model, &codec, data_root.clone(), options.clone())
            .with_progress(eval_bar(HYPERDECODERS, progress))
            .run(&name, &plan.benchmarks, &methods)?;
        eprintln!("evaluated {HYPERDECODERS} ({:.0} s)", part.seconds);
        append(&mut report, part, None);
    }
    report.scores = EvalReport::score(
        &report.records,
        &report.methods,
        &report.benchmarks,
        &report.protocols,
    );
    Ok(report)
}

fn main() -> AnyResult<()> {
    let started = Instant::now();
    let cpu_start = process_cpu_seconds();
    let args = Args::parse();
    let base: T2lSftConfig = load_config(&args.config)?;
    let plan = Plan::new(&args, &base)?;
    let work = args.work.join(plan.mode);
    let progress = !args.quiet;
    if args.quick {
        eprintln!(
            "--quick: a pipeline check (tiny step counts, {} examples per benchmark); its numbers mean nothing",
            plan.limit
        );
    }
    eprintln!("plan: {}", serde_json::to_string(&plan)?);

    let trained = train(&plan, &base, &work, progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let train_cpu = process_cpu_seconds() - cpu_start;
    let report = evaluate(&plan, &base, &trained, progress)?;
    let eval_cpu = process_cpu_seconds() - cpu_start - train_cpu;
    report.write(&work.join("eval"))?;
    let average_table = report.markdown_averages();
    println!("{average_table}");

    let tables: Vec<String> = plan.protocols.iter().map(|&p| report.markdown(p)).collect();
    let t2l_labels: Vec<String> = plan.variants.iter().map(|&v| t2l_label(v)).collect();
    let spreads: Vec<String> = plan
        .protocols
        .iter()
        .map(|&p| spread_markdown(&report, &t2l_labels, p))
        .collect();
    for t in tables.iter().chain(&spreads) {
        println!("{t}");
    }

    let mut per_desc = Vec::new();
    for m in &t2l_labels {
        for &p in &plan.protocols {
            let d = per_description(&report, m, p);
            per_desc.push(serde_json::json!({"method": m, "protocol": p, "descriptions": d}));
        }
    }
    let mut doc = Report::new("Table 2 at SmolLM2-135M scale: zero-shot LoRA generation");
    if args.quick {
        doc = doc.paragraph(
            "**Quick mode: a pipeline check only.** Tiny step counts and a handful of examples; \
             these numbers say nothing about the methods.",
        );
    }
    doc = doc.paragraph(format!(
        "{} examples per benchmark (seeded subsample, seed {}); T2L cells are the mean over each \
         benchmark's 3 held-out `eval` descriptions; the Hyperdecoders row generates one adapter \
         per example from the example's prompt. Training: {} T2L / Hyperdecoders / multi-task \
         LoRA steps of {} tasks × 1 example (≤ {} tokens); average LoRA = mean of {} oracle LoRAs \
         ({}), {} steps of {} examples each.",
        plan.limit,
        plan.eval_seed,
        plan.t2l_steps,
        plan.tasks_per_batch,
        plan.max_len,
        plan.oracle_tasks.len(),
        plan.oracle_tasks.join(", "),
        plan.oracle_steps,
        plan.oracle_batch
    ));
    doc = doc.paragraph(format!(
        "Average over the benchmarks ± standard error (examples are the sampling units; a T2L \
         example's score is its mean over the 3 descriptions):\n\n{average_table}"
    ));
    for t in tables.iter().chain(&spreads) {
        doc = doc.paragraph(t.clone());
    }
    doc = doc.numbers(serde_json::json!({
        "plan": plan,
        "scores": report.scores,
        "averages": report.averages(),
        "per_description": per_desc,
        "train_seconds": train_seconds,
        "eval_seconds": report.seconds,
        "train_cpu_seconds": train_cpu,
        "eval_cpu_seconds": eval_cpu,
    }));
    let stem = if args.quick {
        "table2_zeroshot_quick"
    } else {
        "table2_zeroshot"
    };
    let meta = RunMetadata::collect(started)
        .with_note("device: CPU, burn flex backend (dev profile, dependencies at opt-level 3)")
        .with_note(format!(
            "training {train_seconds:.0} s wall / {train_cpu:.0} s CPU (incl. reused runs), \
             evaluation {:.0} s wall / {eval_cpu:.0} s CPU (CPU: all threads of the process)",
            report.seconds
        ));
    let (md, json) = doc.write(&args.out, stem, &meta)?;
    eprintln!("wrote {} and {}", md.display(), json.display());
    Ok(())
}
