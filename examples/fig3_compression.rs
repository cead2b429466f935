//! Paper Figure 3 at SmolLM2-135M scale: as a reconstruction T2L compresses more task-specific
//! LoRAs, how large is its reconstruction error, and how much of the oracles' benchmark accuracy
//! do its regenerated adapters keep?
//!
//! The library always holds the benchmarks' oracle LoRAs (the same, cached, as
//! `table1_recon`'s) and grows by oracle LoRAs of suite training tasks (a seeded random pick from
//! `tasks/index.json`). For each library size one reconstruction T2L (`--variant`,
//! `--encoding`) is trained; reported per size: the mean L1 error over all tasks and over the
//! benchmark tasks, and the relative performance = mean T2L accuracy / mean oracle accuracy over
//! the benchmarks (per protocol). A PNG plots both against the number of compressed tasks.
//!
//! ```text
//! cargo run --example fig3_compression -- --quick
//! cargo run --example fig3_compression                # full CPU run, shares table1's work dir
//! cargo run --example fig3_compression -- --pool 12 --sizes 5,9,13,17
//! ```
//!
//! Writes `OUT/fig3_compression.{md,json,png}` (default `docs/results/`).

use std::error::Error;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use clap::Parser;
use text_to_lora::compression::Measurements;
use text_to_lora::compression::args::CompressionArgs;
use text_to_lora::compression::cell_eval::{
    Condition, ConditionRow, evaluate_rows, mean_accuracy, open_base, with_accuracy_tables,
};
use text_to_lora::compression::library::{library_entries, suite_pool};
use text_to_lora::compression::oracles::{OracleSettings, OracleTask, train_oracles};
use text_to_lora::compression::recon_variants::{ReconVariant, recon_dir, train_recon_variant};
use text_to_lora::plot::{PlotSpec, Series, line_png};
use text_to_lora::results::{Report, Table, percent};

/// Paper Figure 3: reconstruction error and relative performance vs. library size.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: CompressionArgs,
    /// Extra suite tasks in the largest library (default: 2 with --quick, 8 otherwise).
    #[arg(long)]
    pool: Option<usize>,
    /// Optimizer steps of each suite task's oracle (default: as the benchmarks' oracles). Only
    /// the benchmark oracles are evaluated; the suite oracles only have to be compressed.
    #[arg(long)]
    pool_oracle_steps: Option<usize>,
    /// Library sizes to train (default: the benchmarks alone, then evenly up to all tasks).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Hypernetwork head variant.
    #[arg(long, default_value = "M")]
    variant: String,
    /// Task encoding: `one_hot` or `descriptions`.
    #[arg(long, default_value = "descriptions")]
    encoding: String,
}

fn main() -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let cli = Cli::parse();
    let (args, budget) = (&cli.common, cli.common.budget());
    let benchmarks = args.benchmarks()?;
    let nb = benchmarks.len();
    let variant = ReconVariant {
        variant: cli.variant.parse()?,
        encoding: cli.encoding.parse()?,
    };
    let pool = cli.pool.unwrap_or(if args.quick { 2 } else { 8 });
    let mut sizes = if cli.sizes.is_empty() {
        vec![nb, nb + pool / 2, nb + pool]
    } else {
        cli.sizes.clone()
    };
    sizes.sort_unstable();
    sizes.dedup();
    if let Some(&bad) = sizes.iter().find(|&&s| s < nb.max(2) || s > nb + pool) {
        return Err(format!(
            "library size {bad} is outside [{}, {}] (the benchmarks, plus up to --pool suite tasks)",
            nb.max(2),
            nb + pool
        )
        .into());
    }
    let work = args.work_dir();
    let progress = !args.quiet;
    let device = Default::default();
    eprintln!("{}", args.mode_note());

    // Oracles: the benchmarks' (shared with table1) and the suite pool's.
    let data_root = trainers::data::tasks::data_root()?;
    let names: Vec<&str> = benchmarks.iter().map(|b| b.name()).collect();
    let bench_tasks: Vec<OracleTask> = names.iter().map(|n| OracleTask::benchmark(n)).collect();
    let pool_tasks: Vec<OracleTask> = suite_pool(&data_root, pool, args.seed, &names)?
        .iter()
        .map(|n| OracleTask::suite(n))
        .collect();
    let oracle_settings = args.oracle_settings();
    let pool_settings = OracleSettings {
        steps: cli.pool_oracle_steps.unwrap_or(oracle_settings.steps),
        ..oracle_settings.clone()
    };
    let mut oracles =
        train_oracles::<Autodiff<Flex>>(&work, &bench_tasks, &oracle_settings, progress, &device)?;
    oracles.extend(train_oracles::<Autodiff<Flex>>(
        &work,
        &pool_tasks,
        &pool_settings,
        progress,
        &device,
    )?);
    let library = library_entries(&oracles, &data_root, budget.descriptions_per_task)?;

    // One reconstruction T2L per library size.
    let recon_settings = args.recon_settings();
    let mut recons = Vec::new();
    for &n in &sizes {
        eprintln!("[recon] {} over {n} tasks", variant.label());
        let dir = recon_dir(&work, &library[..n], variant);
        let (outcome, _) = train_recon_variant::<Autodiff<Flex>>(
            &dir,
            &library[..n],
            variant,
            &recon_settings,
            progress,
            &device,
        )?;
        recons.push(outcome);
    }

    // The benchmark cells: oracles (shared with table1) and each size's regenerated adapters.
    let (mut model, codec) = open_base::<Flex>(&args.model, &device)?;
    let protocols = args.eval_options()?.protocols;
    let mut evaluator = args.cell_evaluator(&mut model, &codec, &data_root)?;
    let mut rows = vec![ConditionRow {
        label: "oracle LoRA (task-specific)".into(),
        conditions: oracles[..nb]
            .iter()
            .map(|o| Condition::Adapter(o.adapter_dir.clone()))
            .collect(),
    }];
    for (r, &n) in recons.iter().zip(&sizes) {
        rows.push(ConditionRow {
            label: format!("{}, {n} tasks", r.variant.label()),
            conditions: r.tasks[..nb]
                .iter()
                .map(|t| Condition::Adapter(t.adapter_dir.clone()))
                .collect(),
        });
    }
    let cells = evaluate_rows(&mut evaluator, &rows, &benchmarks)?;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();

    // Per size: L1 (all tasks, benchmark tasks, relative to the oracles' scale) and relative
    // performance per protocol.
    let mut header = vec![
        "tasks".to_string(),
        "mean L1 (all)".into(),
        "mean L1 (benchmarks)".into(),
        "L1 / L1 of the library mean".into(),
    ];
    header.extend(protocols.iter().map(|p| format!("relative perf. ({p}), %")));
    let mut summary = Table::new(header).with_caption(format!(
        "{} vs. number of compressed tasks (relative performance = mean T2L accuracy / mean \
         oracle accuracy over the {nb} benchmarks)",
        variant.label()
    ));
    let mut relative_series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); protocols.len()];
    let mut l1_series = Vec::new();
    let mut points = Vec::new();
    for (i, (r, &n)) in recons.iter().zip(&sizes).enumerate() {
        let bench_l1 = r.tasks[..nb].iter().map(|t| t.l1).sum::<f64>() / nb as f64;
        let rel_l1 = r.mean_l1 / r.library_mean_l1;
        let mut line = vec![
            n.to_string(),
            format!("{:.3e}", r.mean_l1),
            format!("{bench_l1:.3e}"),
            format!("{rel_l1:.3}"),
        ];
        let mut rel = Vec::new();
        for (k, &p) in protocols.iter().enumerate() {
            let ratio = match (mean_accuracy(&cells[i + 1], p), mean_accuracy(&cells[0], p)) {
                (Some(t), Some(o)) if o > 0.0 => Some(t / o),
                _ => None,
            };
            if let Some(x) = ratio {
                relative_series[k].push((n as f64, x));
            }
            line.push(ratio.map_or("—".into(), percent));
            rel.push(ratio);
        }
        l1_series.push((n as f64, rel_l1));
        summary.push_row(line)?;
        points.push(serde_json::json!({
            "tasks": n, "mean_l1": r.mean_l1, "benchmark_l1": bench_l1,
            "relative_l1": rel_l1, "relative_performance": rel,
        }));
    }
    let mut series: Vec<Series> = protocols
        .iter()
        .zip(relative_series)
        .map(|(p, pts)| Series::new(format!("relative performance ({p})"), pts))
        .collect();
    series.push(Series::new("L1 error / L1 of the library mean", l1_series));
    std::fs::create_dir_all(&args.out)?;
    let png = args
        .out
        .join(format!("{}.png", args.stem_or("fig3_compression")));
    line_png(
        &png,
        &PlotSpec::new(
            format!(
                "Compressing oracle LoRAs with {} (SmolLM2-135M){}",
                variant.label(),
                if args.quick { " — quick run" } else { "" }
            ),
            "number of compressed tasks",
            "ratio",
        ),
        &series,
    )?;

    let report =
        Report::new("Figure 3: reconstruction error and relative performance vs. library size")
            .paragraph(args.mode_note())
            .paragraph(format!(
                "Library: the oracle LoRAs of {} benchmarks plus up to {pool} suite training \
                 tasks (seeded pick); oracles {} steps × {} examples (lr {:e}; suite tasks {} \
                 steps); one {} per size ({} steps, lr {:e}; descriptions: first {} training \
                 descriptions, MiniLM). Accuracy on a seeded subsample of {} examples per \
                 benchmark (seed {}). Library order: {}.",
                nb,
                oracle_settings.steps,
                oracle_settings.batch_size,
                oracle_settings.lr,
                pool_settings.steps,
                variant.label(),
                recon_settings.steps,
                recon_settings.lr,
                budget.descriptions_per_task,
                budget.limit,
                args.seed,
                library
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
            .image(
                "relative performance and L1 error vs. number of tasks",
                format!("{}.png", args.stem_or("fig3_compression")),
            )
            .table(summary);
    let report = with_accuracy_tables(report, &protocols, &labels, &cells, &benchmarks)?;
    let numbers = Measurements::of(&benchmarks, &labels, &cells, &oracles, &recons, args.quick);
    let report = report.numbers(serde_json::json!({
        "sizes": sizes,
        "points": points,
        "measurements": numbers,
    }));
    let (md, json) = args.write_report(&report, "fig3_compression", started)?;
    eprintln!(
        "wrote {}, {} and {}",
        md.display(),
        json.display(),
        png.display()
    );
    println!("{}", std::fs::read_to_string(&md)?);
    Ok(())
}
