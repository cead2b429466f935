//! [`Dense`]: a linear layer stored as PyTorch stores it (`weight [out, in]`).

use burn::module::Param;
use burn::prelude::*;

use crate::error::Result;
use crate::init::NamedTensors;
use crate::spec::{bias, weight};
use crate::tensors::{TensorTaker, put};

/// `y = x·Wᵀ + b` with `W [out, in]` (PyTorch `nn.Linear` layout).
///
/// Keeping PyTorch's layout makes checkpoints and the reference's state dict the same data; flex
/// multiplies by the transposed view without copying.
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// `[out, in]`
    pub weight: Param<Tensor<B, 2>>,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Dense<B> {
    /// Takes `{prefix}.weight` and (when `with_bias`) `{prefix}.bias`.
    pub(crate) fn take(t: &mut TensorTaker<'_, B>, prefix: &str, with_bias: bool) -> Result<Self> {
        Ok(Self {
            weight: t.param(&weight(prefix))?,
            bias: if with_bias {
                Some(t.param(&bias(prefix))?)
            } else {
                None
            },
        })
    }

    /// Writes `{prefix}.weight` and `{prefix}.bias`.
    pub(crate) fn export(&self, prefix: &str, out: &mut NamedTensors) {
        put(out, weight(prefix), &self.weight);
        if let Some(b) = &self.bias {
            put(out, bias(prefix), b);
        }
    }

    /// Output features.
    pub fn d_out(&self) -> usize {
        self.weight.dims()[0]
    }

    /// `x [rows, in]` → `[rows, out]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = x.matmul(self.weight.val().transpose());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim(0),
            None => y,
        }
    }
}
