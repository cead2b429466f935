//! `t2l inspect PATH`: what is in a PEFT adapter directory.

use burn::prelude::Backend;
use lora_core::{LoraAdapter, delta_w_norm, frobenius_norm, load_peft, peft};
use serde::Serialize;

use crate::cli::{GlobalArgs, InspectArgs};
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// Per-module facts of an adapter.
#[derive(Debug, Serialize)]
pub struct ModuleReport {
    /// Module name.
    pub name: String,
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Shape of the stacked A: `[layers, r, d_in]`.
    pub a_shape: Vec<usize>,
    /// Shape of the stacked B: `[layers, d_out, r]`.
    pub b_shape: Vec<usize>,
    /// Frobenius norm of all A.
    pub a_norm: f64,
    /// Frobenius norm of all B.
    pub b_norm: f64,
    /// Frobenius norm of all scaled ΔW.
    pub delta_w_norm: f64,
}

/// What `t2l inspect` reports for a PEFT adapter.
#[derive(Debug, Serialize)]
pub struct AdapterReport {
    /// `"peft_adapter"`.
    pub kind: &'static str,
    /// The directory.
    pub path: String,
    /// The full adapter_config.json.
    pub config: lora_core::LoraConfig,
    /// `alpha/r` or `alpha/√r`.
    pub scaling: f64,
    /// Number of decoder layers covered.
    pub n_layers: usize,
    /// Total LoRA parameters.
    pub num_params: usize,
    /// Per module.
    pub modules: Vec<ModuleReport>,
}

/// Builds the report of an adapter.
pub fn report<B: Backend>(path: &str, adapter: &LoraAdapter<B>) -> Result<AdapterReport, CliError> {
    let modules = adapter
        .modules()
        .map(|(name, w)| {
            let shape = adapter.layout().module(name).expect("module in layout");
            Ok(ModuleReport {
                name: name.to_string(),
                d_in: shape.d_in,
                d_out: shape.d_out,
                a_shape: w.a.dims().to_vec(),
                b_shape: w.b.dims().to_vec(),
                a_norm: frobenius_norm(&w.a),
                b_norm: frobenius_norm(&w.b),
                delta_w_norm: delta_w_norm(adapter, name)?,
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    Ok(AdapterReport {
        kind: "peft_adapter",
        path: path.to_string(),
        config: adapter.config().clone(),
        scaling: adapter.scaling(),
        n_layers: adapter.layout().n_layers,
        num_params: adapter.num_params(),
        modules,
    })
}

/// One target module of a hypernetwork checkpoint.
#[derive(Debug, Serialize)]
pub struct HeadReport {
    /// Module name.
    pub name: String,
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Output width of the module's head.
    pub head_out: usize,
    /// Row of the module-type embedding the module uses.
    pub embedding_row: usize,
}

/// What `t2l inspect` reports for a hypernetwork checkpoint directory.
#[derive(Debug, Serialize)]
pub struct CheckpointReport {
    /// `"hypermod_checkpoint"` (ours) or `"reference_checkpoint"` (PyTorch `hypermod.pt`).
    pub kind: &'static str,
    /// The directory.
    pub path: String,
    /// Head variant: L, M or S.
    pub variant: String,
    /// Task-embedding width E.
    pub task_dim: usize,
    /// Latent width D.
    pub latent: usize,
    /// Head input width H.
    pub head_in: usize,
    /// Trunk dropout (training only).
    pub dropout: f64,
    /// Number of decoder layers of the generated adapters.
    pub n_layers: usize,
    /// Target modules, in layout order.
    pub modules: Vec<HeadReport>,
    /// The module-type embedding order.
    pub module_order: Vec<String>,
    /// The LoRA config of the generated adapters.
    pub lora: lora_core::LoraConfig,
    /// The text embedder recorded in the checkpoint.
    pub embedder: Option<String>,
    /// Head initialisation.
    pub init: hypermod::InitMode,
    /// Whether the heads have a bias.
    pub head_bias: bool,
    /// Frozen z-score stacks present.
    pub z_score: bool,
    /// Frozen A/B offset present.
    pub ab_offset: bool,
    /// ΔW target scaling of a ΔW-trained reconstruction model.
    pub delta_w_scaling: Option<f64>,
    /// Trainable parameters (the reference's count).
    pub trainable_params: usize,
    /// Values in the frozen stacks.
    pub frozen_values: usize,
    /// LoRA parameters of one generated adapter.
    pub adapter_params: usize,
}

/// Builds the report of a hypernetwork checkpoint directory (ours or the reference's).
pub fn checkpoint_report(path: &std::path::Path) -> Result<CheckpointReport, CliError> {
    let cfg = hypermod::checkpoint::read_any_config(path)?;
    let kind = if hypermod::checkpoint::is_checkpoint_dir(path) {
        "hypermod_checkpoint"
    } else {
        "reference_checkpoint"
    };
    let r = cfg.lora.r;
    let modules = cfg
        .layout
        .modules
        .iter()
        .map(|m| HeadReport {
            name: m.name.clone(),
            d_in: m.d_in,
            d_out: m.d_out,
            head_out: cfg.variant.head_out(r, m.d_in, m.d_out),
            embedding_row: cfg.module_index(&m.name).expect("validated order"),
        })
        .collect();
    Ok(CheckpointReport {
        kind,
        path: path.display().to_string(),
        variant: cfg.variant.to_string(),
        task_dim: cfg.task_dim,
        latent: cfg.latent,
        head_in: cfg.head_in,
        dropout: cfg.dropout,
        n_layers: cfg.layout.n_layers,
        modules,
        module_order: cfg.module_order.clone(),
        embedder: cfg.embedder.clone(),
        init: cfg.init,
        head_bias: cfg.head_bias,
        z_score: cfg.z_score,
        ab_offset: cfg.ab_offset,
        delta_w_scaling: cfg.delta_w_scaling,
        trainable_params: cfg.num_trainable_params(),
        frozen_values: cfg.num_frozen_values(),
        adapter_params: cfg.layout.n_layers
            * cfg
                .layout
                .modules
                .iter()
                .map(|m| r * (m.d_in + m.d_out))
                .sum::<usize>(),
        lora: cfg.lora,
    })
}

fn print_checkpoint(rep: &CheckpointReport) {
    println!("T2L hypernetwork ({}): {}", rep.kind, rep.path);
    println!(
        "  variant {}  E {}  D {}  H {}  dropout {}  init {:?}  head bias {}",
        rep.variant, rep.task_dim, rep.latent, rep.head_in, rep.dropout, rep.init, rep.head_bias
    );
    println!(
        "  trainable parameters: {}   frozen stack values: {}",
        rep.trainable_params, rep.frozen_values
    );
    println!(
        "  adapters: {} layers, rank {}, alpha {}, rsLoRA {}, {} LoRA parameters",
        rep.n_layers, rep.lora.r, rep.lora.lora_alpha, rep.lora.use_rslora, rep.adapter_params
    );
    if let Some(e) = &rep.embedder {
        println!("  embedder: {e}");
    }
    println!(
        "  {:<10} {:>7} {:>7} {:>9} {:>7}",
        "module", "d_in", "d_out", "head out", "row"
    );
    for m in &rep.modules {
        println!(
            "  {:<10} {:>7} {:>7} {:>9} {:>7}",
            m.name, m.d_in, m.d_out, m.head_out, m.embedding_row
        );
    }
}

struct Inspect<'a>(&'a InspectArgs, &'a GlobalArgs);

impl BackendTask for Inspect<'_> {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) -> Result<(), CliError> {
        let Inspect(args, global) = self;
        let path = &args.path;
        if !path.exists() {
            return Err(CliError::Input(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
        if hypermod::checkpoint::is_checkpoint_dir(path)
            || hypermod::reference::is_reference_dir(path)
        {
            let rep = checkpoint_report(path)?;
            if global.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rep).expect("report serialises")
                );
            } else {
                print_checkpoint(&rep);
            }
            return Ok(());
        }
        if !peft::is_peft_dir(path) {
            return Err(CliError::Input(format!(
                "{}: not a PEFT adapter directory (expected {} and {}) nor a hypernetwork checkpoint",
                path.display(),
                peft::WEIGHTS_FILE,
                peft::CONFIG_FILE
            )));
        }
        let adapter = load_peft::<B>(path, &device)?;
        let rep = report(&path.display().to_string(), &adapter)?;
        if global.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&rep).expect("report serialises")
            );
        } else {
            print_text(&rep);
        }
        Ok(())
    }
}

fn print_text(rep: &AdapterReport) {
    let c = &rep.config;
    println!("PEFT LoRA adapter: {}", rep.path);
    println!(
        "  rank {}  alpha {}  rsLoRA {}  scaling {:.4}  dropout {}",
        c.r, c.lora_alpha, c.use_rslora, rep.scaling, c.lora_dropout
    );
    if let Some(base) = &c.base_model_name_or_path {
        println!("  base model: {base}");
    }
    println!(
        "  layers: {}   parameters: {}",
        rep.n_layers, rep.num_params
    );
    println!(
        "  {:<10} {:>7} {:>7}  {:<16} {:<16} {:>10} {:>10} {:>10}",
        "module", "d_in", "d_out", "A shape", "B shape", "|A|", "|B|", "|ΔW|"
    );
    for m in &rep.modules {
        println!(
            "  {:<10} {:>7} {:>7}  {:<16} {:<16} {:>10.4} {:>10.4} {:>10.4}",
            m.name,
            m.d_in,
            m.d_out,
            format!("{:?}", m.a_shape),
            format!("{:?}", m.b_shape),
            m.a_norm,
            m.b_norm,
            m.delta_w_norm
        );
    }
}

/// Entry point of `t2l inspect`.
pub fn run(args: &InspectArgs, global: &GlobalArgs) -> Result<(), CliError> {
    run_on(global.device, Inspect(args, global))
}
