//! `lora-core`: the vocabulary every crate of the workspace speaks.
//!
//! - [`LoraConfig`]: rank, alpha, rsLoRA, dropout, targets; round-trips PEFT's `adapter_config.json`.
//! - [`AdapterLayout`] / [`ModuleShape`]: layers and per-module widths, from a Hugging Face `config.json`.
//! - [`LoraAdapter`]: one task's stacked factors (A `[L, r, d_in]`, B `[L, d_out, r]`), ΔW,
//!   application to activations, merge/unmerge; [`BatchedLoraAdapter`] for one adapter per batch row.
//! - [`lora_delta`]: the per-row LoRA path as one batched op.
//! - [`linear_combination`], [`average`], [`cosine_similarity_ab`], [`cosine_similarity_delta_w`],
//!   [`adapter_stats`]: the analysis and training-target maths.
//! - [`peft`]: reading and writing PEFT adapter directories.
//!
//! Generic over burn's `Backend`; knows nothing of any particular model.

pub mod adapter;
pub mod batched;
pub mod combine;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod layout;
pub mod ops;
pub mod peft;
pub mod similarity;
pub mod stats;
pub mod tensor_file;

pub use adapter::{LoraAdapter, LoraWeights};
pub use batched::{BatchedLoraAdapter, BatchedLoraWeights};
pub use combine::{average, linear_combination};
pub use config::LoraConfig;
pub use error::{Error, Result};
pub use layout::{AdapterLayout, KNOWN_MODULES, ModuleShape, module_path};
pub use ops::lora_delta;
pub use peft::{load_peft, save_peft};
pub use similarity::{
    cosine_similarity_ab, cosine_similarity_delta_w, delta_w_norm, frobenius_norm,
};
pub use stats::{AdapterStats, adapter_stats};
pub use tensor_file::SaveDtype;
