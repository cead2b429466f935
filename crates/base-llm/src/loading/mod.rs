//! Checkpoint loaders: GGUF and Hugging Face safetensors into a [`crate::WeightMap`].
//!
//! - [`error`]: [`LoadError`], what can go wrong reading a checkpoint.
//! - [`gguf`]: GGUF files (header, metadata, tensor infos, dequantization, names).
//! - [`permute`]: q/k row order, llama.cpp interleaved ⇄ Hugging Face rotate-half.
pub mod error;
pub mod gguf;
pub mod permute;

pub use error::LoadError;
