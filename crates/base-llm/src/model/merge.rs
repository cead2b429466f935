//! Merged-adapter mode: `W ← W + s·B·A` for every targeted projection, and back.

use burn::module::Param;
use burn::prelude::*;
use lora_core::LoraAdapter;

use super::Llama;
use super::linear::FrozenLinear;
use crate::error::{Error, Result};
use crate::lora_hooks::Projection;

impl<B: Backend> Llama<B> {
    fn projection_mut(&mut self, layer: usize, proj: Projection) -> &mut FrozenLinear<B> {
        let l = &mut self.layers[layer];
        match proj {
            Projection::Q => &mut l.self_attn.q_proj,
            Projection::K => &mut l.self_attn.k_proj,
            Projection::V => &mut l.self_attn.v_proj,
            Projection::O => &mut l.self_attn.o_proj,
            Projection::Gate => &mut l.mlp.gate_proj,
            Projection::Up => &mut l.mlp.up_proj,
            Projection::Down => &mut l.mlp.down_proj,
        }
    }

    /// Merges `adapter` into the weights of its target projections (`W + ΔW`), so that forwards
    /// with [`crate::Adapters::None`] cost nothing extra. The update is detached from any autodiff
    /// graph. Errors if the adapter does not fit or another adapter is already merged; on error the
    /// model is unchanged.
    pub fn merge_adapter(&mut self, adapter: &LoraAdapter<B>) -> Result<()> {
        if self.merged.is_some() {
            return Err(Error::AlreadyMerged);
        }
        self.check_adapter_layout(adapter.layout())?;
        let mut updates = Vec::new();
        for (name, _) in adapter.modules() {
            let proj = Projection::from_name(name)
                .ok_or_else(|| Error::AdapterMismatch(format!("unknown target module `{name}`")))?;
            for layer in 0..self.config.num_hidden_layers {
                let lin = self.projection_mut(layer, proj);
                let (w, precision) = (lin.weight.val(), lin.precision);
                // Merged in f32, stored back in the model's precision.
                let merged = adapter.merge_into(precision.load(w.clone()), layer, name)?;
                let merged = precision.store(merged.detach());
                updates.push((layer, proj, w, merged));
            }
        }
        let mut index = Vec::with_capacity(updates.len());
        let mut originals = Vec::with_capacity(updates.len());
        for (layer, proj, original, merged) in updates {
            set_weight(self.projection_mut(layer, proj), merged);
            index.push((layer, proj));
            originals.push(original);
        }
        // The originals are kept, so unmerging restores them bit for bit.
        self.merge_originals = originals;
        self.merged = Some(index);
        Ok(())
    }

    /// Restores the weights saved by [`Llama::merge_adapter`] exactly (no floating-point
    /// subtraction). Errors when nothing is merged.
    pub fn unmerge_adapter(&mut self) -> Result<()> {
        let index = self.merged.take().ok_or(Error::NotMerged)?;
        let originals = std::mem::take(&mut self.merge_originals);
        for ((layer, proj), original) in index.into_iter().zip(originals) {
            set_weight(self.projection_mut(layer, proj), original);
        }
        Ok(())
    }

    /// Whether an adapter is currently merged into the weights.
    pub fn is_merged(&self) -> bool {
        self.merged.is_some()
    }
}

/// Replaces the weight of a projection, keeping its parameter id and frozen state.
fn set_weight<B: Backend>(lin: &mut FrozenLinear<B>, w: Tensor<B, 2>) {
    lin.weight = Param::initialized(lin.weight.id, w).set_require_grad(false);
}
