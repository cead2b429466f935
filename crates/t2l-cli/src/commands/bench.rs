//! `t2l bench generate|prefill|decode|sft-step|recon-step|precision`: time one workload on the
//! chosen device, with its FLOPs and bytes and the achieved fraction of the GEMM and
//! memory-bandwidth ceilings measured in the same run. The measuring is library code
//! (crate `t2l-bench`), shared with the criterion benches in `benches/`.

use std::path::PathBuf;

use base_llm::BasePrecision;
use burn::backend::Autodiff;
use burn::prelude::*;
use clap::{Args, Subcommand};
use hypermod::Variant;
use serde::Serialize;
use t2l_bench::generate::{AdapterShape, bench_generate};
use t2l_bench::llm::{LlmSource, bench_decode, bench_prefill, default_smollm2_gguf};
use t2l_bench::precision::{PrecisionResult, bench_precision};
use t2l_bench::recon::{ReconStepSpec, bench_recon_step};
use t2l_bench::sft::{SftStepSpec, bench_sft_step};
use t2l_bench::{CeilingSizes, Ceilings, Measurement, measure_ceilings};

use crate::cli::GlobalArgs;
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// `t2l bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The workload.
    #[command(subcommand)]
    pub kind: BenchKind,
}

/// Options every benchmark takes.
#[derive(Debug, Args, Clone)]
pub struct RunOptions {
    /// Timed runs per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Untimed warm-up runs per case.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Tiny shapes and a random tiny model (for tests: seconds, numbers meaningless).
    #[arg(long)]
    pub tiny: bool,
    /// prefill, decode, sft-step: random weights at SmolLM2-135M's shapes instead of a model
    /// file (the same work per token; for throughput where the GGUF is not at hand).
    #[arg(long, conflicts_with = "tiny")]
    pub random_weights: bool,
}

/// The workloads.
#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// Adapter generation by the T2L hypernetwork (random weights; L/M/S at SmolLM2-135M and
    /// Mistral-7B q/v shapes).
    Generate {
        /// Base-model shapes (default: smollm2-135m and mistral-7b).
        #[arg(long, value_delimiter = ',')]
        shape: Vec<AdapterShape>,
        /// Head variants (default: L, M, S).
        #[arg(long, value_delimiter = ',')]
        variant: Vec<Variant>,
        /// Timing options.
        #[command(flatten)]
        run: RunOptions,
    },
    /// Base-model prefill (batch 1, KV cache) of a prompt.
    Prefill {
        /// The base model (GGUF or Hugging Face directory; default: the SmolLM2-135M GGUF in
        /// assets/).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Prompt length.
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        /// Precision of the frozen base: f32, f16, bf16 (products in that type), f16-store,
        /// bf16-store (stored reduced, multiplied in f32).
        #[arg(long, default_value = "f32")]
        precision: BasePrecision,
        /// Timing options.
        #[command(flatten)]
        run: RunOptions,
    },
    /// Base-model greedy decoding (batch 1, KV cache) after a prompt.
    Decode {
        /// The base model (default: the SmolLM2-135M GGUF in assets/).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Prompt length (its prefill is not timed).
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        /// Decoded tokens per run.
        #[arg(long, default_value_t = 64)]
        new_tokens: usize,
        /// Precision of the frozen base: f32, f16, bf16 (products in that type), f16-store,
        /// bf16-store (stored reduced, multiplied in f32).
        #[arg(long, default_value = "f32")]
        precision: BasePrecision,
        /// Timing options.
        #[command(flatten)]
        run: RunOptions,
    },
    /// One T2L SFT step (8 tasks × 1 example): generate per-row adapters, frozen base forward,
    /// backward into the hypernetwork, AdamW.
    SftStep {
        /// The base model (default: the SmolLM2-135M GGUF in assets/).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Tasks (rows) per batch.
        #[arg(long, default_value_t = 8)]
        tasks: usize,
        /// Tokens per example.
        #[arg(long, default_value_t = 128)]
        seq: usize,
        /// Response (target) tokens per example.
        #[arg(long, default_value_t = 32)]
        response: usize,
        /// Task-embedding width (384: all-MiniLM-L6-v2; 1024: gte-large).
        #[arg(long, default_value_t = 384)]
        task_dim: usize,
        /// Head variant of the hypernetwork.
        #[arg(long, default_value = "M")]
        variant: Variant,
        /// Precision of the frozen base: f32, f16, bf16 (products in that type), f16-store,
        /// bf16-store (stored reduced, multiplied in f32).
        #[arg(long, default_value = "f32")]
        precision: BasePrecision,
        /// Timing options.
        #[command(flatten)]
        run: RunOptions,
    },
    /// One T2L reconstruction step on a random adapter library.
    ReconStep {
        /// Adapter shapes.
        #[arg(long, default_value = "smollm2-135m")]
        shape: AdapterShape,
        /// Head variant.
        #[arg(long, default_value = "L")]
        variant: Variant,
        /// Adapters in the library.
        #[arg(long, default_value_t = 9)]
        library: usize,
        /// Tasks per batch.
        #[arg(long, default_value_t = 4)]
        tasks: usize,
        /// Timing options.
        #[command(flatten)]
        run: RunOptions,
    },
    /// The frozen base's matmuls with f16/bf16 weights against f32 (time and error), at the
    /// SmolLM2 prefill (128 × 576 × 1536) and decode LM-head (1 × 576 × 49152) shapes.
    Precision {
        /// Timing options.
        #[command(flatten)]
        run: RunOptions,
    },
}

impl BenchKind {
    fn name(&self) -> &'static str {
        match self {
            Self::Generate { .. } => "generate",
            Self::Prefill { .. } => "prefill",
            Self::Decode { .. } => "decode",
            Self::SftStep { .. } => "sft-step",
            Self::ReconStep { .. } => "recon-step",
            Self::Precision { .. } => "precision",
        }
    }

    fn options(&self) -> &RunOptions {
        match self {
            Self::Generate { run, .. }
            | Self::Prefill { run, .. }
            | Self::Decode { run, .. }
            | Self::SftStep { run, .. }
            | Self::ReconStep { run, .. }
            | Self::Precision { run } => run,
        }
    }
}

/// What `t2l bench --json` prints.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The workload.
    pub bench: String,
    /// `--device`.
    pub device: String,
    /// burn's name of the backend.
    pub backend: String,
    /// `RAYON_NUM_THREADS` (CPU threads), or `all`.
    pub threads: String,
    /// The ceilings measured in this run.
    pub ceilings: Ceilings,
    /// One result per case.
    pub results: Vec<Measurement>,
    /// For `precision`: the error of each reduced-precision case against f32.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub precision: Vec<PrecisionRow>,
    /// For `prefill`, `decode` and `sft-step`: bytes of the base model's parameters in their
    /// stored dtypes (`--precision`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_weight_bytes: Option<usize>,
}

/// Error of one reduced-precision case (`t2l bench precision`).
#[derive(Debug, Serialize)]
pub struct PrecisionRow {
    /// The case (shape/type/mode).
    pub case: String,
    /// Normalised max error against f32.
    pub error: f64,
    /// The stated tolerance.
    pub tolerance: f64,
}

struct Bench<'a> {
    kind: &'a BenchKind,
    device: String,
}

fn llm_source(model: &Option<PathBuf>, opts: &RunOptions) -> Result<LlmSource, CliError> {
    if opts.tiny {
        return Ok(LlmSource::Tiny);
    }
    if opts.random_weights {
        if let Some(path) = model {
            return Err(CliError::Input(format!(
                "--random-weights and --model {} both name the weights; pass one",
                path.display()
            )));
        }
        return Ok(LlmSource::RandomSmollm2);
    }
    let path = model.clone().unwrap_or_else(default_smollm2_gguf);
    if !path.exists() {
        return Err(CliError::Input(format!(
            "model {} not found (pass --model, or run scripts/fetch-assets.sh)",
            path.display()
        )));
    }
    Ok(LlmSource::File(path))
}

/// The case name of a base-model benchmark: the model, then the precision unless f32.
fn case_name(source: &LlmSource, precision: BasePrecision) -> String {
    match precision {
        BasePrecision::F32 => source.name(),
        p => format!("{}/{p}", source.name()),
    }
}

impl BackendTask for Bench<'_> {
    type Output = BenchReport;

    fn run<B: Backend>(self, device: B::Device) -> Result<BenchReport, CliError> {
        let opts = self.kind.options();
        let (warmup, iters) = (opts.warmup, opts.iters.max(1));
        let backend = B::name(&device);
        let sizes = if opts.tiny {
            CeilingSizes::TINY
        } else {
            CeilingSizes::for_backend(&backend)
        };
        let ceilings = measure_ceilings::<B>(&device, sizes, 1, iters.max(3))?;
        let mut precision = Vec::new();
        let mut base_weight_bytes = None;
        let results = match self.kind {
            BenchKind::Generate { shape, variant, .. } => {
                let shapes = match (opts.tiny, shape.is_empty()) {
                    (true, _) => vec![AdapterShape::Tiny],
                    (false, true) => AdapterShape::REAL.to_vec(),
                    (false, false) => shape.clone(),
                };
                let variants = if variant.is_empty() {
                    vec![Variant::L, Variant::M, Variant::S]
                } else {
                    variant.clone()
                };
                let mut out = Vec::new();
                for &s in &shapes {
                    for &v in &variants {
                        out.extend(bench_generate::<B>(
                            s, v, &device, warmup, iters, &ceilings,
                        )?);
                    }
                }
                out
            }
            BenchKind::Prefill {
                model,
                prompt_tokens,
                precision,
                ..
            } => {
                let source = llm_source(model, opts)?;
                let llm = source.load_with::<B>(&device, *precision)?;
                base_weight_bytes = Some(llm.weight_bytes());
                vec![bench_prefill(
                    &llm,
                    &case_name(&source, *precision),
                    *prompt_tokens,
                    warmup,
                    iters,
                    &ceilings,
                )?]
            }
            BenchKind::Decode {
                model,
                prompt_tokens,
                new_tokens,
                precision,
                ..
            } => {
                let source = llm_source(model, opts)?;
                let llm = source.load_with::<B>(&device, *precision)?;
                base_weight_bytes = Some(llm.weight_bytes());
                vec![bench_decode(
                    &llm,
                    &case_name(&source, *precision),
                    *prompt_tokens,
                    *new_tokens,
                    warmup,
                    iters,
                    &ceilings,
                )?]
            }
            BenchKind::SftStep {
                model,
                tasks,
                seq,
                response,
                task_dim,
                variant,
                precision,
                ..
            } => {
                let source = llm_source(model, opts)?;
                let llm = source.load_with::<Autodiff<B>>(&device, *precision)?;
                base_weight_bytes = Some(llm.weight_bytes());
                let mut spec = SftStepSpec {
                    tasks: *tasks,
                    seq: *seq,
                    response: *response,
                    task_dim: *task_dim,
                    ..SftStepSpec::default()
                };
                spec.hyper.variant = *variant;
                if opts.tiny {
                    spec.hyper.latent = 16;
                    spec.hyper.head_in = 16;
                    spec.lora.r = 2;
                }
                vec![bench_sft_step(
                    &llm,
                    &case_name(&source, *precision),
                    &spec,
                    warmup,
                    iters,
                    &ceilings,
                )?]
            }
            BenchKind::ReconStep {
                shape,
                variant,
                library,
                tasks,
                ..
            } => {
                let spec = ReconStepSpec {
                    shape: if opts.tiny {
                        AdapterShape::Tiny
                    } else {
                        *shape
                    },
                    variant: *variant,
                    library: *library,
                    tasks_per_batch: *tasks,
                };
                vec![bench_recon_step::<Autodiff<B>>(
                    &spec, &device, warmup, iters, &ceilings,
                )?]
            }
            BenchKind::Precision { .. } => {
                let shapes: &[(&str, usize, usize, usize)] = if opts.tiny {
                    &[("tiny", 4, 32, 16)]
                } else {
                    &[
                        ("prefill-mlp", 128, 576, 1536),
                        ("decode-lm-head", 1, 576, 49152),
                    ]
                };
                let mut out = Vec::new();
                for &(case, m, k, n) in shapes {
                    let rows: Vec<PrecisionResult> =
                        bench_precision::<B>(&device, case, m, k, n, warmup, iters, &ceilings)?;
                    for r in rows {
                        precision.push(PrecisionRow {
                            case: r.measurement.case.clone(),
                            error: r.error,
                            tolerance: r.tolerance,
                        });
                        out.push(r.measurement);
                    }
                }
                out
            }
        };
        Ok(BenchReport {
            bench: self.kind.name().into(),
            device: self.device,
            backend,
            threads: std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into()),
            ceilings,
            results,
            precision,
            base_weight_bytes,
        })
    }
}

/// Runs `t2l bench`.
pub fn run(args: &BenchArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let report = run_on(
        global.device,
        Bench {
            kind: &args.kind,
            device: global.device.to_string(),
        },
    )?;
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Input(e.to_string()))?
        );
        return Ok(());
    }
    let c = &report.ceilings;
    println!(
        "{} on {} ({}, threads {}): ceilings GEMM {:.1} GFLOP/s ({}² f32), bandwidth {:.1} GB/s ({} MiB streamed)",
        report.bench,
        report.device,
        report.backend,
        report.threads,
        c.gemm_gflops,
        c.sizes.gemm_n,
        c.bandwidth_gbps,
        (c.sizes.stream_elems * 4) >> 20,
    );
    if let Some(bytes) = report.base_weight_bytes {
        println!(
            "base model weights: {:.1} MiB",
            bytes as f64 / (1 << 20) as f64
        );
    }
    for m in &report.results {
        println!("{}", m.line());
    }
    for p in &report.precision {
        println!(
            "{:<34} error {:.2e} (tolerance {:.2e})",
            p.case, p.error, p.tolerance
        );
    }
    Ok(())
}
