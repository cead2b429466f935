//! Dropout that is on only in training forwards, whatever the backend.

use burn::prelude::*;
use burn::tensor::Distribution;

/// Whether a forward pass trains (dropout on) or infers (dropout off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Generation: no dropout, deterministic.
    #[default]
    Inference,
    /// Training: dropout with the configured probability.
    Train,
}

/// Inverted dropout with probability `p` when `mode` is [`Mode::Train`]; the identity otherwise.
///
/// Unlike `burn::nn::Dropout`, which keys on the backend having autodiff, this follows the caller's
/// explicit mode, so a generation on an autodiff backend never drops.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64, mode: Mode) -> Tensor<B, D> {
    if mode == Mode::Inference || p == 0.0 {
        return x;
    }
    let keep = 1.0 - p;
    let mask = x.random_like(Distribution::Bernoulli(keep));
    x * mask / keep
}
