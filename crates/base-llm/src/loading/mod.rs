//! Checkpoint loaders: GGUF and Hugging Face safetensors into a [`crate::WeightMap`].
