//! [`TrainableLora`]: a LoRA adapter whose A and B are trainable parameters (the only parameters
//! of LoRA SFT), convertible to and from lora-core's [`LoraAdapter`].

use burn::module::Param;
use burn::prelude::*;
use lora_core::{AdapterLayout, LoraAdapter, LoraConfig, LoraWeights};

use crate::error::Result;

/// Trainable LoRA factors, one `A [layers, r, d_in]` and `B [layers, d_out, r]` per target
/// module, in layout order.
#[derive(Module, Debug)]
pub struct TrainableLora<B: Backend> {
    /// A per module.
    pub a: Vec<Param<Tensor<B, 3>>>,
    /// B per module.
    pub b: Vec<Param<Tensor<B, 3>>>,
    /// The LoRA hyper-parameters.
    #[module(skip)]
    pub config: LoraConfig,
    /// The layout the factors fit.
    #[module(skip)]
    pub layout: AdapterLayout,
}

impl<B: Backend> TrainableLora<B> {
    /// Makes every factor of `adapter` a trainable parameter.
    pub fn from_adapter(adapter: LoraAdapter<B>) -> Self {
        let (config, layout, modules) = adapter.into_parts();
        let (a, b) = modules
            .into_iter()
            .map(|(_, w)| (Param::from_tensor(w.a), Param::from_tensor(w.b)))
            .unzip();
        Self {
            a,
            b,
            config,
            layout,
        }
    }

    /// PEFT's initialisation (`A ~ U(±1/√d_in)`, `B = 0`), seeded.
    pub fn init(config: LoraConfig, layout: AdapterLayout, device: &B::Device, seed: u64) -> Self {
        Self::from_adapter(LoraAdapter::init_like_peft(config, layout, device, seed))
    }

    /// The current factors as an adapter (tracked: gradients flow back to the parameters).
    pub fn to_adapter(&self) -> Result<LoraAdapter<B>> {
        let modules = self
            .layout
            .modules
            .iter()
            .zip(self.a.iter().zip(&self.b))
            .map(|(m, (a, b))| {
                (
                    m.name.clone(),
                    LoraWeights {
                        a: a.val(),
                        b: b.val(),
                    },
                )
            })
            .collect();
        Ok(LoraAdapter::new(
            self.config.clone(),
            self.layout.clone(),
            modules,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use lora_core::ModuleShape;

    #[test]
    fn round_trips_through_lora_core() {
        let layout = AdapterLayout::new(
            2,
            vec![
                ModuleShape {
                    name: "q_proj".into(),
                    d_in: 8,
                    d_out: 8,
                },
                ModuleShape {
                    name: "v_proj".into(),
                    d_in: 8,
                    d_out: 4,
                },
            ],
        );
        let cfg = LoraConfig::new(2, 4.0, ["q_proj", "v_proj"]);
        let t = TrainableLora::<Flex>::init(cfg, layout, &Default::default(), 5);
        assert_eq!(t.num_params(), 2 * (2 * 8 + 8 * 2) + 2 * (2 * 8 + 4 * 2));
        let ad = t.to_adapter().unwrap();
        assert_eq!(ad.module("v_proj").unwrap().b.dims(), [2, 4, 2]);
        assert_eq!(ad.num_params(), t.num_params());
    }
}
