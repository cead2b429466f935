//! Paper Table 9 (poster Table 5): does the adapter T2L generates depend on the description
//! being *aligned* with the task? The shipped checkpoint generates adapters from four kinds of
//! descriptions of each benchmark and the base model with each adapter is evaluated on that
//! benchmark (`trainers::eval::Evaluator`, the paper's prompts):
//!
//! - **train**: the benchmark's first training description (aligned; the shipped checkpoint was
//!   trained on the task suite, not on the benchmarks, so it never saw this one either);
//! - **eval**: its 3 held-out evaluation descriptions (aligned, unseen);
//! - **other**: 3 training descriptions of *other* benchmarks (unaligned; seeded pick);
//! - **random**: 3 random strings (unaligned).
//!
//! The base model is the reference row. Protocols: `generate` (the paper's: greedy answer,
//! parsed), `loglik` (answer-label log-likelihood) and, when the harness has it, `cloze`
//! (length-normalised log-likelihood of each choice's text). A T2L cell is the mean over the
//! set's descriptions; the spread over descriptions is reported below the tables.
//!
//! Writes `OUT/STEM.md` and `OUT/STEM.json` (STEM = `table9_alignment`, or
//! `table9_alignment_quick` with `--quick`) and the full per-example records to `--records`.
//!
//! ```text
//! cargo run --example table9_alignment -- --quick     # arc_easy,winogrande, 4 examples each, every protocol
//! cargo run --example table9_alignment               # 7 choice benchmarks, 16 examples each
//! ```

use std::path::PathBuf;
use std::time::Instant;

use base_llm::ModelBundle;
use burn::backend::Flex;
use clap::Parser;
use hypermod::HyperModulator;
use hypermod::pipeline::Pipeline;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lora_core::LoraAdapter;
use text_embed::BertEmbedder;
use text_to_lora::description_spread::spread_markdown;
use text_to_lora::results::{Report, RunMetadata, Table, percent};
use trainers::data::chat::ChatEncoder;
use trainers::data::tasks::data_root;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::descriptions::DescriptionSet;
use trainers::eval::protocol::Protocol;
use trainers::eval::runner::{EvalOptions, Evaluator, Method};
use trainers::step_profile::process_cpu_seconds;

type B = Flex;
type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Parser, Debug)]
#[command(about = "Paper Table 9: T2L with train / eval / other-task / random-string descriptions")]
struct Args {
    /// Small run (a pipeline check, a few CPU minutes): arc_easy,winogrande (the benchmarks
    /// with the shortest prompts) with 4 examples each, every protocol.
    #[arg(long)]
    quick: bool,
    /// Base model (GGUF).
    #[arg(
        long,
        default_value = "assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// T2L checkpoint directory.
    #[arg(long, default_value = "checkpoints/t2l-smollm2-minilm-m")]
    checkpoint: PathBuf,
    /// Sentence embedder the checkpoint was trained with.
    #[arg(long, default_value = "assets/all-minilm-l6-v2")]
    embedder: PathBuf,
    /// Data root (holding `benchmarks/` and `tasks/`); default `$T2L_DATA` or `../shared/data`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Benchmarks, comma-separated (default: quick arc_easy,winogrande; full the 7 choice
    /// benchmarks).
    #[arg(long)]
    benchmarks: Option<String>,
    /// Examples per benchmark, a seeded subsample (default: 4 quick, 16 full).
    #[arg(long)]
    limit: Option<usize>,
    /// Protocols (generate, loglik, cloze, both, all).
    #[arg(long, default_value = "all")]
    protocol: String,
    /// Seed of subsamples and of the `other` descriptions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prompts per forward batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Output directory of the result document.
    #[arg(long, default_value = "docs/results")]
    out: PathBuf,
    /// Directory of the per-example records (`results.json`, `results.md`).
    #[arg(long)]
    records: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> AnyResult<()> {
    let started = Instant::now();
    let args = Args::parse();
    let stem = if args.quick {
        "table9_alignment_quick"
    } else {
        "table9_alignment"
    };
    let benchmarks = Benchmark::parse_list(args.benchmarks.as_deref().unwrap_or(if args.quick {
        "arc_easy,winogrande"
    } else {
        "arc_easy,arc_challenge,boolq,hellaswag,openbookqa,piqa,winogrande"
    }))?;
    let limit = args.limit.unwrap_or(if args.quick { 4 } else { 16 });
    let protocols = Protocol::parse_set(&args.protocol)?;
    let root = match &args.data {
        Some(d) => d.clone(),
        None => data_root()?,
    };
    let records_dir = args
        .records
        .clone()
        .unwrap_or_else(|| PathBuf::from("train_outputs").join(stem));

    let device = Default::default();
    let bundle = ModelBundle::<B>::load(&args.model, &device)?;
    let codec = ChatEncoder::new(bundle.tokenizer)?;
    let mut model = bundle.model;
    let hyper = HyperModulator::<B>::open(&args.checkpoint, &device)?;
    model.check_adapter_layout(&hyper.config().layout)?;
    let pipeline = Pipeline::new(hyper, BertEmbedder::<B>::load(&args.embedder, &device)?)?;
    let generate = |d: &str| -> trainers::Result<LoraAdapter<B>> { Ok(pipeline.adapter(d)?) };

    let mut methods = vec![Method::Base];
    for set in DescriptionSet::ALL {
        methods.push(Method::T2l {
            set,
            generate: &generate,
        });
    }
    let options = EvalOptions {
        protocols: protocols.clone(),
        limit: Some(limit),
        seed: args.seed,
        batch_size: args.batch_size.max(1),
        ..EvalOptions::default()
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:30} {pos}/{len} example evaluations  eta {eta}",
        )?);
        bar
    };
    let report = Evaluator::new(&mut model, &codec, root, options)
        .with_progress(bar)
        .run(&args.model.display().to_string(), &benchmarks, &methods)?;
    report.write(&records_dir)?;

    // One table per protocol: rows = conditions, columns = benchmarks + average.
    let labels: Vec<String> = methods.iter().map(Method::label).collect();
    let mut doc = Report::new(if args.quick {
        "Table 9 (quick): description alignment"
    } else {
        "Table 9: description alignment"
    })
    .paragraph(format!(
        "Base model `{}`, T2L checkpoint `{}` (T2L-M trained by SFT on the task suite's 81 \
         training tasks for 40 steps; it never trained on the benchmarks), embedder `{}`. {} \
         examples per benchmark (seeded subsample, seed {}), the same examples in every row. \
         Accuracy in %. T2L cells: mean over the set's descriptions (train: 1, eval / other / \
         random: 3). Paper (Table 9, reconstruction-trained T2L on Mistral-7B, average of L/M/S): \
         train 73.3, eval 72.2, other-task (\"train (random)\") 51.4, random strings 63.5.",
        args.model.display(),
        args.checkpoint.display(),
        args.embedder.display(),
        limit,
        args.seed
    ));
    let mut numbers = serde_json::Map::new();
    for &p in &protocols {
        let scored: Vec<Benchmark> = benchmarks
            .iter()
            .copied()
            .filter(|&b| report.accuracy(&labels[0], b, p).is_some())
            .collect();
        if scored.is_empty() {
            continue;
        }
        let mut header = vec!["condition".to_string()];
        header.extend(scored.iter().map(|b| b.title().to_string()));
        header.push("Avg.".into());
        let mut table = Table::new(header).with_caption(format!("{p}"));
        let mut per_method = serde_json::Map::new();
        for m in &labels {
            let accs: Vec<f64> = scored
                .iter()
                .filter_map(|&b| report.accuracy(m, b, p))
                .collect();
            let avg = accs.iter().sum::<f64>() / accs.len().max(1) as f64;
            let mut row = vec![m.clone()];
            row.extend(accs.iter().map(|&a| percent(a)));
            row.push(percent(avg));
            table.push_row(row)?;
            let mut cells: serde_json::Map<String, serde_json::Value> = scored
                .iter()
                .zip(&accs)
                .map(|(b, &a)| (b.name().to_string(), a.into()))
                .collect();
            cells.insert("average".into(), avg.into());
            per_method.insert(m.clone(), cells.into());
        }
        numbers.insert(p.to_string(), per_method.into());
        doc = doc.table(table);
        let t2l: Vec<String> = labels[1..].to_vec();
        doc = doc.paragraph(spread_markdown(&report, &t2l, p));
    }
    doc = doc.paragraph(format!(
        "Average over the benchmarks ± standard error (examples are the sampling units; a T2L \
         example's score is its mean over the set's descriptions):\n\n{}",
        report.markdown_averages()
    ));
    let n_examples = report.records.len();
    doc = doc.paragraph(format!(
        "{n_examples} example evaluations in {:.0} s of evaluation; per-example records (replies, \
         label log-probabilities, the description of each adapter) in `{}` (not committed).",
        report.seconds,
        records_dir.display()
    ));
    let cpu = process_cpu_seconds();
    let numbers = serde_json::json!({
        "accuracy": numbers,
        "limit": limit,
        "seed": args.seed,
        "benchmarks": benchmarks.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "scores": report.scores,
        "averages": report.averages(),
        "evaluation_seconds": report.seconds,
        "cpu_seconds": cpu,
    });
    let meta = RunMetadata::collect(started)
        .with_note("device: CPU, burn flex backend (dev profile, dependencies at opt-level 3)")
        .with_note(format!(
            "CPU time {cpu:.0} s (all threads of the process), evaluation {:.0} s wall",
            report.seconds
        ));
    let (md, json) = doc.numbers(numbers).write(&args.out, stem, &meta)?;
    eprintln!("wrote {} and {}", md.display(), json.display());
    Ok(())
}
