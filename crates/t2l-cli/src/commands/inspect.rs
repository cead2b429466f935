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
        if !peft::is_peft_dir(path) {
            return Err(CliError::Input(format!(
                "{}: not a PEFT adapter directory (expected {} and {})",
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
