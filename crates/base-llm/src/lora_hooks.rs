//! How adapters reach the projections of the model: [`Adapters`] (what the caller passes) and the
//! per-projection [`LoraPath`] the blocks apply.

use burn::prelude::*;
use burn::tensor::Distribution;
use lora_core::{AdapterLayout, BatchedLoraAdapter, LoraAdapter, lora_delta};

use crate::error::{Error, Result};

/// The seven adaptable projections of a decoder block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// `self_attn.q_proj`
    Q,
    /// `self_attn.k_proj`
    K,
    /// `self_attn.v_proj`
    V,
    /// `self_attn.o_proj`
    O,
    /// `mlp.gate_proj`
    Gate,
    /// `mlp.up_proj`
    Up,
    /// `mlp.down_proj`
    Down,
}

impl Projection {
    /// All projections in block order.
    pub const ALL: [Projection; 7] = [
        Projection::Q,
        Projection::K,
        Projection::V,
        Projection::O,
        Projection::Gate,
        Projection::Up,
        Projection::Down,
    ];

    /// The PEFT module name (`q_proj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Projection::Q => "q_proj",
            Projection::K => "k_proj",
            Projection::V => "v_proj",
            Projection::O => "o_proj",
            Projection::Gate => "gate_proj",
            Projection::Up => "up_proj",
            Projection::Down => "down_proj",
        }
    }

    /// The projection with a PEFT module name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Which LoRA adapters a forward pass applies (unmerged: `Δy = ((x·Aᵀ)·Bᵀ)·s` added to each
/// targeted projection).
#[derive(Debug)]
pub enum Adapters<'a, B: Backend> {
    /// The base model alone (or whatever is merged into it).
    None,
    /// One adapter for every batch row.
    Single(&'a LoraAdapter<B>),
    /// Row `i` of the batch uses adapter `i` (a batch of one is broadcast over all rows).
    PerRow(&'a BatchedLoraAdapter<B>),
}

impl<B: Backend> Clone for Adapters<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for Adapters<'_, B> {}

impl<B: Backend> Adapters<'_, B> {
    /// The layout of the adapter(s), if any.
    pub fn layout(&self) -> Option<&AdapterLayout> {
        match self {
            Adapters::None => None,
            Adapters::Single(a) => Some(a.layout()),
            Adapters::PerRow(a) => Some(a.layout()),
        }
    }

    /// Checks that the adapters fit a batch of `batch` rows.
    pub(crate) fn check_batch(&self, batch: usize) -> Result<()> {
        if let Adapters::PerRow(a) = self
            && a.len() != batch
            && a.len() != 1
        {
            return Err(Error::AdapterMismatch(format!(
                "{} per-row adapters for a batch of {batch} rows",
                a.len()
            )));
        }
        Ok(())
    }
}

/// Training-only stochastic options of the LoRA path.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoraNoise {
    /// Dropout probability on the LoRA input (PEFT's `lora_dropout`); 0 disables it.
    pub dropout: f64,
}

/// The LoRA factors of one projection for one forward call.
#[derive(Debug, Clone)]
pub struct LoraPath<B: Backend> {
    /// `[n, r, d_in]` with `n` the batch or 1.
    pub a: Tensor<B, 3>,
    /// `[n, d_out, r]`.
    pub b: Tensor<B, 3>,
    /// `alpha / r` (or rsLoRA's `alpha / √r`).
    pub scaling: f64,
    /// Dropout probability applied to the LoRA input (training only).
    pub dropout: f64,
}

impl<B: Backend> LoraPath<B> {
    /// `((dropout(x) · Aᵀ) · Bᵀ) · s` for `x [batch, seq, d_in]`.
    pub fn apply(self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = if self.dropout > 0.0 {
            let keep = 1.0 - self.dropout;
            let mask =
                Tensor::<B, 3>::random(x.shape(), Distribution::Bernoulli(keep), &x.device());
            x * mask.div_scalar(keep)
        } else {
            x
        };
        lora_delta(x, self.a, self.b, self.scaling)
    }
}

/// The adapters of one forward call, resolved per (layer, projection).
#[derive(Debug)]
pub(crate) struct LoraHooks<'a, B: Backend> {
    pub adapters: Adapters<'a, B>,
    pub noise: LoraNoise,
}

impl<B: Backend> LoraHooks<'_, B> {
    /// The LoRA path of `proj` in `layer`, or `None` when it is not targeted.
    pub fn path(&self, layer: usize, proj: Projection) -> Option<LoraPath<B>> {
        let (a, b, scaling) = match self.adapters {
            Adapters::None => return None,
            Adapters::Single(ad) => {
                let (a, b) = ad.factors(layer, proj.name()).ok()?;
                (
                    a.unsqueeze_dim::<3>(0),
                    b.unsqueeze_dim::<3>(0),
                    ad.scaling(),
                )
            }
            Adapters::PerRow(ad) => {
                let (a, b) = ad.layer(layer, proj.name())?;
                (a, b, ad.scaling())
            }
        };
        Some(LoraPath {
            a,
            b,
            scaling,
            dropout: self.noise.dropout,
        })
    }
}
