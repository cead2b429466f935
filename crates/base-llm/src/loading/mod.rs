//! Checkpoint loaders: GGUF and Hugging Face safetensors into a [`crate::WeightMap`] and a
//! [`crate::LlamaConfig`].
//!
//! - [`checkpoint`]: [`load_checkpoint`], a GGUF file or a Hugging Face directory, whichever it is.
//! - [`gguf`]: GGUF files (header, metadata, tensor infos, dequantization, names, config, weights).
//! - [`safetensors`]: safetensors files, single and sharded; writing a [`crate::WeightMap`].
//! - [`hf_config`]: `LlamaConfig` from and to a Hugging Face `config.json`.
//! - [`permute`]: q/k row order, llama.cpp interleaved ⇄ Hugging Face rotate-half.
//! - [`error`]: [`LoadError`], what can go wrong reading a checkpoint.
pub mod checkpoint;
pub mod error;
pub mod gguf;
pub mod hf_config;
pub mod permute;
pub mod safetensors;

pub use checkpoint::{Checkpoint, CheckpointSource, load_checkpoint, load_gguf};
pub use error::LoadError;
