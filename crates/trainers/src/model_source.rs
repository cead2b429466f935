//! Which frozen base model a trainer uses, and the matching [`PairEncoder`].

use std::path::PathBuf;

use base_llm::{Llama, LlamaConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::chat::ChatEncoder;
use crate::data::encode::{ByteEncoder, PairEncoder};
use crate::error::{Error, Result};

/// The base model: a real checkpoint, or a seeded random tiny Llama for tests.
///
/// TOML: `[model]` with `kind = "path"` and `path = "assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"`,
/// or `kind = "tiny_random"` (and optionally `seed`, `layers`, `hidden`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSource {
    /// A GGUF file or a Hugging Face directory (weights, tokenizer and chat template).
    Path {
        /// The file or directory.
        path: PathBuf,
    },
    /// A random Llama with the byte-level vocabulary of [`ByteEncoder`].
    TinyRandom {
        /// Weight seed.
        #[serde(default)]
        seed: u64,
        /// Decoder layers (default 2).
        #[serde(default = "two")]
        layers: usize,
        /// Model width (default 16).
        #[serde(default = "sixteen")]
        hidden: usize,
    },
}

fn two() -> usize {
    2
}

fn sixteen() -> usize {
    16
}

impl Default for ModelSource {
    fn default() -> Self {
        ModelSource::TinyRandom {
            seed: 0,
            layers: 2,
            hidden: 16,
        }
    }
}

impl ModelSource {
    /// A display name (`base_model_name_or_path` of saved adapters).
    pub fn name(&self) -> String {
        match self {
            ModelSource::Path { path } => path.display().to_string(),
            ModelSource::TinyRandom { .. } => "tiny-random-llama".into(),
        }
    }

    /// Loads the frozen model and its encoder on `device`.
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<(Llama<B>, Box<dyn PairEncoder>)> {
        match self {
            ModelSource::Path { path } => {
                let bundle = base_llm::ModelBundle::<B>::load(path, device)?;
                Ok((bundle.model, Box::new(ChatEncoder::new(bundle.tokenizer)?)))
            }
            ModelSource::TinyRandom {
                seed,
                layers,
                hidden,
            } => {
                if *hidden == 0 || !hidden.is_multiple_of(8) {
                    return Err(Error::config(
                        "model.hidden",
                        format!("{hidden} is not a positive multiple of 8"),
                    ));
                }
                let mut cfg = LlamaConfig::tiny(ByteEncoder::VOCAB);
                cfg.num_hidden_layers = *layers;
                cfg.hidden_size = *hidden;
                cfg.intermediate_size = 2 * hidden;
                cfg.head_dim = hidden / 4;
                cfg.max_position_embeddings = 1024;
                let w = base_llm::model::build::random_weights(&cfg, *seed);
                Ok((Llama::from_weights(cfg, w, device)?, Box::new(ByteEncoder)))
            }
        }
    }
}
