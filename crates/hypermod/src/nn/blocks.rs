//! The trunk blocks (reference notes §2.2–2.4): task encoder, embedding tables, mixer, pre-LN
//! residual blocks and the output block. Every block works on rows `[rows, width]`.

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::prelude::*;
use burn::tensor::activation::silu;

use super::dense::Dense;
use super::dropout::{Mode, dropout};
use super::norm::{export_norm, layer_norm, take_norm};
use crate::error::Result;
use crate::init::NamedTensors;
use crate::spec::{prefix, weight};
use crate::tensors::{TensorTaker, put};

/// `Linear(E, D/2) → LayerNorm(D/2)`: the task embedding's projection (`task_encoder.mlp.{0,1}`).
#[derive(Module, Debug)]
pub struct TaskEncoder<B: Backend> {
    /// `task_encoder.mlp.0`
    pub linear: Dense<B>,
    /// `task_encoder.mlp.1`
    pub norm: LayerNorm<B>,
}

impl<B: Backend> TaskEncoder<B> {
    pub(crate) fn take(t: &mut TensorTaker<'_, B>, half_latent: usize) -> Result<Self> {
        Ok(Self {
            linear: Dense::take(t, prefix::TASK_LINEAR, true)?,
            norm: take_norm(t, prefix::TASK_NORM, half_latent)?,
        })
    }

    pub(crate) fn export(&self, out: &mut NamedTensors) {
        self.linear.export(prefix::TASK_LINEAR, out);
        export_norm(&self.norm, prefix::TASK_NORM, out);
    }

    /// `[n, E]` → `[n, D/2]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        layer_norm(&self.norm, self.linear.forward(x))
    }
}

/// `Embedding(rows, D/4) → LayerNorm(D/4)` (`layer_depth_encoder`, `layer_type_encoder`).
#[derive(Module, Debug)]
pub struct EmbeddingTable<B: Backend> {
    /// `{prefix}.0.weight`: `[rows, D/4]`.
    pub embedding: Param<Tensor<B, 2>>,
    /// `{prefix}.1`
    pub norm: LayerNorm<B>,
}

impl<B: Backend> EmbeddingTable<B> {
    pub(crate) fn take(
        t: &mut TensorTaker<'_, B>,
        table: &str,
        norm: &str,
        width: usize,
    ) -> Result<Self> {
        Ok(Self {
            embedding: t.param(&weight(table))?,
            norm: take_norm(t, norm, width)?,
        })
    }

    pub(crate) fn export(&self, table: &str, norm: &str, out: &mut NamedTensors) {
        put(out, weight(table), &self.embedding);
        export_norm(&self.norm, norm, out);
    }

    /// The normalised embedding of every row, `[rows, D/4]` (LayerNorm works per row, so
    /// normalising the table equals normalising each looked-up row).
    ///
    /// The table passes through `× 1` first (exact, so every value and gradient is unchanged):
    /// burn's kernel fusion (the cuda and wgpu backends) fuses a LayerNorm into a few kernels
    /// when an elementwise op feeds it, but runs each of its ops as a kernel of its own when it
    /// reads a parameter directly. With both tables that was 49 → 37 kernels per L generation
    /// (`t2l --device wgpu bench generate --tiny`, counted with `CUBECL_DEBUG_LOG`); on CUDA,
    /// where each kernel costs ~90 µs of host dispatch, the list was the same. With the
    /// LayerNorm composed for fusion (`nn::norm::layer_norm`) the `× 1` still counts: without
    /// it, L / M / S take 50 / 60 / 69 kernels instead of 34 / 44 / 53
    /// (`scripts/bench/count_kernels.py`).
    pub fn normalized(&self) -> Tensor<B, 2> {
        layer_norm(&self.norm, self.embedding.val().mul_scalar(1.0))
    }
}

/// `Dropout → Linear(D,4D) → SiLU → Dropout → Linear(4D,D) → SiLU → Dropout` (`mixer.{1,4}`).
#[derive(Module, Debug)]
pub struct Mixer<B: Backend> {
    /// `mixer.1`
    pub linear_in: Dense<B>,
    /// `mixer.4`
    pub linear_out: Dense<B>,
}

impl<B: Backend> Mixer<B> {
    pub(crate) fn take(t: &mut TensorTaker<'_, B>) -> Result<Self> {
        Ok(Self {
            linear_in: Dense::take(t, prefix::MIXER_IN, true)?,
            linear_out: Dense::take(t, prefix::MIXER_OUT, true)?,
        })
    }

    pub(crate) fn export(&self, out: &mut NamedTensors) {
        self.linear_in.export(prefix::MIXER_IN, out);
        self.linear_out.export(prefix::MIXER_OUT, out);
    }

    /// `[rows, D]` → `[rows, D]`.
    pub fn forward(&self, x: Tensor<B, 2>, p: f64, mode: Mode) -> Tensor<B, 2> {
        let x = dropout(x, p, mode);
        let x = dropout(silu(self.linear_in.forward(x)), p, mode);
        dropout(silu(self.linear_out.forward(x)), p, mode)
    }
}

/// `x + [LN → Linear(D,4D) → SiLU → Dropout → Linear(4D,D) → SiLU → Dropout](x)`: the pre-LN
/// residual block whose branch ends in SiLU (`mlp1`, `mlp2`; `{block}.mlp.{0,1,4}`).
#[derive(Module, Debug)]
pub struct ResidualBlock<B: Backend> {
    /// `{block}.mlp.0`
    pub norm: LayerNorm<B>,
    /// `{block}.mlp.1`
    pub linear_in: Dense<B>,
    /// `{block}.mlp.4`
    pub linear_out: Dense<B>,
}

impl<B: Backend> ResidualBlock<B> {
    pub(crate) fn take(t: &mut TensorTaker<'_, B>, block: &str, latent: usize) -> Result<Self> {
        Ok(Self {
            norm: take_norm(t, &format!("{block}.{}", prefix::RES_NORM), latent)?,
            linear_in: Dense::take(t, &format!("{block}.{}", prefix::RES_IN), true)?,
            linear_out: Dense::take(t, &format!("{block}.{}", prefix::RES_OUT), true)?,
        })
    }

    pub(crate) fn export(&self, block: &str, out: &mut NamedTensors) {
        export_norm(&self.norm, &format!("{block}.{}", prefix::RES_NORM), out);
        self.linear_in
            .export(&format!("{block}.{}", prefix::RES_IN), out);
        self.linear_out
            .export(&format!("{block}.{}", prefix::RES_OUT), out);
    }

    /// `[rows, D]` → `[rows, D]`.
    pub fn forward(&self, x: Tensor<B, 2>, p: f64, mode: Mode) -> Tensor<B, 2> {
        let h = layer_norm(&self.norm, x.clone());
        let h = dropout(silu(self.linear_in.forward(h)), p, mode);
        let h = dropout(silu(self.linear_out.forward(h)), p, mode);
        x + h
    }
}

/// `LN → Linear(D,4D) → SiLU → Dropout → Linear(4D,H) → SiLU` (`mlp3.{0,1,4}`; no residual).
#[derive(Module, Debug)]
pub struct OutputBlock<B: Backend> {
    /// `mlp3.0`
    pub norm: LayerNorm<B>,
    /// `mlp3.1`
    pub linear_in: Dense<B>,
    /// `mlp3.4`
    pub linear_out: Dense<B>,
}

impl<B: Backend> OutputBlock<B> {
    pub(crate) fn take(t: &mut TensorTaker<'_, B>, latent: usize) -> Result<Self> {
        Ok(Self {
            norm: take_norm(t, prefix::MLP3_NORM, latent)?,
            linear_in: Dense::take(t, prefix::MLP3_IN, true)?,
            linear_out: Dense::take(t, prefix::MLP3_OUT, true)?,
        })
    }

    pub(crate) fn export(&self, out: &mut NamedTensors) {
        export_norm(&self.norm, prefix::MLP3_NORM, out);
        self.linear_in.export(prefix::MLP3_IN, out);
        self.linear_out.export(prefix::MLP3_OUT, out);
    }

    /// `[rows, D]` → `[rows, H]`.
    pub fn forward(&self, x: Tensor<B, 2>, p: f64, mode: Mode) -> Tensor<B, 2> {
        let h = layer_norm(&self.norm, x);
        let h = dropout(silu(self.linear_in.forward(h)), p, mode);
        silu(self.linear_out.forward(h))
    }
}
