//! Root-mean-square layer norm as Llama computes it.

use burn::module::Param;
use burn::prelude::*;

use super::linear::frozen;

/// `y = x / sqrt(mean(x²) + ε) · w` over the last dimension (frozen `w`).
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// Per-channel gain `[d]`.
    pub weight: Param<Tensor<B, 1>>,
    /// ε inside the square root.
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// A norm with the given gain.
    pub fn new(weight: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: frozen(weight),
            eps,
        }
    }

    /// Normalises `x [.., d]`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let d = self.weight.dims()[0];
        // `x · (1/rms)`: a product with a per-row factor backpropagates in fewer full-size
        // passes than a division by it.
        let inv_rms = (x.clone() * x.clone())
            .mean_dim(D - 1)
            .add_scalar(self.eps)
            .sqrt()
            .recip();
        let mut shape = [1usize; D];
        shape[D - 1] = d;
        (x * inv_rms) * self.weight.val().reshape(shape)
    }
}
