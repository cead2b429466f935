//! [`FrozenLinear`]: a projection with frozen weight (Hugging Face `[out, in]` layout) and an
//! optional LoRA path added to its output, in the model's [`BasePrecision`].

use burn::module::Param;
use burn::prelude::*;

use crate::lora_hooks::LoraPath;
use crate::precision::BasePrecision;

/// `y = x · Wᵀ (+ bias) (+ LoRA)`, with `W` stored `[out, in]` as in PyTorch.
///
/// Keeping the PyTorch layout lets the weight be matched one-to-one with PEFT adapters and merged
/// in place; flex multiplies by the transposed view without a copy.
///
/// The weight is stored in `precision`'s dtype and multiplied as [`BasePrecision::matmul`] says;
/// the bias, the LoRA path and the output are f32.
#[derive(Module, Debug)]
pub struct FrozenLinear<B: Backend> {
    /// `[out, in]`, in [`BasePrecision::weight_dtype`]; never requires gradients.
    pub weight: Param<Tensor<B, 2>>,
    /// `[out]` (f32), when the projection has a bias (Qwen2 q/k/v).
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// How the weight is stored and multiplied.
    #[module(skip)]
    pub precision: BasePrecision,
}

impl<B: Backend> FrozenLinear<B> {
    /// Wraps a weight `[out, in]` and optional bias `[out]` as frozen f32 parameters.
    pub fn new(weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Self {
        Self::with_precision(weight, bias, BasePrecision::F32)
    }

    /// Like [`FrozenLinear::new`], with the weight stored in `precision` (the bias stays f32).
    pub fn with_precision(
        weight: Tensor<B, 2>,
        bias: Option<Tensor<B, 1>>,
        precision: BasePrecision,
    ) -> Self {
        Self {
            weight: frozen(precision.store(weight)),
            bias: bias.map(frozen),
            precision,
        }
    }

    /// Output features.
    pub fn d_out(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Input features.
    pub fn d_in(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Applies the projection to `x [batch, seq, in]`, adding the LoRA path when given.
    pub fn forward(&self, x: Tensor<B, 3>, lora: Option<LoraPath<B>>) -> Tensor<B, 3> {
        let [n, s, d_in] = x.dims();
        let d_out = self.d_out();
        let mut y = self
            .precision
            .matmul(
                x.clone().reshape([n * s, d_in]),
                self.weight.val().transpose(),
            )
            .reshape([n, s, d_out]);
        if let Some(bias) = &self.bias {
            y = y + bias.val().reshape([1, 1, d_out]);
        }
        match lora {
            Some(path) => y + path.apply(x),
            None => y,
        }
    }
}

/// A parameter that never requires gradients (frozen base weights).
pub fn frozen<B: Backend, const D: usize>(t: Tensor<B, D>) -> Param<Tensor<B, D>> {
    Param::from_tensor(t).set_require_grad(false)
}
