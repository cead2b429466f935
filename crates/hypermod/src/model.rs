//! [`HyperModulator`]: the T2L hypernetwork's module tree, its construction from named tensors and
//! its export to them.

use burn::nn::LayerNorm;
use burn::prelude::*;

use crate::config::HyperConfig;
use crate::error::{Error, Result};
use crate::heads::AbEmbedding;
use crate::init::{NamedTensors, initial_tensors};
use crate::nn::norm::{export_norm, take_norm};
use crate::nn::{Dense, EmbeddingTable, Mixer, OutputBlock, ResidualBlock, TaskEncoder};
use crate::spec::{head, prefix};
use crate::stacks::FrozenStacks;
use crate::tensors::{TensorTaker, check_tensors};

/// The Text-to-LoRA hypernetwork: a task embedding `[n, E]` in, a complete LoRA adapter per row out.
///
/// Structure (reference notes §2; field names mirror the reference's state-dict prefixes):
/// `task_encoder` (Linear E→D/2 + LN), `layer_depth_encoder` and `layer_type_encoder` (embedding
/// D/4 + LN), concatenated `[task, layer, module]`, then `mixer`, the residual blocks `mlp1` and
/// `mlp2`, the output block `mlp3` (→ H) and one head per target module. M and S add the A/B
/// embeddings `out_emb` and their LayerNorm `out_emb_norm` (added before `mlp2`); S also applies
/// rotary positions over the rank index and `mlp2` a second time.
///
/// Generation lives in [`crate::forward`]; checkpoints in [`crate::checkpoint`].
///
/// ```
/// use burn::backend::Flex;
/// use hypermod::{HyperConfig, HyperModulator, Variant};
/// use lora_core::{AdapterLayout, LoraConfig, ModuleShape};
/// let layout = AdapterLayout::new(2, vec![ModuleShape { name: "q_proj".into(), d_in: 16, d_out: 8 }]);
/// let cfg = HyperConfig::new(Variant::L, 12, layout, LoraConfig::new(2, 4.0, ["q_proj"]))
///     .with_latent(16)
///     .with_head_in(8);
/// let device = Default::default();
/// let hyper = HyperModulator::<Flex>::new(cfg, &device, 0).unwrap();
/// let adapters = hyper.generate(burn::tensor::Tensor::ones([3, 12], &device)).unwrap();
/// assert_eq!(adapters.len(), 3);
/// assert_eq!(adapters.module("q_proj").unwrap().a.dims(), [3, 2, 2, 16]);
/// ```
#[derive(Module, Debug)]
pub struct HyperModulator<B: Backend> {
    /// `task_encoder.mlp.{0,1}`
    pub task_encoder: TaskEncoder<B>,
    /// `layer_depth_encoder.{0,1}`: one row per layer.
    pub layer_depth_encoder: EmbeddingTable<B>,
    /// `layer_type_encoder.{0,1}`: one row per module, in [`HyperConfig::module_order`].
    pub layer_type_encoder: EmbeddingTable<B>,
    /// `mixer.{1,4}`
    pub mixer: Mixer<B>,
    /// `mlp1.mlp.{0,1,4}`
    pub mlp1: ResidualBlock<B>,
    /// `mlp2.mlp.{0,1,4}`
    pub mlp2: ResidualBlock<B>,
    /// `mlp3.{0,1,4}`
    pub mlp3: OutputBlock<B>,
    /// `heads.{module}`, one per layout module in layout order (weight `[out, H]`).
    pub heads: Vec<Dense<B>>,
    /// `out_emb.{module}.{A,B}` (M and S; empty for L), layout order.
    pub out_emb: Vec<AbEmbedding<B>>,
    /// `out_emb_norm` (M and S).
    pub out_emb_norm: Option<LayerNorm<B>>,
    /// Frozen z-score and offset stacks (constants, not parameters).
    pub stacks: FrozenStacks<B>,
    #[module(skip)]
    config: HyperConfig,
}

impl<B: Backend> HyperModulator<B> {
    /// A freshly initialised hypernetwork (PyTorch's default initialisations plus the head
    /// initialisation of [`HyperConfig::init`]), drawn on the host from `seed`.
    pub fn new(config: HyperConfig, device: &B::Device, seed: u64) -> Result<Self> {
        config.validate()?;
        let tensors = initial_tensors(&config, seed);
        Self::from_tensors(config, tensors, device, "<initialisation>")
    }

    /// Builds the hypernetwork from named host tensors in the reference's state-dict naming and
    /// layout ([`crate::spec`]): the single loading path of fresh models, our checkpoints and the
    /// reference import. Every missing, unexpected or mis-shaped tensor is named in one
    /// [`Error::Tensors`] (`origin` labels the source in messages).
    pub fn from_tensors(
        config: HyperConfig,
        tensors: NamedTensors,
        device: &B::Device,
        origin: &str,
    ) -> Result<Self> {
        config.validate()?;
        let problems = check_tensors(&config, &tensors);
        if !problems.is_empty() {
            return Err(Error::Tensors {
                origin: origin.to_string(),
                problems,
            });
        }
        let d = config.latent;
        let modules = config.layout.module_names();
        let mut t = TensorTaker::new(tensors, device, origin);
        let stacks = FrozenStacks::take(&mut t, &modules, config.ab_offset, config.z_score)?;
        let task_encoder = TaskEncoder::take(&mut t, d / 2)?;
        let layer_depth_encoder =
            EmbeddingTable::take(&mut t, prefix::DEPTH_TABLE, prefix::DEPTH_NORM, d / 4)?;
        let layer_type_encoder =
            EmbeddingTable::take(&mut t, prefix::TYPE_TABLE, prefix::TYPE_NORM, d / 4)?;
        let mixer = Mixer::take(&mut t)?;
        let mlp1 = ResidualBlock::take(&mut t, "mlp1", d)?;
        let mlp2 = ResidualBlock::take(&mut t, "mlp2", d)?;
        let mlp3 = OutputBlock::take(&mut t, d)?;
        let heads = modules
            .iter()
            .map(|m| Dense::take(&mut t, &head(m), config.head_bias))
            .collect::<Result<Vec<_>>>()?;
        let (out_emb, out_emb_norm) = if config.variant.shared_ab_head() {
            let emb = modules
                .iter()
                .map(|m| AbEmbedding::take(&mut t, m))
                .collect::<Result<Vec<_>>>()?;
            (emb, Some(take_norm(&mut t, prefix::OUT_EMB_NORM, d)?))
        } else {
            (Vec::new(), None)
        };
        Ok(Self {
            task_encoder,
            layer_depth_encoder,
            layer_type_encoder,
            mixer,
            mlp1,
            mlp2,
            mlp3,
            heads,
            out_emb,
            out_emb_norm,
            stacks,
            config,
        })
    }

    /// Every tensor (parameters and frozen stacks) as named host tensors, in the reference's
    /// state-dict naming and layout: `from_tensors(config, to_tensors())` rebuilds this module.
    pub fn to_tensors(&self) -> NamedTensors {
        let modules = self.config.layout.module_names();
        let mut out = NamedTensors::new();
        self.stacks.export(&modules, &mut out);
        self.task_encoder.export(&mut out);
        self.layer_depth_encoder
            .export(prefix::DEPTH_TABLE, prefix::DEPTH_NORM, &mut out);
        self.layer_type_encoder
            .export(prefix::TYPE_TABLE, prefix::TYPE_NORM, &mut out);
        self.mixer.export(&mut out);
        self.mlp1.export("mlp1", &mut out);
        self.mlp2.export("mlp2", &mut out);
        self.mlp3.export(&mut out);
        for (h, m) in self.heads.iter().zip(&modules) {
            h.export(&head(m), &mut out);
        }
        for (e, m) in self.out_emb.iter().zip(&modules) {
            e.export(m, &mut out);
        }
        if let Some(norm) = &self.out_emb_norm {
            export_norm(norm, prefix::OUT_EMB_NORM, &mut out);
        }
        out
    }

    /// The configuration this hypernetwork was built from.
    pub fn config(&self) -> &HyperConfig {
        &self.config
    }

    pub(crate) fn config_mut(&mut self) -> &mut HyperConfig {
        &mut self.config
    }

    /// Number of trainable parameters (the frozen stacks are not parameters).
    pub fn num_trainable_params(&self) -> usize {
        self.num_params()
    }
}
