//! Paper Figure 5: 2-D t-SNE of what the T2L hypernetwork makes of task descriptions, coloured by
//! task — once for the task encoder's output and once for the last MLP block's output (the
//! activations the heads read).
//!
//! Points: descriptions of the 10 benchmarks (`tasks/benchmarks.json`: the first `--per-task`
//! training descriptions and the 3 evaluation descriptions of each) and, unless `--no-suite`,
//! of the task suite's 10 held-out tasks (`tasks/index.json`, same selection). None of them was
//! seen when the shipped checkpoint was trained (it trained on the suite's 81 training tasks).
//! Each description goes through the checkpoint's text embedder with T2L's preprocessing, then
//!
//! - **task encoder**: `HyperModulator::task_encoder` (Linear E → D/2 + LayerNorm), `[n, 64]`;
//! - **last MLP**: the trunk's output (`mlp3`, the heads' input, `HyperModulator::trunk`),
//!   `[modules × A/B × layers, 512]` rows per description, averaged to one 512-vector per
//!   description (the task enters the trunk only through the task encoder; layers and modules
//!   differ by their learnt embeddings).
//!
//! Each space is embedded with exact t-SNE ([`text_to_lora::tsne`]); the neighbourhood measures
//! (5-NN label agreement before and after t-SNE, trustworthiness) are reported for these two
//! spaces and for the raw sentence embeddings as a reference.
//!
//! Writes `OUT/STEM_task_encoder.png`, `OUT/STEM_last_mlp.png`, `OUT/STEM.md` and `OUT/STEM.json`
//! (coordinates, descriptions, measures, run metadata), STEM = `fig5_tsne` (`fig5_tsne_quick`
//! with `--quick`).
//!
//! ```text
//! cargo run --example fig5_tsne -- --quick          # 12 + 3 descriptions per task, 500 iterations
//! cargo run --example fig5_tsne                     # all descriptions, 1000 iterations
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use clap::Parser;
use hypermod::pipeline::Pipeline;
use hypermod::{HyperModulator, Mode, Variant};
use text_embed::BertEmbedder;
use text_to_lora::plot::{PlotSpec, scatter_png};
use text_to_lora::results::{Report, RunMetadata, Table};
use text_to_lora::tsne::{Embedding, Tsne, knn_label_agreement, trustworthiness};
use trainers::data::benchmarks::benchmark_template;
use trainers::data::tasks::{TaskSuite, data_root};
use trainers::eval::benchmark::Benchmark;

type B = Flex;
type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Descriptions embedded per forward pass.
const CHUNK: usize = 64;
/// Neighbourhood size of the measures.
const K: usize = 5;

#[derive(Parser, Debug)]
#[command(about = "Paper Fig. 5: t-SNE of T2L task-encoder and last-MLP activations")]
struct Args {
    /// Small run (12 training + 3 evaluation descriptions per task, 500 t-SNE iterations).
    #[arg(long)]
    quick: bool,
    /// T2L checkpoint directory.
    #[arg(long, default_value = "checkpoints/t2l-smollm2-minilm-m")]
    checkpoint: PathBuf,
    /// Sentence embedder the checkpoint was trained with.
    #[arg(long, default_value = "assets/all-minilm-l6-v2")]
    embedder: PathBuf,
    /// Data root (holding `tasks/`); default `$T2L_DATA` or `../shared/data`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "docs/results")]
    out: PathBuf,
    /// Training descriptions per task (default: 12 with --quick, all otherwise).
    #[arg(long)]
    per_task: Option<usize>,
    /// Benchmarks only (leave out the task suite's held-out tasks).
    #[arg(long)]
    no_suite: bool,
    /// t-SNE perplexity (lowered to (n − 1) / 3 for small inputs).
    #[arg(long, default_value_t = 30.0)]
    perplexity: f64,
    /// t-SNE iterations (default: 500 with --quick, 1000 otherwise).
    #[arg(long)]
    iterations: Option<usize>,
    /// Seed of the t-SNE initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// One plotted description.
#[derive(Debug, Clone, serde::Serialize)]
struct Point {
    /// Task (benchmark or suite task) name.
    task: String,
    /// `benchmark` or `suite`.
    source: &'static str,
    /// `train` or `eval` description.
    set: &'static str,
    /// The description.
    description: String,
}

/// The descriptions to plot, with their class index.
fn collect_points(
    root: &Path,
    per_task: usize,
    suite: bool,
) -> AnyResult<(Vec<Point>, Vec<String>)> {
    let tasks_dir = root.join("tasks");
    let mut points = Vec::new();
    let mut classes = Vec::new();
    let mut add = |task: &str, source, train: &[String], eval: &[String]| {
        classes.push(task.to_string());
        for (set, list) in [
            ("train", &train[..per_task.min(train.len())]),
            ("eval", eval),
        ] {
            for d in list {
                points.push(Point {
                    task: task.to_string(),
                    source,
                    set,
                    description: d.clone(),
                });
            }
        }
    };
    for b in Benchmark::ALL {
        let t = benchmark_template(&tasks_dir, b.name())?;
        add(b.name(), "benchmark", &t.descriptions, &t.eval_descriptions);
    }
    if suite {
        let s = TaskSuite::open(&tasks_dir)?;
        for t in s.heldout_tasks() {
            add(&t.name, "suite", &t.descriptions, &t.eval_descriptions);
        }
    }
    Ok((points, classes))
}

/// Rows of a `[n, d]` tensor as f32 vectors.
fn rows(t: Tensor<B, 2>) -> AnyResult<Vec<Vec<f32>>> {
    let [_, d] = t.dims();
    let flat = t
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| format!("reading activations: {e:?}"))?;
    Ok(flat.chunks(d).map(<[f32]>::to_vec).collect())
}

/// Sentence embeddings (T2L-preprocessed), task-encoder outputs and mean last-MLP outputs.
fn activations(
    pipeline: &Pipeline<B, BertEmbedder<B>>,
    texts: &[&str],
) -> AnyResult<[Vec<Vec<f32>>; 3]> {
    let hyper = pipeline.hyper();
    let cfg = hyper.config();
    let ab = if cfg.variant == Variant::L { 1 } else { 2 };
    let modules = cfg.layout.modules.len();
    let (mut emb, mut enc, mut mlp) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in texts.chunks(CHUNK) {
        let n = chunk.len();
        let e = pipeline.embed(chunk)?;
        let t = hyper.task_encoder.forward(e.clone());
        let (h, per_module) = hyper.trunk(e.clone(), Mode::Inference)?;
        let width = h.dims()[1];
        // Rows: module-major, then [A|B,] task, then layer[, rank].
        let rest = per_module / (ab * n);
        let pooled = h
            .reshape([modules, ab, n, rest, width])
            .swap_dims(0, 2) // [n, ab, modules, rest, w]
            .reshape([n, ab * modules * rest, width])
            .mean_dim(1)
            .reshape([n, width]);
        emb.extend(rows(e)?);
        enc.extend(rows(t)?);
        mlp.extend(rows(pooled)?);
    }
    Ok([emb, enc, mlp])
}

/// Chance level of k-NN label agreement: Σ (class share)².
fn chance(labels: &[usize], classes: usize) -> f64 {
    let n = labels.len() as f64;
    (0..classes)
        .map(|c| {
            let s = labels.iter().filter(|&&l| l == c).count() as f64 / n;
            s * s
        })
        .sum()
}

fn main() -> AnyResult<()> {
    let started = Instant::now();
    let args = Args::parse();
    let per_task = args
        .per_task
        .unwrap_or(if args.quick { 12 } else { usize::MAX });
    let iterations = args
        .iterations
        .unwrap_or(if args.quick { 500 } else { 1000 });
    let stem = if args.quick {
        "fig5_tsne_quick"
    } else {
        "fig5_tsne"
    };
    let root = match &args.data {
        Some(d) => d.clone(),
        None => data_root()?,
    };

    std::fs::create_dir_all(&args.out)?;
    let (points, classes) = collect_points(&root, per_task, !args.no_suite)?;
    let labels: Vec<usize> = points
        .iter()
        .map(|p| {
            classes
                .iter()
                .position(|c| *c == p.task)
                .expect("class of a point")
        })
        .collect();
    eprintln!("{} descriptions of {} tasks", points.len(), classes.len());

    let device = Default::default();
    let pipeline = Pipeline::new(
        HyperModulator::<B>::open(&args.checkpoint, &device)?,
        BertEmbedder::<B>::load(&args.embedder, &device)?,
    )?;
    let texts: Vec<&str> = points.iter().map(|p| p.description.as_str()).collect();
    let t0 = Instant::now();
    let [emb, enc, mlp] = activations(&pipeline, &texts)?;
    let embed_seconds = t0.elapsed().as_secs_f64();
    eprintln!("activations in {embed_seconds:.1} s");

    let n = points.len();
    let tsne = Tsne {
        perplexity: args.perplexity.min((n as f64 - 1.0) / 3.0),
        iterations,
        seed: args.seed,
        ..Tsne::default()
    };
    let spaces: [(&str, &str, &Vec<Vec<f32>>); 3] = [
        (
            "sentence_embedding",
            "sentence embedding (MiniLM, T2L-normalised)",
            &emb,
        ),
        ("task_encoder", "T2L task encoder output", &enc),
        (
            "last_mlp",
            "T2L last MLP block output (mean over layers/modules)",
            &mlp,
        ),
    ];
    let mut measures = Table::new([
        "space",
        "dims",
        "5-NN label agreement (original)",
        "5-NN label agreement (t-SNE 2-D)",
        "trustworthiness(5)",
        "t-SNE KL",
    ])
    .with_caption(format!(
        "Neighbourhoods by task ({} descriptions, {} tasks; chance agreement {:.3})",
        n,
        classes.len(),
        chance(&labels, classes.len())
    ));
    let mut coords = serde_json::Map::new();
    let mut numbers = serde_json::Map::new();
    let mut tsne_seconds = serde_json::Map::new();
    let mut report = Report::new(if args.quick {
        "Figure 5 (quick): t-SNE of T2L activations by task"
    } else {
        "Figure 5: t-SNE of T2L activations by task"
    })
    .paragraph(format!(
        "Checkpoint `{}` (T2L-M trained by SFT on the 81 training tasks of the suite, 40 steps on \
         CPU), embedder `{}`. Points: the first {} training descriptions and the 3 evaluation \
         descriptions of each of the 10 benchmarks{}; none was seen in training. Exact t-SNE, \
         perplexity {:.1}, {} iterations, seed {}.",
        args.checkpoint.display(),
        args.embedder.display(),
        if per_task == usize::MAX {
            "all".to_string()
        } else {
            per_task.to_string()
        },
        if args.no_suite {
            ""
        } else {
            " and of the suite's 10 held-out tasks"
        },
        tsne.perplexity,
        iterations,
        args.seed
    ));
    for (key, title, data) in spaces {
        let t1 = Instant::now();
        let Embedding {
            points: xy,
            kl_divergence,
        } = tsne.fit(data)?;
        tsne_seconds.insert(key.into(), t1.elapsed().as_secs_f64().into());
        let high: Vec<Vec<f64>> = data
            .iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        let before = knn_label_agreement(&high, &labels, K);
        let after = knn_label_agreement(&xy, &labels, K);
        let trust = trustworthiness(data, &xy, K).unwrap_or(f64::NAN);
        measures.push_row([
            title.to_string(),
            data[0].len().to_string(),
            format!("{before:.3}"),
            format!("{after:.3}"),
            format!("{trust:.3}"),
            format!("{kl_divergence:.3}"),
        ])?;
        numbers.insert(
            key.into(),
            serde_json::json!({
                "dims": data[0].len(),
                "knn_agreement_original": before,
                "knn_agreement_tsne": after,
                "trustworthiness": trust,
                "kl_divergence": kl_divergence,
            }),
        );
        coords.insert(key.into(), serde_json::json!(xy));
        eprintln!("{key}: 5-NN agreement {before:.3} → {after:.3}, trustworthiness {trust:.3}");
        if key != "sentence_embedding" {
            let file = format!("{stem}_{key}.png");
            let xy: Vec<(f64, f64)> = xy.iter().map(|p| (p[0], p[1])).collect();
            scatter_png(
                &args.out.join(&file),
                &PlotSpec::new(format!("t-SNE of the {title}"), "t-SNE 1", "t-SNE 2")
                    .with_size(1100, 750),
                &xy,
                &labels,
                &classes,
            )?;
            report = report.image(title, file);
        }
    }
    report = report.table(measures).paragraph(
        "5-NN label agreement: the share of each point's 5 nearest neighbours (Euclidean) that \
         describe the same task. Trustworthiness (Venna & Kaski): 1 when the t-SNE neighbourhoods \
         are neighbourhoods of the original space.",
    );
    let numbers = serde_json::json!({
        "classes": classes,
        "labels": labels,
        "points": points,
        "coordinates": coords,
        "measures": numbers,
        "activation_seconds": embed_seconds,
        "tsne_seconds": tsne_seconds,
        "tsne": {"perplexity": tsne.perplexity, "iterations": iterations, "seed": args.seed},
    });
    let meta = RunMetadata::collect(started).with_note("device: CPU, burn flex backend");
    let (md, json) = report.numbers(numbers).write(&args.out, stem, &meta)?;
    eprintln!("wrote {} and {}", md.display(), json.display());
    Ok(())
}
