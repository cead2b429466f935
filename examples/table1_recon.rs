//! Paper Table 1 at SmolLM2-135M scale: can a reconstruction-trained T2L compress a library of
//! task-specific LoRAs and still match them on their benchmarks?
//!
//! 1. One oracle LoRA per benchmark, trained with the trainers' LoRA SFT on the benchmark's train
//!    split (T2L's templates, `tasks/benchmarks.json`), saved as PEFT.
//! 2. Reconstruction T2L (z-score L1) for each chosen head variant (L, M, S; default M) ×
//!    one-hot and description embeddings (the benchmarks' training descriptions,
//!    all-MiniLM-L6-v2); the L1 error of the regenerated adapters per variant and the objective
//!    against steps (table and `OUT/STEM_l1.png`).
//! 3. The base model, each oracle and each regenerated adapter on the benchmarks' evaluation
//!    splits (paper prompts; `loglik` by default, `generate`/`cloze` on request), a seeded
//!    subsample per benchmark, with standard errors; a comparison of every row with the base
//!    model and the oracles and a verdict computed from it.
//!
//! Everything trained or scored is cached under `--work` (default `train_outputs/table1`,
//! `train_outputs/table1-quick` with `--quick`): a rerun only redoes what changed, and
//! `fig3_compression` reuses the oracles and evaluation cells.
//!
//! ```text
//! cargo run --example table1_recon -- --quick                    # pipeline check, a few minutes
//! cargo run --example table1_recon                               # full CPU run (about an hour)
//! cargo run --example table1_recon -- --variants L,M,S --limit 100 --protocols loglik,cloze
//! ```
//!
//! Writes `OUT/table1_recon.{md,json}` and `OUT/table1_recon_l1.png` (default `docs/results/`).

use std::error::Error;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use clap::Parser;
use hypermod::Variant;
use text_to_lora::compression::Measurements;
use text_to_lora::compression::args::CompressionArgs;
use text_to_lora::compression::cell_eval::{
    Condition, ConditionRow, evaluate_rows, open_base, with_accuracy_tables,
};
use text_to_lora::compression::heldout_loss::heldout_losses;
use text_to_lora::compression::library::library_entries;
use text_to_lora::compression::oracle_match::{compare_rows, comparison_table, verdict};
use text_to_lora::compression::oracles::{OracleTask, train_oracles};
use text_to_lora::compression::recon_curve::{curve_png, curve_table};
use text_to_lora::compression::recon_variants::{
    ReconVariant, TaskEncoding, recon_dir, train_recon_variant,
};
use text_to_lora::results::{Report, Table};

/// Paper Table 1: oracle LoRAs vs. reconstruction T2L on their benchmarks.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: CompressionArgs,
    /// Hypernetwork head variants (`L`, `M`, `S`). M by default: each variant costs a
    /// reconstruction run and an evaluation row, and the CPU hour affords one.
    #[arg(long, value_delimiter = ',', default_value = "M")]
    variants: Vec<String>,
    /// Task encodings (`one_hot`, `descriptions`).
    #[arg(long, value_delimiter = ',', default_value = "one_hot,descriptions")]
    encodings: Vec<String>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let cli = Cli::parse();
    let args = &cli.common;
    let budget = args.budget();
    let benchmarks = args.benchmarks()?;
    let variants = cli
        .variants
        .iter()
        .map(|s| s.parse::<Variant>())
        .collect::<Result<Vec<_>, _>>()?;
    let encodings = cli
        .encodings
        .iter()
        .map(|s| s.parse())
        .collect::<trainers::Result<Vec<TaskEncoding>>>()?;
    let work = args.work_dir();
    let progress = !args.quiet;
    let device = Default::default();
    eprintln!("{}", args.mode_note());

    // 1. Oracle LoRAs.
    let tasks: Vec<OracleTask> = benchmarks
        .iter()
        .map(|b| OracleTask::benchmark(b.name()))
        .collect();
    let oracle_settings = args.oracle_settings();
    let oracles =
        train_oracles::<Autodiff<Flex>>(&work, &tasks, &oracle_settings, progress, &device)?;

    // 2. Reconstruction T2L per variant.
    let data_root = trainers::data::tasks::data_root()?;
    let library = library_entries(&oracles, &data_root, budget.descriptions_per_task)?;
    let recon_settings = args.recon_settings();
    let mut recons = Vec::new();
    for v in ReconVariant::grid(&variants, &encodings) {
        eprintln!("[recon] {}", v.label());
        let dir = recon_dir(&work, &library, v);
        let (outcome, _) = train_recon_variant::<Autodiff<Flex>>(
            &dir,
            &library,
            v,
            &recon_settings,
            progress,
            &device,
        )?;
        eprintln!("  mean L1 {:.3e}", outcome.mean_l1);
        recons.push(outcome);
    }

    // 3. Evaluation.
    let (mut model, codec) = open_base::<Flex>(&args.model, &device)?;
    let mut evaluator = args.cell_evaluator(&mut model, &codec, &data_root)?;
    let mut rows = vec![
        ConditionRow {
            label: "base model".into(),
            conditions: vec![Condition::Base; benchmarks.len()],
        },
        ConditionRow {
            label: "oracle LoRA (task-specific)".into(),
            conditions: oracles
                .iter()
                .map(|o| Condition::Adapter(o.adapter_dir.clone()))
                .collect(),
        },
    ];
    for r in &recons {
        rows.push(ConditionRow {
            label: r.variant.label(),
            conditions: r
                .tasks
                .iter()
                .map(|t| Condition::Adapter(t.adapter_dir.clone()))
                .collect(),
        });
    }
    let cells = evaluate_rows(&mut evaluator, &rows, &benchmarks)?;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();

    // The training loss of every row on each oracle's held-back train rows (column by column).
    let mut heldout: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    if oracle_settings.val_rows > 0 {
        for (j, task) in tasks.iter().enumerate() {
            eprintln!("[held-back rows] {}", task.name);
            let conditions: Vec<Condition> = rows.iter().map(|r| r.conditions[j].clone()).collect();
            let losses = heldout_losses::<Flex>(
                &work.join("heldout"),
                task,
                &oracle_settings,
                &conditions,
                &device,
            )?;
            for (i, l) in losses.into_iter().enumerate() {
                heldout[i].push(l);
            }
        }
    }

    // 4. Results.
    let protocols = args.eval_options()?.protocols;
    let report = Report::new("Table 1: compressing task-specific LoRAs (SmolLM2-135M)")
        .paragraph(args.mode_note())
        .paragraph(format!(
            "Base model `{}`; one oracle LoRA per benchmark (r 8, α 16, rsLoRA, q/v; {} steps × \
             {} examples, lr {:e}, the adapter with the lowest validation loss on {} held-back \
             train rows); reconstruction T2L (z-score L1, {} steps, lr {:e}, 4 tasks per step, \
             D 128, H 512) over the {} oracles; description embeddings from `{}` over the \
             first {} training descriptions; the evaluated T2L adapter is generated from the \
             first one (or the one-hot vector). Accuracy in % ± binomial standard error on a \
             seeded subsample of {} examples per benchmark (seed {}); each oracle and T2L \
             adapter on its own benchmark.",
            args.model.display(),
            oracle_settings.steps,
            oracle_settings.batch_size,
            oracle_settings.lr,
            oracle_settings.val_rows,
            recon_settings.steps,
            recon_settings.lr,
            oracles.len(),
            args.embedder.display(),
            budget.descriptions_per_task,
            budget.limit,
            args.seed,
        ));
    // What the cached artefacts cost when they were made (a rerun reuses them, so the Run
    // block's wall time can be far smaller).
    let oracle_s: f64 = oracles.iter().map(|o| o.train_seconds).sum();
    let recon_s: f64 = recons.iter().map(|r| r.train_seconds).sum();
    let eval_s: f64 = cells.iter().flatten().map(|c| c.seconds).sum();
    let report = report.paragraph(format!(
        "Compute behind these numbers, from the artefacts' own timings (wall seconds when each \
         was made; later runs reuse them): oracle training {oracle_s:.0} s, reconstruction \
         {recon_s:.0} s, evaluation cells {eval_s:.0} s."
    ));

    // Rows 0 and 1 are the base model and the oracles.
    let comparisons = protocols
        .iter()
        .map(|&p| compare_rows(p, &labels, &cells, 0, 1))
        .collect::<trainers::Result<Vec<_>>>()?;
    let mut report = report;
    for c in &comparisons {
        report = report.paragraph(verdict(c, 0, 1));
    }
    for (c, &p) in comparisons.iter().zip(&protocols) {
        report = report.table(comparison_table(p, c)?);
    }
    let mut report = with_accuracy_tables(report, &protocols, &labels, &cells, &benchmarks)?;
    let mut l1 = Table::new(
        [
            "variant",
            "mean L1",
            "L1 of the library mean",
            "mean |oracle entry|",
            "steps",
            "train s",
        ]
        .into_iter()
        .map(String::from)
        .chain(library.iter().map(|e| format!("L1 {}", e.name))),
    )
    .with_caption(
        "Reconstruction error: mean |generated − oracle| over every A and B entry; the library \
         mean (the average oracle, which knows no task) is the baseline to beat",
    );
    for r in &recons {
        l1.push_row(
            [
                r.variant.label(),
                format!("{:.3e}", r.mean_l1),
                format!("{:.3e}", r.library_mean_l1),
                format!("{:.3e}", r.mean_abs_target),
                r.steps.to_string(),
                format!("{:.0}", r.train_seconds),
            ]
            .into_iter()
            .chain(r.tasks.iter().map(|t| format!("{:.3e}", t.l1))),
        )?;
    }
    let mut oracle_table = Table::new([
        "oracle",
        "steps",
        "val loss, base",
        "val loss, oracle",
        "train s",
    ])
    .with_caption("Oracle LoRAs (validation: held-back train rows, label-smoothed loss)");
    let loss = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.3}"));
    for o in &oracles {
        oracle_table.push_row([
            o.task.name.clone(),
            o.steps.to_string(),
            loss(o.base_val_loss),
            loss(o.best_val_loss),
            format!("{:.0}", o.train_seconds),
        ])?;
    }
    let png = format!("{}_l1.png", args.stem_or("table1_recon"));
    std::fs::create_dir_all(&args.out)?;
    curve_png(
        &args.out.join(&png),
        &format!(
            "Reconstruction of {} oracle LoRAs (SmolLM2-135M){}",
            oracles.len(),
            if args.quick { " — quick run" } else { "" }
        ),
        &recons,
    )?;
    if heldout.iter().all(|r| r.len() == tasks.len()) && !tasks.is_empty() {
        let mut t = Table::new(
            std::iter::once("held-back loss".to_string())
                .chain(benchmarks.iter().map(|b| b.title().to_string()))
                .chain(["mean".to_string()]),
        )
        .with_caption(format!(
            "Training loss (label-smoothed CE, no dropout) on each oracle's {} held-back train \
             rows, which no model here trained on: where accuracy is at chance for every row, \
             this shows whether a regenerated adapter does what its oracle does",
            oracle_settings.val_rows
        ));
        for (label, losses) in labels.iter().zip(&heldout) {
            let mean = losses.iter().sum::<f64>() / losses.len() as f64;
            t.push_row(
                std::iter::once(label.clone())
                    .chain(losses.iter().map(|l| format!("{l:.3}")))
                    .chain([format!("{mean:.3}")]),
            )?;
        }
        report = report.table(t);
    }
    report = report
        .table(l1)
        .table(curve_table(&recons)?)
        .image("reconstruction objective against steps", png)
        .table(oracle_table);
    let numbers = Measurements::of(&benchmarks, &labels, &cells, &oracles, &recons, args.quick);
    let report = report.numbers(serde_json::json!({
        "measurements": numbers,
        "comparisons": comparisons,
        "heldout_losses": heldout,
    }));
    let (md, json) = args.write_report(&report, "table1_recon", started)?;
    eprintln!("wrote {} and {}", md.display(), json.display());
    println!("{}", std::fs::read_to_string(&md)?);
    Ok(())
}
