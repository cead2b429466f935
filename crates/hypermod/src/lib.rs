//! `hypermod`: the Text-to-LoRA hypernetwork. A task embedding in, a complete LoRA adapter out,
//! in one batched forward pass (paper §3.1; exact details in the reference notes §2).
//!
//! - [`HyperConfig`] / [`Variant`] / [`InitMode`]: architecture (L/M/S heads, sizes, layout, LoRA
//!   config, module order, embedder id, head initialisation, frozen stacks).
//! - [`HyperModulator`]: the module tree ([`model`]), generation ([`forward`]): `generate`,
//!   `generate_each`, `generate_one`, the training forward `forward(.., Mode::Train)`.
//! - [`spec`]: the one list of tensor names (the reference's state-dict keys), shapes and inits;
//!   [`HyperModulator::from_tensors`] / [`HyperModulator::to_tensors`] move named host tensors in
//!   and out (shared by initialisation, checkpoints and the reference import).
//! - [`init`]: seeded initialisation and Bias-HyperInit (with the rule for `d_out > d_in`).
//! - [`packed`]: the CPU fast path (host trunk and heads on a packed AVX-512 kernel):
//!   [`packed::PackedHyper`], `generate_packed`, and `generate_packed_timed` with its
//!   [`packed::PackedTimings`] (trunk, head GEMMs, finish).
//! - [`generator`]: [`generator::AdapterGenerator`], a hypernetwork on the generic or the packed
//!   path (the one place that chooses); [`precision_name`]: the packed path's named precisions
//!   (`f32`, `f16-heads`, `bf16`, `bf16-heads`).
//! - [`checkpoint`]: our checkpoint directory (safetensors + JSON config + `adapter_config.json`).
//! - [`pipeline`]: description(s) → [`text_embed::TextEmbedder`] → hypernetwork → PEFT directory.
//! - [`mod@reference`]: import of the PyTorch reference's checkpoints.
//!
//! Knows no base model: shapes come from an [`lora_core::AdapterLayout`].

pub mod checkpoint;
pub mod config;
pub mod embedding_file;
pub mod error;
pub mod forward;
pub mod generator;
pub mod heads;
pub mod init;
pub mod model;
pub mod nn;
pub mod packed;
pub mod pipeline;
pub mod precision_name;
pub mod reference;
pub mod rope;
pub mod spec;
pub mod stacks;
pub mod tensors;

pub use config::{HyperConfig, InitMode, LAYER_NORM_EPS, Variant, Z_SCORE_EPS};
pub use error::{Error, Result, TensorProblem};
pub use init::{NamedTensors, bias_hyperinit, initial_tensors};
pub use model::HyperModulator;
pub use nn::Mode;
pub use spec::{InitRule, Stack, TensorSpec, tensor_specs};
pub use tensors::check_tensors;
