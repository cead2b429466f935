//! [`Llama::load`]: a model straight from a GGUF file or a Hugging Face model directory.

use std::path::Path;

use burn::prelude::*;

use super::Llama;
use crate::error::Result;
use crate::loading::gguf::GgufFile;
use crate::loading::{Checkpoint, load_checkpoint};
use crate::precision::BasePrecision;

impl<B: Backend> Llama<B> {
    /// Loads a model from a `.gguf` file or a Hugging Face directory (`config.json` +
    /// `model.safetensors` or `model.safetensors.index.json`); see
    /// [`crate::loading::load_checkpoint`]. The config comes from the checkpoint.
    ///
    /// ```no_run
    /// # fn main() -> base_llm::Result<()> {
    /// type B = burn::backend::Flex;
    /// let model = base_llm::Llama::<B>::load("SmolLM2-135M-Instruct.Q4_1.gguf", &Default::default())?;
    /// assert_eq!(model.config().num_hidden_layers, 30);
    /// # Ok(()) }
    /// ```
    pub fn load(path: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        Self::load_with(path, device, BasePrecision::F32)
    }

    /// Like [`Llama::load`], with the frozen base in `precision`
    /// ([`Llama::from_weights_with`]).
    pub fn load_with(
        path: impl AsRef<Path>,
        device: &B::Device,
        precision: BasePrecision,
    ) -> Result<Self> {
        let ckpt = load_checkpoint(path)?;
        Self::from_weights_with(ckpt.config, ckpt.weights, device, precision)
    }

    /// Builds a model from an open GGUF file (the same file can rebuild the tokenizer from its
    /// metadata, parsed once).
    pub fn from_gguf(file: &GgufFile, device: &B::Device) -> Result<Self> {
        let ckpt = Checkpoint::from_gguf(file)?;
        Self::from_weights(ckpt.config, ckpt.weights, device)
    }
}
