//! The named tensors of a hypernetwork: the one list of names, shapes and initialisations that
//! construction, checkpoints, imports and parameter counts share.
//!
//! Names and layouts are the reference's PyTorch state-dict keys (reference notes §6): Linear
//! weights are `[out, in]`, LayerNorm parameters are `weight`/`bias`, the frozen stacks are
//! `AB_offset.{A,B}.{module}`, `mean_recon_target.{A,B}.{module}`, `std_recon_target.{A,B}.{module}`
//! shaped like a LoRA stack (`A [layers, r, d_in]`, `B [layers, d_out, r]`).

use crate::config::{HyperConfig, InitMode};

/// How a tensor is initialised in a fresh hypernetwork (PyTorch's defaults unless stated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitRule {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// `U(-bound, bound)`; PyTorch's Linear default has `bound = 1/√fan_in` for weight and bias.
    Uniform {
        /// Half-width of the interval.
        bound: f64,
    },
    /// `N(0, 1)` (PyTorch's `nn.Embedding` default and the A/B embeddings).
    StandardNormal,
    /// Bias-HyperInit of the head bias of the layout module with this index ([`crate::init`]).
    HeadBias {
        /// Index of the module in the layout.
        module: usize,
    },
}

/// One named tensor of a hypernetwork.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// State-dict name (`mlp1.mlp.1.weight`, `heads.q_proj.bias`, `AB_offset.A.v_proj`).
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// `false` for the frozen stacks (never trained, not counted as parameters).
    pub trainable: bool,
    /// Initialisation in a fresh hypernetwork.
    pub init: InitRule,
}

impl TensorSpec {
    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Name of a LayerNorm's scale (`{prefix}.weight`) and shift (`{prefix}.bias`).
pub(crate) fn weight(prefix: &str) -> String {
    format!("{prefix}.weight")
}

/// `{prefix}.bias`.
pub(crate) fn bias(prefix: &str) -> String {
    format!("{prefix}.bias")
}

/// Prefixes of the trunk's sub-layers, as the reference's `nn.Sequential` indices number them.
pub(crate) mod prefix {
    /// Task encoder Linear(E, D/2).
    pub const TASK_LINEAR: &str = "task_encoder.mlp.0";
    /// Task encoder LayerNorm(D/2).
    pub const TASK_NORM: &str = "task_encoder.mlp.1";
    /// Layer-depth embedding table.
    pub const DEPTH_TABLE: &str = "layer_depth_encoder.0";
    /// Layer-depth LayerNorm.
    pub const DEPTH_NORM: &str = "layer_depth_encoder.1";
    /// Module-type embedding table.
    pub const TYPE_TABLE: &str = "layer_type_encoder.0";
    /// Module-type LayerNorm.
    pub const TYPE_NORM: &str = "layer_type_encoder.1";
    /// Mixer Linear(D, 4D).
    pub const MIXER_IN: &str = "mixer.1";
    /// Mixer Linear(4D, D).
    pub const MIXER_OUT: &str = "mixer.4";
    /// Shared LayerNorm of the A/B embeddings (M, S).
    pub const OUT_EMB_NORM: &str = "out_emb_norm";
    /// Residual block: LayerNorm, Linear(D,4D), Linear(4D,D) under `{block}.mlp.`.
    pub const RES_NORM: &str = "mlp.0";
    /// See [`RES_NORM`].
    pub const RES_IN: &str = "mlp.1";
    /// See [`RES_NORM`].
    pub const RES_OUT: &str = "mlp.4";
    /// Output block mlp3: LayerNorm, Linear(D,4D), Linear(4D,H).
    pub const MLP3_NORM: &str = "mlp3.0";
    /// See [`MLP3_NORM`].
    pub const MLP3_IN: &str = "mlp3.1";
    /// See [`MLP3_NORM`].
    pub const MLP3_OUT: &str = "mlp3.4";
}

/// `heads.{module}`.
pub(crate) fn head(module: &str) -> String {
    format!("heads.{module}")
}

/// `out_emb.{module}.{A|B}`.
pub(crate) fn out_emb(module: &str, factor: char) -> String {
    format!("out_emb.{module}.{factor}")
}

/// The three frozen stacks, by name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// `AB_offset`: added to the generated factors.
    Offset,
    /// `mean_recon_target`: z-score mean.
    Mean,
    /// `std_recon_target`: z-score standard deviation.
    Std,
}

impl Stack {
    /// The state-dict prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Stack::Offset => "AB_offset",
            Stack::Mean => "mean_recon_target",
            Stack::Std => "std_recon_target",
        }
    }

    /// `{prefix}.{A|B}.{module}`.
    pub fn name(self, factor: char, module: &str) -> String {
        format!("{}.{factor}.{module}", self.prefix())
    }
}

/// Accumulates specs with the reference's sub-layer conventions.
struct Specs(Vec<TensorSpec>);

impl Specs {
    fn push(&mut self, name: String, shape: Vec<usize>, trainable: bool, init: InitRule) {
        self.0.push(TensorSpec {
            name,
            shape,
            trainable,
            init,
        });
    }

    /// PyTorch `nn.Linear(d_in, d_out)`: weight `[d_out, d_in]`, bias `[d_out]`, both `U(±1/√d_in)`.
    fn linear(&mut self, p: &str, d_in: usize, d_out: usize) {
        self.push(weight(p), vec![d_out, d_in], true, uniform(d_in));
        self.push(bias(p), vec![d_out], true, uniform(d_in));
    }

    /// PyTorch `nn.LayerNorm(width)`: weight ones, bias zeros.
    fn norm(&mut self, p: &str, width: usize) {
        self.push(weight(p), vec![width], true, InitRule::Ones);
        self.push(bias(p), vec![width], true, InitRule::Zeros);
    }
}

/// PyTorch's default bound for a Linear of fan-in `fan_in`.
fn uniform(fan_in: usize) -> InitRule {
    InitRule::Uniform {
        bound: 1.0 / (fan_in as f64).sqrt(),
    }
}

/// Every named tensor of a hypernetwork with this configuration, in the reference's state-dict
/// order (stacks first, then the trunk, the heads and the A/B embeddings).
pub fn tensor_specs(cfg: &HyperConfig) -> Vec<TensorSpec> {
    let (e, d, h, r) = (cfg.task_dim, cfg.latent, cfg.head_in, cfg.lora.r);
    let n_layers = cfg.layout.n_layers;
    let mut s = Specs(Vec::new());

    let mut stacks = Vec::new();
    if cfg.ab_offset {
        stacks.push((Stack::Offset, InitRule::Zeros));
    }
    if cfg.z_score {
        stacks.push((Stack::Mean, InitRule::Zeros));
        stacks.push((Stack::Std, InitRule::Ones));
    }
    for (stack, init) in stacks {
        for factor in ['A', 'B'] {
            for m in &cfg.layout.modules {
                let shape = if factor == 'A' {
                    vec![n_layers, r, m.d_in]
                } else {
                    vec![n_layers, m.d_out, r]
                };
                s.push(stack.name(factor, &m.name), shape, false, init);
            }
        }
    }

    s.linear(prefix::TASK_LINEAR, e, d / 2);
    s.norm(prefix::TASK_NORM, d / 2);
    s.push(
        weight(prefix::DEPTH_TABLE),
        vec![n_layers, d / 4],
        true,
        InitRule::StandardNormal,
    );
    s.norm(prefix::DEPTH_NORM, d / 4);
    s.push(
        weight(prefix::TYPE_TABLE),
        vec![cfg.module_order.len(), d / 4],
        true,
        InitRule::StandardNormal,
    );
    s.norm(prefix::TYPE_NORM, d / 4);
    s.linear(prefix::MIXER_IN, d, 4 * d);
    s.linear(prefix::MIXER_OUT, 4 * d, d);
    for block in ["mlp1", "mlp2"] {
        s.norm(&format!("{block}.{}", prefix::RES_NORM), d);
        s.linear(&format!("{block}.{}", prefix::RES_IN), d, 4 * d);
        s.linear(&format!("{block}.{}", prefix::RES_OUT), 4 * d, d);
    }
    s.norm(prefix::MLP3_NORM, d);
    s.linear(prefix::MLP3_IN, d, 4 * d);
    s.linear(prefix::MLP3_OUT, 4 * d, h);

    for (i, m) in cfg.layout.modules.iter().enumerate() {
        let w = cfg.variant.head_out(r, m.d_in, m.d_out);
        let (w_init, b_init) = match cfg.init {
            InitMode::BiasHyperInit => (InitRule::Zeros, InitRule::HeadBias { module: i }),
            InitMode::ZeroHead => (InitRule::Zeros, InitRule::Zeros),
            InitMode::Default => (uniform(h), uniform(h)),
        };
        let p = head(&m.name);
        s.push(weight(&p), vec![w, h], true, w_init);
        if cfg.head_bias {
            s.push(bias(&p), vec![w], true, b_init);
        }
    }
    if cfg.variant.shared_ab_head() {
        for m in &cfg.layout.modules {
            for factor in ['A', 'B'] {
                s.push(
                    out_emb(&m.name, factor),
                    vec![d],
                    true,
                    InitRule::StandardNormal,
                );
            }
        }
        s.norm(prefix::OUT_EMB_NORM, d);
    }
    s.0
}
