//! The hypernetwork architecture a T2L trainer builds (reference §2.10 defaults).

use hypermod::{HyperConfig, Variant};
use lora_core::{AdapterLayout, LoraConfig};
use serde::{Deserialize, Serialize};

/// Size and variant of the hypernetwork to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HyperSettings {
    /// Head variant: `L`, `M` or `S`.
    pub variant: Variant,
    /// Latent width D (§2.10: 128).
    pub latent: usize,
    /// Head input width H (§2.10: 512).
    pub head_in: usize,
    /// Trunk dropout (§2.7: 0.05).
    pub dropout: f64,
}

impl Default for HyperSettings {
    fn default() -> Self {
        Self {
            variant: Variant::L,
            latent: 128,
            head_in: 512,
            dropout: 0.05,
        }
    }
}

impl HyperSettings {
    /// The hypermod config for adapters of `layout` / `lora` and task embeddings of width `task_dim`.
    pub fn to_config(
        &self,
        task_dim: usize,
        layout: AdapterLayout,
        lora: LoraConfig,
    ) -> HyperConfig {
        HyperConfig::new(self.variant, task_dim, layout, lora)
            .with_latent(self.latent)
            .with_head_in(self.head_in)
            .with_dropout(self.dropout)
    }
}
