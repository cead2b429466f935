//! [`BatchedLoraAdapter`]: adapters for many tasks at once, one per batch row.

use burn::prelude::*;

use crate::adapter::{LoraAdapter, LoraWeights, check_shape, order_by_layout};
use crate::config::LoraConfig;
use crate::error::{Error, Result};
use crate::layout::AdapterLayout;

/// The factors of one module for a batch of tasks: `a [n, layers, r, d_in]`, `b [n, layers, d_out, r]`.
#[derive(Debug, Clone)]
pub struct BatchedLoraWeights<B: Backend> {
    /// `[n, layers, r, d_in]`
    pub a: Tensor<B, 4>,
    /// `[n, layers, d_out, r]`
    pub b: Tensor<B, 4>,
}

/// `n` adapters sharing one config and layout, stored batch-first.
///
/// This is what a hypernetwork emits for a batch of task embeddings, and what a base model takes
/// when every batch row must use its own adapter (T2L SFT training).
#[derive(Debug, Clone)]
pub struct BatchedLoraAdapter<B: Backend> {
    config: LoraConfig,
    layout: AdapterLayout,
    n: usize,
    modules: Vec<(String, BatchedLoraWeights<B>)>,
}

impl<B: Backend> BatchedLoraAdapter<B> {
    /// Assembles a batch, checking every module against the layout, rank and batch size.
    pub fn new(
        config: LoraConfig,
        layout: AdapterLayout,
        modules: Vec<(String, BatchedLoraWeights<B>)>,
    ) -> Result<Self> {
        let n = modules
            .first()
            .map(|(_, w)| w.a.dims()[0])
            .ok_or(Error::TooFew("a batched adapter", 1))?;
        let (l, r) = (layout.n_layers, config.r);
        let ordered = order_by_layout(&layout, modules, |m, w: &BatchedLoraWeights<B>| {
            check_shape(
                &format!("{}.lora_A", m.name),
                &[n, l, r, m.d_in],
                &w.a.dims(),
            )?;
            check_shape(
                &format!("{}.lora_B", m.name),
                &[n, l, m.d_out, r],
                &w.b.dims(),
            )
        })?;
        Ok(Self {
            config,
            layout,
            n,
            modules: ordered,
        })
    }

    /// Stacks single adapters (same config rank and layout) into a batch.
    pub fn stack(adapters: &[LoraAdapter<B>]) -> Result<Self> {
        let first = adapters.first().ok_or(Error::TooFew("stacking", 1))?;
        for other in &adapters[1..] {
            crate::combine::check_compatible(first, other)?;
        }
        let modules = first
            .layout()
            .modules
            .iter()
            .map(|m| {
                let a = adapters
                    .iter()
                    .map(|x| x.module(&m.name).unwrap().a.clone())
                    .collect();
                let b = adapters
                    .iter()
                    .map(|x| x.module(&m.name).unwrap().b.clone())
                    .collect();
                (
                    m.name.clone(),
                    BatchedLoraWeights {
                        a: Tensor::stack(a, 0),
                        b: Tensor::stack(b, 0),
                    },
                )
            })
            .collect();
        Self::new(first.config().clone(), first.layout().clone(), modules)
    }

    /// Number of adapters in the batch.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the batch is empty (never true for a constructed batch).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The shared LoRA hyper-parameters.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// The shared layout.
    pub fn layout(&self) -> &AdapterLayout {
        &self.layout
    }

    /// The shared scaling factor.
    pub fn scaling(&self) -> f64 {
        self.config.scaling()
    }

    /// The batched factors of one module.
    pub fn module(&self, name: &str) -> Option<&BatchedLoraWeights<B>> {
        self.modules.iter().find(|(n, _)| n == name).map(|(_, w)| w)
    }

    /// All modules in layout order.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &BatchedLoraWeights<B>)> {
        self.modules.iter().map(|(n, w)| (n.as_str(), w))
    }

    /// The factors of one layer for every row: `a [n, r, d_in]`, `b [n, d_out, r]`
    /// (the inputs of [`crate::lora_delta`]). `None` when the module is not adapted or the layer is
    /// out of range.
    pub fn layer(&self, layer: usize, module: &str) -> Option<(Tensor<B, 3>, Tensor<B, 3>)> {
        if layer >= self.layout.n_layers {
            return None;
        }
        let w = self.module(module)?;
        Some((
            w.a.clone().narrow(1, layer, 1).squeeze_dim::<3>(1),
            w.b.clone().narrow(1, layer, 1).squeeze_dim::<3>(1),
        ))
    }

    /// The adapter of row `i`.
    pub fn get(&self, i: usize) -> Result<LoraAdapter<B>> {
        if i >= self.n {
            return Err(Error::Incompatible(format!(
                "row {i} asked of a batch of {}",
                self.n
            )));
        }
        let modules = self
            .modules
            .iter()
            .map(|(name, w)| {
                (
                    name.clone(),
                    LoraWeights {
                        a: w.a.clone().narrow(0, i, 1).squeeze_dim::<3>(0),
                        b: w.b.clone().narrow(0, i, 1).squeeze_dim::<3>(0),
                    },
                )
            })
            .collect();
        LoraAdapter::new(self.config.clone(), self.layout.clone(), modules)
    }

    /// Splits the batch into its adapters.
    pub fn split(&self) -> Vec<LoraAdapter<B>> {
        (0..self.n)
            .map(|i| self.get(i).expect("row in range"))
            .collect()
    }
}
