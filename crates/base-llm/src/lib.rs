//! A frozen Llama-family transformer with LoRA hooks: loading (GGUF, safetensors), tokenization and
//! chat templates, generation and log-likelihood scoring.

pub mod config;
pub mod loading;
pub mod text;
pub mod weights;

pub use config::{Architecture, LlamaConfig, RopeScaling};
pub use weights::{HostTensor, WeightMap};
