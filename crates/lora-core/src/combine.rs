//! Linear combinations and averages of adapters (the "average LoRA" baseline).

use burn::prelude::*;

use crate::adapter::{LoraAdapter, LoraWeights};
use crate::error::{Error, Result};

/// Errors unless both adapters have the same rank, layout and module set.
pub(crate) fn check_compatible<B: Backend>(x: &LoraAdapter<B>, y: &LoraAdapter<B>) -> Result<()> {
    if x.config().r != y.config().r {
        return Err(Error::Incompatible(format!(
            "rank {} vs {}",
            x.config().r,
            y.config().r
        )));
    }
    if x.layout() != y.layout() {
        return Err(Error::Incompatible(format!(
            "layouts differ: {:?} vs {:?}",
            x.layout(),
            y.layout()
        )));
    }
    Ok(())
}

/// `Σ wᵢ · adapterᵢ`, applied to A and B separately (the factorised combination the paper's
/// average-LoRA baseline uses). The config of the first adapter is kept.
pub fn linear_combination<B: Backend>(
    adapters: &[(&LoraAdapter<B>, f64)],
) -> Result<LoraAdapter<B>> {
    let (first, _) = *adapters
        .first()
        .ok_or(Error::TooFew("a linear combination", 1))?;
    for (other, _) in &adapters[1..] {
        check_compatible(first, other)?;
    }
    let modules = first
        .layout()
        .modules
        .iter()
        .map(|m| {
            let mut a: Option<Tensor<B, 3>> = None;
            let mut b: Option<Tensor<B, 3>> = None;
            for (adapter, w) in adapters {
                let f = adapter
                    .module(&m.name)
                    .expect("compatible adapters share modules");
                let wa = f.a.clone().mul_scalar(*w);
                let wb = f.b.clone().mul_scalar(*w);
                a = Some(match a {
                    Some(acc) => acc + wa,
                    None => wa,
                });
                b = Some(match b {
                    Some(acc) => acc + wb,
                    None => wb,
                });
            }
            (
                m.name.clone(),
                LoraWeights {
                    a: a.expect("at least one adapter"),
                    b: b.expect("at least one adapter"),
                },
            )
        })
        .collect();
    LoraAdapter::new(first.config().clone(), first.layout().clone(), modules)
}

/// The element-wise mean of A and of B over the adapters.
pub fn average<B: Backend>(adapters: &[&LoraAdapter<B>]) -> Result<LoraAdapter<B>> {
    let w = 1.0 / adapters.len().max(1) as f64;
    let weighted: Vec<_> = adapters.iter().map(|a| (*a, w)).collect();
    linear_combination(&weighted)
}
