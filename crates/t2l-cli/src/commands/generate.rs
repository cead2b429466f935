//! `t2l generate --checkpoint DIR (--description TEXT | --embedding FILE) --out DIR`: a PEFT LoRA
//! adapter from a task description (or a raw task embedding) with a T2L hypernetwork, on the
//! generic path or the packed CPU one (`--kernel`, `--precision`).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use clap::Args;
use hypermod::HyperModulator;
use hypermod::embedding_file::read_embedding;
use hypermod::generator::AdapterGenerator;
use hypermod::pipeline::{DESCRIPTION_FILE, write_adapter_dir};
use hypermod::reference::{ImportOptions, is_reference_dir};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::commands::t2l_pipeline::{GenerationArgs, GenerationPlan, open_generator_pipeline};
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// `t2l generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A hypernetwork checkpoint directory: ours (hypermod_config.json + hypermod.safetensors) or
    /// the PyTorch reference's (hypermod.pt + args.yaml + adapter_config.json).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The task, in one sentence (embedded with the checkpoint's text embedder).
    #[arg(
        long,
        required_unless_present = "embedding",
        conflicts_with = "embedding"
    )]
    pub description: Option<String>,
    /// A raw task embedding instead of a description: a JSON list of numbers or a .npy file
    /// (float32/float64, shape (E,) or (1, E)), fed to the hypernetwork exactly as given.
    #[arg(long)]
    pub embedding: Option<PathBuf>,
    /// The text-embedder model directory (BERT family) for --description; defaults to the
    /// embedder recorded in the checkpoint when that is a directory here.
    #[arg(long)]
    pub embedder: Option<PathBuf>,
    /// Reference checkpoints only: the module-type embedding order, comma-separated
    /// (overrides module_order.json and adapter_config.json's order).
    #[arg(long, value_delimiter = ',')]
    pub module_order: Option<Vec<String>>,
    /// Where to write the PEFT adapter directory (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Generation path and precision.
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// What `t2l generate --json` prints.
#[derive(Debug, Serialize)]
pub struct GenerateReport {
    /// The adapter directory written.
    pub out: String,
    /// The checkpoint used.
    pub checkpoint: String,
    /// Head variant (L, M or S).
    pub variant: String,
    /// Layers of the adapter.
    pub n_layers: usize,
    /// Target modules.
    pub modules: Vec<String>,
    /// LoRA rank.
    pub rank: usize,
    /// LoRA parameters in the adapter.
    pub num_params: usize,
    /// The description, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The embedding file, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<String>,
    /// The text embedder's directory, for a description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedder: Option<String>,
    /// The generation path: `packed` (CPU kernel) or `generic` (burn's forward).
    pub path: String,
    /// The precision: `f32`, `f16-heads`, `bf16` or `bf16-heads` (the generic path is f32).
    pub precision: String,
    /// The kernel of the bf16 parts (`amx` or `avx512`), for a bf16 precision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bf16_kernel: Option<String>,
}

/// The kernel of `generator`'s bf16 parts, lower case (`amx`, `avx512`); `None` without any.
fn bf16_kernel_name<B: Backend>(generator: &AdapterGenerator<B>) -> Option<String> {
    generator
        .packed()
        .and_then(|p| p.bf16_kernel())
        .map(|k| format!("{k:?}").to_lowercase())
}

/// Opens the checkpoint (ours or the reference's, with an optional module order).
fn open_checkpoint<B: Backend>(
    args: &GenerateArgs,
    device: &B::Device,
) -> Result<HyperModulator<B>, CliError> {
    let dir = &args.checkpoint;
    if !dir.is_dir() {
        return Err(CliError::Input(format!(
            "{}: no such checkpoint directory",
            dir.display()
        )));
    }
    Ok(match &args.module_order {
        Some(order) if is_reference_dir(dir) => HyperModulator::import_reference(
            dir,
            &ImportOptions::with_module_order(order.iter().cloned()),
            device,
        )?,
        Some(_) => {
            return Err(CliError::Input(format!(
                "--module-order applies to reference checkpoints only; {} records its own order",
                dir.display()
            )));
        }
        None => HyperModulator::open(dir, device)?,
    })
}

struct Generate<'a> {
    args: &'a GenerateArgs,
    plan: GenerationPlan,
}

impl BackendTask for Generate<'_> {
    type Output = GenerateReport;
    fn run<B: Backend>(self, device: B::Device) -> Result<GenerateReport, CliError> {
        let Generate { args, plan } = self;
        let hyper = open_checkpoint::<B>(args, &device)?;
        let cfg = hyper.config().clone();
        let generator = plan.generator(hyper)?;
        let mut report = GenerateReport {
            out: args.out.display().to_string(),
            checkpoint: args.checkpoint.display().to_string(),
            variant: cfg.variant.to_string(),
            n_layers: cfg.layout.n_layers,
            modules: cfg.layout.module_names(),
            rank: cfg.lora.r,
            num_params: 0,
            description: args.description.clone(),
            embedding: None,
            embedder: None,
            path: generator.path().to_string(),
            precision: plan.precision.to_string(),
            bf16_kernel: bf16_kernel_name(&generator),
        };
        let adapter = match (&args.description, &args.embedding) {
            (_, Some(file)) => {
                let values = read_embedding(file)?;
                if values.len() != cfg.task_dim {
                    return Err(CliError::Input(format!(
                        "{}: the embedding has {} values, the hypernetwork expects {}",
                        file.display(),
                        values.len(),
                        cfg.task_dim
                    )));
                }
                report.embedding = Some(file.display().to_string());
                let emb =
                    Tensor::<B, 1>::from_data(TensorData::new(values, [cfg.task_dim]), &device);
                let adapter = generator.generate_one(emb)?;
                write_adapter_dir(&adapter, None, &args.out)?;
                adapter
            }
            (Some(description), None) => {
                let (pipeline, dir) = open_generator_pipeline(
                    generator,
                    &args.checkpoint,
                    args.embedder.as_deref(),
                    &device,
                )?;
                report.embedder = Some(dir.display().to_string());
                pipeline.write_peft(description, &args.out)?
            }
            (None, None) => {
                return Err(CliError::Input(
                    "give --description TEXT or --embedding FILE".into(),
                ));
            }
        };
        report.num_params = adapter.num_params();
        Ok(report)
    }
}

fn print_text(rep: &GenerateReport) {
    println!(
        "wrote {} (T2L-{}: {} layers × {:?}, rank {}, {} LoRA parameters)",
        rep.out, rep.variant, rep.n_layers, rep.modules, rep.rank, rep.num_params
    );
    match &rep.bf16_kernel {
        Some(kernel) => println!("  {} path, {} ({kernel} kernel)", rep.path, rep.precision),
        None => println!("  {} path, {}", rep.path, rep.precision),
    }
    if rep.description.is_some() {
        println!(
            "  description saved in {}",
            Path::new(&rep.out).join(DESCRIPTION_FILE).display()
        );
    }
}

/// Entry point of `t2l generate`.
pub fn run(args: &GenerateArgs, global: &GlobalArgs) -> Result<(), CliError> {
    // Flags the device cannot honour fail before anything is loaded.
    let plan = args.generation.plan(global.device)?;
    let task = Generate { args, plan };
    let rep = run_on(global.device, task)?;
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rep).expect("report serialises")
        );
    } else if !global.quiet {
        print_text(&rep);
    }
    Ok(())
}
