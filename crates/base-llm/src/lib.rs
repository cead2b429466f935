//! A frozen Llama-family transformer with LoRA hooks: loading (GGUF, safetensors), tokenization and
//! chat templates, generation and log-likelihood scoring.
//!
//! - [`Llama`]: the model (Llama, Mistral, SmolLM2; Qwen2 through [`LlamaConfig::attention_bias`]),
//!   built from a [`WeightMap`] or randomly; forwards take [`Adapters`] (none, one for all rows, or
//!   one per row) and [`Llama::merge_adapter`] / [`Llama::unmerge_adapter`] merge one in place.
//! - [`KvCache`], [`generate`](Llama::generate) with [`GenerationConfig`], and
//!   [`score`](Llama::score) for log-likelihoods of continuations.
//! - [`ModelBundle`]: model + [`Tokenizer`] from one path (GGUF or Hugging Face directory), and
//!   [`ModelBundle::complete`] from a [`Prompt`] (text, or chat messages through the chat template).
//! - [`BasePrecision`]: the frozen base in f32 (default), or with f16/bf16 weights (stored only, or
//!   computed in), chosen when the model is built; adapters, norms and the loss stay f32.
//! - [`assets`]: where the project's real models are (`$T2L_ASSETS` or `<workspace>/assets`).

pub mod assets;
pub mod bundle;
pub mod config;
pub mod error;
pub mod generate;
pub mod kv_cache;
pub mod loading;
pub mod lora_hooks;
pub mod loss;
pub mod model;
pub mod precision;
pub mod sampling;
pub mod score;
pub mod text;
pub mod weights;

pub use bundle::{Completion, ModelBundle, Prompt};
pub use config::{Architecture, LlamaConfig, RopeScaling};
pub use error::{Error, Result};
pub use generate::{FinishReason, Generation, GenerationConfig, GenerationOutput};
pub use kv_cache::KvCache;
pub use lora_hooks::{Adapters, Projection};
pub use model::{Llama, TrainOptions};
pub use precision::{BasePrecision, HalfType, PrecisionMode};
pub use sampling::Sampler;
pub use score::ContinuationScore;
pub use text::{ChatMessage, ChatTemplate, TextError, Tokenizer};
pub use weights::{HostTensor, WeightMap};
