//! Trainers for Text-to-LoRA: task-specific and multi-task LoRA SFT, T2L reconstruction and
//! T2L SFT, with the machinery they share.
//!
//! - [`config`]: serde configs (TOML/JSON) with the paper's defaults.
//! - [`optim`]: AdamW with explicit β/ε/weight decay, *global* gradient-norm clipping,
//!   gradient accumulation.
//! - [`schedule`]: linear warmup then linear decay.
//! - [`metrics`], [`progress`]: JSONL metrics and a progress bar with ETA.
//! - [`checkpoint`]: atomic checkpoints (model, optimizer, loop state) and resume.
//! - [`fit`]: the training loop every trainer runs.
//! - [`data`]: the task suite, benchmark templates, the hierarchical SFT sampler, tokenisation
//!   with prompt masking, batching.
//! - [`lora_sft`]: task-specific and multi-task LoRA SFT ([`trainable_lora`], [`loss`]).
//! - [`recon`]: T2L reconstruction of a library of adapters ([`hyper_settings`],
//!   [`task_embeddings`]).
//! - [`t2l_sft`]: T2L SFT with per-row generated adapters in the frozen base model.
//! - [`step_profile`]: phase timings of one SFT step (profiling; burn has no profiler).
//!
//! Generic over burn's `AutodiffBackend`; enables no backend itself.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod fit;
pub mod hyper_settings;
pub mod lora_sft;
pub mod loss;
pub mod metrics;
pub mod model_source;
pub mod optim;
pub mod progress;
pub mod recon;
pub mod schedule;
pub mod step_profile;
pub mod t2l_sft;
pub mod task_embeddings;
pub mod trainable_lora;

pub use error::{Error, Result};
