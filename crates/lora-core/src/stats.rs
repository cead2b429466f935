//! Element-wise statistics over a set of adapters (z-score targets for reconstruction training).

use burn::prelude::*;

use crate::adapter::{LoraAdapter, LoraWeights};
use crate::combine::check_compatible;
use crate::error::{Error, Result};

/// Element-wise mean and unbiased standard deviation of A and B over a set of adapters.
#[derive(Debug, Clone)]
pub struct AdapterStats<B: Backend> {
    /// The element-wise mean.
    pub mean: LoraAdapter<B>,
    /// The element-wise unbiased (`n - 1`) standard deviation.
    pub std: LoraAdapter<B>,
}

/// Mean and unbiased std, element by element, of every A and B entry over `adapters` (at least two).
pub fn adapter_stats<B: Backend>(adapters: &[&LoraAdapter<B>]) -> Result<AdapterStats<B>> {
    if adapters.len() < 2 {
        return Err(Error::TooFew("an unbiased standard deviation", 2));
    }
    let first = adapters[0];
    for other in &adapters[1..] {
        check_compatible(first, other)?;
    }
    let mut means = Vec::new();
    let mut stds = Vec::new();
    for m in &first.layout().modules {
        let stacked = |pick: fn(&LoraWeights<B>) -> &Tensor<B, 3>| -> Tensor<B, 4> {
            Tensor::stack(
                adapters
                    .iter()
                    .map(|x| pick(x.module(&m.name).unwrap()).clone())
                    .collect(),
                0,
            )
        };
        let a = stacked(|w| &w.a);
        let b = stacked(|w| &w.b);
        let squeeze = |t: Tensor<B, 4>| t.squeeze_dim::<3>(0);
        means.push((
            m.name.clone(),
            LoraWeights {
                a: squeeze(a.clone().mean_dim(0)),
                b: squeeze(b.clone().mean_dim(0)),
            },
        ));
        stds.push((
            m.name.clone(),
            LoraWeights {
                a: squeeze(a.var(0).sqrt()),
                b: squeeze(b.var(0).sqrt()),
            },
        ));
    }
    Ok(AdapterStats {
        mean: LoraAdapter::new(first.config().clone(), first.layout().clone(), means)?,
        std: LoraAdapter::new(first.config().clone(), first.layout().clone(), stds)?,
    })
}
