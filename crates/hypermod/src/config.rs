//! [`HyperConfig`]: everything that fixes the architecture of a T2L hypernetwork and the adapters it
//! emits (reference notes §2, paper §3.1 and Appendix B/C).

use std::collections::BTreeSet;

use lora_core::{AdapterLayout, LoraConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The three output-head variants of the paper.
///
/// * **L**: one head per module emits A and B at once (`r·(d_in+d_out)` outputs).
/// * **M**: one head per module shared by A and B, which are told apart by learned A/B embeddings
///   added (through a LayerNorm) before `mlp2` (`r·max(d_in,d_out)` outputs).
/// * **S**: as M, plus one pass per rank row: rotary position over the rank index and `mlp2` applied
///   a second time (`max(d_in,d_out)` outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// Large: separate A and B outputs per module.
    L,
    /// Medium: A/B share the head, selected by learned embeddings.
    M,
    /// Small: shared head, one rank row per pass.
    S,
}

impl Variant {
    /// Whether A and B share one head (M and S).
    pub fn shared_ab_head(self) -> bool {
        !matches!(self, Variant::L)
    }

    /// The output width of the head of a module with the given widths at rank `r`.
    pub fn head_out(self, r: usize, d_in: usize, d_out: usize) -> usize {
        match self {
            Variant::L => r * (d_in + d_out),
            Variant::M => r * d_in.max(d_out),
            Variant::S => d_in.max(d_out),
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::L => "L",
            Variant::M => "M",
            Variant::S => "S",
        })
    }
}

impl std::str::FromStr for Variant {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "L" => Ok(Variant::L),
            "M" => Ok(Variant::M),
            "S" => Ok(Variant::S),
            other => Err(Error::config(
                "variant",
                format!("unknown variant `{other}` (expected L, M or S)"),
            )),
        }
    }
}

/// How the output heads are initialised (reference notes §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitMode {
    /// SFT from scratch: head weights zero and the head bias set so that the first generated adapter
    /// is a standard LoRA initialisation (Bias-HyperInit; see [`crate::init`] for the exact
    /// constants and the rule for modules with `d_out > d_in`). Needs `head_bias`.
    BiasHyperInit,
    /// SFT of a residual over a multi-task LoRA (an A/B offset): head weights (and bias, if any)
    /// zero, so the first adapter is exactly the offset.
    ZeroHead,
    /// Reconstruction: PyTorch's default `nn.Linear` initialisation for the heads
    /// (`U(±1/√head_in)`); with z-score targets the heads have no bias.
    Default,
}

/// The architecture of a T2L hypernetwork and of the adapters it generates.
///
/// Sizes default to the reference's (`latent` D = 128, `head_in` H = 512, dropout 0.05).
///
/// ```
/// use hypermod::{HyperConfig, Variant};
/// use lora_core::{AdapterLayout, LoraConfig, ModuleShape};
/// let layout = AdapterLayout::new(30, vec![
///     ModuleShape { name: "q_proj".into(), d_in: 576, d_out: 576 },
///     ModuleShape { name: "v_proj".into(), d_in: 576, d_out: 192 },
/// ]);
/// let lora = LoraConfig::new(8, 16.0, ["q_proj", "v_proj"]).with_rslora(true);
/// let cfg = HyperConfig::new(Variant::L, 1024, layout, lora);
/// assert_eq!(cfg.num_trainable_params(), 8_671_168);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HyperConfig {
    /// Head variant (L, M or S).
    pub variant: Variant,
    /// Width `E` of a task embedding (1024 for gte-large, 384 for all-MiniLM-L6-v2).
    pub task_dim: usize,
    /// Latent width `D` of the trunk (task part D/2, layer and module parts D/4 each); divisible by 4.
    pub latent: usize,
    /// Width `H` of the head input (output of `mlp3`).
    pub head_in: usize,
    /// Dropout probability of the trunk, active only in training forwards.
    pub dropout: f64,
    /// Layers and target-module shapes of the adapters generated (from a base model's `config.json`).
    pub layout: AdapterLayout,
    /// LoRA hyper-parameters of the generated adapters (rank, alpha, rsLoRA, base model name).
    pub lora: LoraConfig,
    /// Which row of the module-type embedding each module uses: `module_order[i]` has row `i`.
    /// Stored explicitly because the reference derives it from a hash-seeded Python set.
    pub module_order: Vec<String>,
    /// Identifier of the text embedder the hypernetwork was trained with (a model id or directory).
    #[serde(default)]
    pub embedder: Option<String>,
    /// How the heads were initialised.
    pub init: InitMode,
    /// Whether the heads have a bias.
    pub head_bias: bool,
    /// Frozen per-element mean/std stacks: generation de-normalises z-score predictions
    /// (`x·(std+1e-10)+mean`).
    #[serde(default)]
    pub z_score: bool,
    /// A frozen A/B offset stack: generation adds it (the hypernetwork predicts a residual over a
    /// multi-task LoRA).
    #[serde(default)]
    pub ab_offset: bool,
    /// Reconstruction on ΔW with this target scaling: generation divides each factor by its square root.
    #[serde(default)]
    pub delta_w_scaling: Option<f64>,
}

/// The `+1e-10` of the reference's z-score de-normalisation `x·(std+1e-10)+mean`.
pub const Z_SCORE_EPS: f64 = 1e-10;

/// LayerNorm epsilon of every normalisation in the hypernetwork (PyTorch's default).
pub const LAYER_NORM_EPS: f64 = 1e-5;

impl HyperConfig {
    /// A config with the reference's defaults: D = 128, H = 512, dropout 0.05, module order = the
    /// layout's, Bias-HyperInit with head bias, no frozen stacks.
    pub fn new(variant: Variant, task_dim: usize, layout: AdapterLayout, lora: LoraConfig) -> Self {
        let module_order = layout.module_names();
        Self {
            variant,
            task_dim,
            latent: 128,
            head_in: 512,
            dropout: 0.05,
            layout,
            lora,
            module_order,
            embedder: None,
            init: InitMode::BiasHyperInit,
            head_bias: true,
            z_score: false,
            ab_offset: false,
            delta_w_scaling: None,
        }
    }

    /// Sets the latent width `D`.
    pub fn with_latent(mut self, latent: usize) -> Self {
        self.latent = latent;
        self
    }

    /// Sets the head input width `H`.
    pub fn with_head_in(mut self, head_in: usize) -> Self {
        self.head_in = head_in;
        self
    }

    /// Sets the trunk dropout probability.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Sets the module-embedding order explicitly.
    pub fn with_module_order(mut self, order: Vec<String>) -> Self {
        self.module_order = order;
        self
    }

    /// Records the text embedder's identifier.
    pub fn with_embedder(mut self, id: impl Into<String>) -> Self {
        self.embedder = Some(id.into());
        self
    }

    /// Sets the head initialisation; the head bias follows the reference's rule (present for
    /// Bias-HyperInit, absent for [`InitMode::ZeroHead`] and z-score reconstruction).
    /// Use [`HyperConfig::with_head_bias`] afterwards to override.
    pub fn with_init(mut self, init: InitMode) -> Self {
        self.init = init;
        self.head_bias = init == InitMode::BiasHyperInit;
        self
    }

    /// Sets whether the heads have a bias.
    pub fn with_head_bias(mut self, bias: bool) -> Self {
        self.head_bias = bias;
        self
    }

    /// Adds (or removes) the frozen z-score mean/std stacks.
    pub fn with_z_score(mut self, on: bool) -> Self {
        self.z_score = on;
        self
    }

    /// Adds (or removes) the frozen A/B offset stack.
    pub fn with_ab_offset(mut self, on: bool) -> Self {
        self.ab_offset = on;
        self
    }

    /// Sets the ΔW target scaling of a ΔW-trained reconstruction hypernetwork.
    pub fn with_delta_w_scaling(mut self, scaling: Option<f64>) -> Self {
        self.delta_w_scaling = scaling;
        self
    }

    /// The LoRA rank `r`.
    pub fn rank(&self) -> usize {
        self.lora.r
    }

    /// The row of the module-type embedding of `module`.
    pub fn module_index(&self, module: &str) -> Option<usize> {
        self.module_order.iter().position(|m| m == module)
    }

    /// Checks that every field is usable and that the parts agree with each other.
    pub fn validate(&self) -> Result<()> {
        if self.task_dim == 0 {
            return Err(Error::config("task_dim", "must be at least 1"));
        }
        if self.latent == 0 || !self.latent.is_multiple_of(4) {
            return Err(Error::config(
                "latent",
                format!(
                    "{} is not a positive multiple of 4 (task part D/2, layer and module parts D/4)",
                    self.latent
                ),
            ));
        }
        if self.head_in == 0 {
            return Err(Error::config("head_in", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config(
                "dropout",
                format!("{} is not in [0, 1)", self.dropout),
            ));
        }
        if self.layout.n_layers == 0 {
            return Err(Error::config("layout.n_layers", "must be at least 1"));
        }
        if self.layout.modules.is_empty() {
            return Err(Error::config("layout.modules", "no target module"));
        }
        for m in &self.layout.modules {
            if m.d_in == 0 || m.d_out == 0 {
                return Err(Error::config(
                    "layout.modules",
                    format!("module `{}` has a zero width", m.name),
                ));
            }
        }
        if self.lora.r == 0 {
            return Err(Error::config("lora.r", "must be at least 1"));
        }
        let names: BTreeSet<&str> = self
            .layout
            .modules
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        if names.len() != self.layout.modules.len() {
            return Err(Error::config("layout.modules", "a module is listed twice"));
        }
        let targets: BTreeSet<&str> = self
            .lora
            .target_modules
            .iter()
            .map(String::as_str)
            .collect();
        if targets != names {
            return Err(Error::config(
                "lora.target_modules",
                format!("{targets:?} differ from the layout's modules {names:?}"),
            ));
        }
        let order: BTreeSet<&str> = self.module_order.iter().map(String::as_str).collect();
        if order != names || self.module_order.len() != names.len() {
            return Err(Error::config(
                "module_order",
                format!(
                    "{:?} is not an ordering of the layout's modules {names:?}",
                    self.module_order
                ),
            ));
        }
        if self.init == InitMode::BiasHyperInit && !self.head_bias {
            return Err(Error::config(
                "head_bias",
                "Bias-HyperInit needs heads with a bias",
            ));
        }
        if self.z_score && self.delta_w_scaling.is_some() {
            return Err(Error::config(
                "delta_w_scaling",
                "z-score and ΔW-scaled targets exclude each other",
            ));
        }
        if let Some(s) = self.delta_w_scaling
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::config(
                "delta_w_scaling",
                format!("{s} is not a positive number"),
            ));
        }
        Ok(())
    }

    /// Number of trainable parameters (everything but the frozen stacks), computed from the
    /// configuration without allocating anything. Equals the reference's count for the same config.
    pub fn num_trainable_params(&self) -> usize {
        crate::spec::tensor_specs(self)
            .iter()
            .filter(|s| s.trainable)
            .map(|s| s.numel())
            .sum()
    }

    /// Number of values in the frozen stacks (z-score mean/std, A/B offset).
    pub fn num_frozen_values(&self) -> usize {
        crate::spec::tensor_specs(self)
            .iter()
            .filter(|s| !s.trainable)
            .map(|s| s.numel())
            .sum()
    }
}
