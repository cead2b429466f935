//! A GGUF file's tensors as a Hugging Face [`WeightMap`]: names mapped, dequantized to f32, and
//! llama q/k rows un-permuted into the rotate-half order.

use std::thread;

use super::GgufFile;
use super::names::{HfName, hf_name};
use crate::config::{Architecture, LlamaConfig};
use crate::error::Result;
use crate::loading::LoadError;
use crate::loading::permute::unpermute_rows;
use crate::weights::{HostTensor, WeightMap};

impl GgufFile {
    /// Every model tensor of the file, dequantized to f32 under its Hugging Face name.
    ///
    /// For `llama` files the rows of `q_proj` / `k_proj` (weights and biases) are un-permuted
    /// from llama.cpp's interleaved order into the Hugging Face rotate-half order
    /// ([`unpermute_rows`]), so the map equals the Hugging Face state dict and a PEFT adapter on
    /// `q_proj` means the same thing for both sources. Qwen2 files are stored unpermuted. Tied
    /// embeddings (no `output.weight`) yield no `lm_head.weight`.
    ///
    /// Tensors are dequantized on up to `std::thread::available_parallelism()` threads.
    ///
    /// Errors: [`LoadError::UnknownTensorName`] for a tensor with no Hugging Face name,
    /// [`LoadError::UnsupportedTensorType`] naming the tensor and type id, and
    /// [`LoadError::TensorShape`] when q/k rows are not whole heads.
    pub fn weight_map(&self, config: &LlamaConfig) -> Result<WeightMap> {
        let permuted = matches!(
            config.architecture,
            Architecture::Llama | Architecture::Mistral
        );
        let mut jobs = Vec::new();
        for info in &self.tensors {
            match hf_name(&info.name) {
                Some(HfName::Weight(name)) => {
                    let heads = if !permuted {
                        None
                    } else if name.contains(".self_attn.q_proj.") {
                        Some(config.num_attention_heads)
                    } else if name.contains(".self_attn.k_proj.") {
                        Some(config.num_key_value_heads)
                    } else {
                        None
                    };
                    jobs.push((info, name, heads));
                }
                Some(HfName::Ignored) => {}
                None => {
                    return Err(LoadError::UnknownTensorName {
                        path: self.path().to_path_buf(),
                        tensor: info.name.clone(),
                        arch: self.architecture().unwrap_or("?").to_string(),
                    }
                    .into());
                }
            }
        }
        let threads = thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = jobs.len().div_ceil(threads).max(1);
        let results: Vec<Result<Vec<(String, HostTensor)>>> = thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(info, name, heads)| {
                                let t = self.dequantize_info(info)?;
                                let t = match heads {
                                    None => t,
                                    Some(h) => unpermute_rows(&t, *h).ok_or_else(|| {
                                        LoadError::TensorShape {
                                            path: self.path().to_path_buf(),
                                            tensor: info.name.clone(),
                                            reason: format!(
                                                "{} rows are not {h} heads of an even width",
                                                t.shape.first().copied().unwrap_or(0)
                                            ),
                                        }
                                    })?,
                                };
                                Ok((name.clone(), t))
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut map = WeightMap::default();
        for part in results {
            map.tensors.extend(part?);
        }
        Ok(map)
    }
}
