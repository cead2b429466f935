//! LayerNorm (eps 1e-5) built from named `weight`/`bias` tensors.

use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::config::LAYER_NORM_EPS;
use crate::error::Result;
use crate::init::NamedTensors;
use crate::spec::{bias, weight};
use crate::tensors::{TensorTaker, put};

/// Takes `{prefix}.weight` and `{prefix}.bias` as a LayerNorm with eps 1e-5.
pub(crate) fn take_norm<B: Backend>(
    t: &mut TensorTaker<'_, B>,
    prefix: &str,
    width: usize,
) -> Result<LayerNorm<B>> {
    let mut norm = LayerNormConfig::new(width)
        .with_epsilon(LAYER_NORM_EPS)
        .init(t.device());
    norm.gamma = t.param(&weight(prefix))?;
    norm.beta = Some(t.param(&bias(prefix))?);
    Ok(norm)
}

/// Writes a LayerNorm's `weight` and `bias` under `prefix`.
pub(crate) fn export_norm<B: Backend>(norm: &LayerNorm<B>, prefix: &str, out: &mut NamedTensors) {
    put(out, weight(prefix), &norm.gamma);
    if let Some(b) = &norm.beta {
        put(out, bias(prefix), b);
    }
}
