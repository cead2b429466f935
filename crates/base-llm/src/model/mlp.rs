//! The SwiGLU feed-forward half of a decoder block.

use burn::prelude::*;
use burn::tensor::activation::silu;

use super::linear::FrozenLinear;
use crate::lora_hooks::{LoraHooks, Projection};

/// `down(silu(gate(x)) ⊙ up(x))` (`mlp.{gate,up,down}_proj`).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// `gate_proj`: `[intermediate, hidden]`.
    pub gate_proj: FrozenLinear<B>,
    /// `up_proj`: `[intermediate, hidden]`.
    pub up_proj: FrozenLinear<B>,
    /// `down_proj`: `[hidden, intermediate]`.
    pub down_proj: FrozenLinear<B>,
}

impl<B: Backend> Mlp<B> {
    /// Applies the MLP to `x [batch, seq, hidden]`.
    pub(crate) fn forward(
        &self,
        x: Tensor<B, 3>,
        hooks: &LoraHooks<'_, B>,
        layer: usize,
    ) -> Tensor<B, 3> {
        let gate = self
            .gate_proj
            .forward(x.clone(), hooks.path(layer, Projection::Gate));
        let up = self.up_proj.forward(x, hooks.path(layer, Projection::Up));
        self.down_proj
            .forward(silu(gate) * up, hooks.path(layer, Projection::Down))
    }
}
