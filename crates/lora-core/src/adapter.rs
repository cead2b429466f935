//! [`LoraAdapter`]: the A and B matrices of one task's LoRA, stacked over layers, and the maths on them.

use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::config::LoraConfig;
use crate::error::{Error, Result};
use crate::layout::{AdapterLayout, ModuleShape};

/// The LoRA factors of one module across all layers, in PEFT orientation.
///
/// `a`: `[layers, r, d_in]` (PEFT `lora_A.weight` per layer), `b`: `[layers, d_out, r]`
/// (`lora_B.weight`). The update of layer `l` is `ΔW_l = scaling · b[l] · a[l]`, shape `[d_out, d_in]`.
#[derive(Debug, Clone)]
pub struct LoraWeights<B: Backend> {
    /// `[layers, r, d_in]`
    pub a: Tensor<B, 3>,
    /// `[layers, d_out, r]`
    pub b: Tensor<B, 3>,
}

/// A complete LoRA adapter for one task: its [`LoraConfig`], the [`AdapterLayout`] it fits and, per
/// target module, the stacked factors ([`LoraWeights`]).
///
/// ```
/// use burn::backend::Flex;
/// use lora_core::{AdapterLayout, LoraAdapter, LoraConfig, ModuleShape};
/// let layout = AdapterLayout::new(2, vec![ModuleShape { name: "q_proj".into(), d_in: 8, d_out: 8 }]);
/// let cfg = LoraConfig::new(4, 8.0, ["q_proj"]);
/// let adapter = LoraAdapter::<Flex>::init_like_peft(cfg, layout, &Default::default(), 0);
/// // PEFT's initialisation has B = 0, so the update is zero.
/// let dw = adapter.delta_w(1, "q_proj").unwrap();
/// assert_eq!(dw.abs().max().into_scalar(), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct LoraAdapter<B: Backend> {
    config: LoraConfig,
    layout: AdapterLayout,
    modules: Vec<(String, LoraWeights<B>)>,
}

/// Puts `modules` in layout order after checking each with `check`; errors on a missing or an
/// extra module.
pub(crate) fn order_by_layout<W>(
    layout: &AdapterLayout,
    mut modules: Vec<(String, W)>,
    check: impl Fn(&ModuleShape, &W) -> Result<()>,
) -> Result<Vec<(String, W)>> {
    let mut ordered = Vec::with_capacity(layout.modules.len());
    for shape in &layout.modules {
        let pos = modules
            .iter()
            .position(|(n, _)| n == &shape.name)
            .ok_or_else(|| {
                Error::Incompatible(format!("no weights given for module `{}`", shape.name))
            })?;
        let (name, w) = modules.swap_remove(pos);
        check(shape, &w)?;
        ordered.push((name, w));
    }
    if let Some((extra, _)) = modules.first() {
        return Err(Error::UnknownModule(extra.clone()));
    }
    Ok(ordered)
}

/// Checks that `found` equals `expected`, naming `tensor` otherwise.
pub(crate) fn check_shape(tensor: &str, expected: &[usize], found: &[usize]) -> Result<()> {
    if expected != found {
        return Err(Error::Shape {
            tensor: tensor.to_string(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        });
    }
    Ok(())
}

impl<B: Backend> LoraAdapter<B> {
    /// Assembles an adapter, checking every module against the layout and rank.
    ///
    /// `modules` must hold exactly the layout's modules (in any order; they are stored in layout order).
    pub fn new(
        config: LoraConfig,
        layout: AdapterLayout,
        modules: Vec<(String, LoraWeights<B>)>,
    ) -> Result<Self> {
        let (l, r) = (layout.n_layers, config.r);
        let modules = order_by_layout(&layout, modules, |m, w: &LoraWeights<B>| {
            check_shape(&format!("{}.lora_A", m.name), &[l, r, m.d_in], &w.a.dims())?;
            check_shape(&format!("{}.lora_B", m.name), &[l, m.d_out, r], &w.b.dims())
        })?;
        Ok(Self {
            config,
            layout,
            modules,
        })
    }

    /// An adapter whose A and B are all zero.
    pub fn zeros(config: LoraConfig, layout: AdapterLayout, device: &B::Device) -> Self {
        Self::from_fn(config, layout, device, |_, _, n| vec![0.0; n])
    }

    /// PEFT's default initialisation, seeded: `A ~ U(-1/√d_in, 1/√d_in)` (Kaiming-uniform with
    /// `a = √5`), `B = 0`.
    pub fn init_like_peft(
        config: LoraConfig,
        layout: AdapterLayout,
        device: &B::Device,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self::from_fn(config, layout, device, |m, factor, n| {
            if factor == 'B' {
                return vec![0.0; n];
            }
            let bound = 1.0 / (m.d_in as f32).sqrt();
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        })
    }

    /// An adapter whose values come from `values(module, 'A' | 'B', count)`, row-major
    /// `[layers, r, d_in]` for A and `[layers, d_out, r]` for B.
    fn from_fn(
        config: LoraConfig,
        layout: AdapterLayout,
        device: &B::Device,
        mut values: impl FnMut(&ModuleShape, char, usize) -> Vec<f32>,
    ) -> Self {
        let (l, r) = (layout.n_layers, config.r);
        let modules = layout
            .modules
            .iter()
            .map(|m| {
                let a = values(m, 'A', l * r * m.d_in);
                let b = values(m, 'B', l * m.d_out * r);
                let a = Tensor::from_data(TensorData::new(a, [l, r, m.d_in]), device);
                let b = Tensor::from_data(TensorData::new(b, [l, m.d_out, r]), device);
                (m.name.clone(), LoraWeights { a, b })
            })
            .collect();
        Self {
            config,
            layout,
            modules,
        }
    }

    /// The LoRA hyper-parameters.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// Replaces the config (for example to set `base_model_name_or_path`); rank must not change.
    pub fn with_config(mut self, config: LoraConfig) -> Result<Self> {
        if config.r != self.config.r {
            return Err(Error::Incompatible(format!(
                "rank {} cannot replace rank {}",
                config.r, self.config.r
            )));
        }
        self.config = config;
        Ok(self)
    }

    /// The layers and module shapes the adapter covers.
    pub fn layout(&self) -> &AdapterLayout {
        &self.layout
    }

    /// The factor applied to `B·A` (see [`LoraConfig::scaling`]).
    pub fn scaling(&self) -> f64 {
        self.config.scaling()
    }

    /// The factors of one module.
    pub fn module(&self, name: &str) -> Option<&LoraWeights<B>> {
        self.modules.iter().find(|(n, _)| n == name).map(|(_, w)| w)
    }

    /// All modules, in layout order.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &LoraWeights<B>)> {
        self.modules.iter().map(|(n, w)| (n.as_str(), w))
    }

    /// Consumes the adapter into its parts.
    pub fn into_parts(self) -> (LoraConfig, AdapterLayout, Vec<(String, LoraWeights<B>)>) {
        (self.config, self.layout, self.modules)
    }

    /// The device the tensors live on.
    pub fn device(&self) -> B::Device {
        self.modules
            .first()
            .map(|(_, w)| w.a.device())
            .unwrap_or_default()
    }

    /// `(A_l [r, d_in], B_l [d_out, r])` of one layer and module.
    pub fn factors(&self, layer: usize, module: &str) -> Result<(Tensor<B, 2>, Tensor<B, 2>)> {
        let w = self
            .module(module)
            .ok_or_else(|| Error::UnknownModule(module.to_string()))?;
        if layer >= self.layout.n_layers {
            return Err(Error::LayerOutOfRange {
                layer,
                n_layers: self.layout.n_layers,
            });
        }
        let a = w.a.clone().narrow(0, layer, 1).squeeze_dim::<2>(0);
        let b = w.b.clone().narrow(0, layer, 1).squeeze_dim::<2>(0);
        Ok((a, b))
    }

    /// The weight update of one layer and module: `scaling · B · A`, shape `[d_out, d_in]`.
    pub fn delta_w(&self, layer: usize, module: &str) -> Result<Tensor<B, 2>> {
        let (a, b) = self.factors(layer, module)?;
        Ok(b.matmul(a).mul_scalar(self.scaling()))
    }

    /// The LoRA path on activations: `x · Aᵀ · Bᵀ · scaling`, `x: [..., d_in] → [..., d_out]`.
    /// Equals `x · ΔWᵀ` without forming `ΔW`.
    pub fn apply<const D: usize>(
        &self,
        x: Tensor<B, D>,
        layer: usize,
        module: &str,
    ) -> Result<Tensor<B, D>> {
        let (a, b) = self.factors(layer, module)?;
        let dims = x.dims();
        let d_in = a.dims()[1];
        check_shape(&format!("input of {module}"), &[d_in], &dims[D - 1..])?;
        let rows = dims[..D - 1].iter().product::<usize>();
        let y = x
            .reshape([rows, d_in])
            .matmul(a.transpose())
            .matmul(b.transpose())
            .mul_scalar(self.scaling());
        let mut out = dims;
        out[D - 1] = y.dims()[1];
        Ok(y.reshape(out))
    }

    /// Merges the update into a base weight `[d_out, d_in]`: `W + ΔW`.
    pub fn merge_into(&self, w: Tensor<B, 2>, layer: usize, module: &str) -> Result<Tensor<B, 2>> {
        let dw = self.delta_w(layer, module)?;
        check_shape(&format!("base weight of {module}"), &dw.dims(), &w.dims())?;
        Ok(w + dw)
    }

    /// Removes a merged update from a base weight: `W - ΔW`.
    pub fn unmerge_from(
        &self,
        w: Tensor<B, 2>,
        layer: usize,
        module: &str,
    ) -> Result<Tensor<B, 2>> {
        let dw = self.delta_w(layer, module)?;
        check_shape(&format!("base weight of {module}"), &dw.dims(), &w.dims())?;
        Ok(w - dw)
    }

    /// Moves every tensor to `device`.
    pub fn to_device(self, device: &B::Device) -> Self {
        let modules = self
            .modules
            .into_iter()
            .map(|(n, w)| {
                (
                    n,
                    LoraWeights {
                        a: w.a.to_device(device),
                        b: w.b.to_device(device),
                    },
                )
            })
            .collect();
        Self { modules, ..self }
    }

    /// Applies `f` to every A and every B (same layout and config), e.g. to detach or scale.
    pub fn map_tensors(self, mut f: impl FnMut(Tensor<B, 3>) -> Tensor<B, 3>) -> Self {
        let modules = self
            .modules
            .into_iter()
            .map(|(n, w)| {
                (
                    n,
                    LoraWeights {
                        a: f(w.a),
                        b: f(w.b),
                    },
                )
            })
            .collect();
        Self { modules, ..self }
    }

    /// Total number of scalar parameters (all A and B entries).
    pub fn num_params(&self) -> usize {
        self.modules
            .iter()
            .map(|(_, w)| w.a.shape().num_elements() + w.b.shape().num_elements())
            .sum()
    }
}
