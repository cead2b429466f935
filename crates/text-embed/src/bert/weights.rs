//! Reading named tensors from a Hugging Face `model.safetensors` (f32, f16 or bf16) into f32
//! burn tensors, with or without the `bert.` prefix of task-head checkpoints.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// A parsed safetensors file and the name prefix its encoder tensors carry.
pub struct SafetensorsWeights<'a> {
    path: PathBuf,
    tensors: SafeTensors<'a>,
    prefix: &'static str,
}

impl<'a> SafetensorsWeights<'a> {
    /// Parses `bytes` (the content of `path`). The prefix is `bert.` when the file stores the
    /// encoder under it (`BertForMaskedLM` and other task heads), else empty.
    pub fn parse(path: &Path, bytes: &'a [u8]) -> Result<Self> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| Error::Weight {
            path: path.to_path_buf(),
            tensor: "<header>".into(),
            message: e.to_string(),
        })?;
        let prefix = if tensors.tensor("embeddings.word_embeddings.weight").is_err()
            && tensors
                .tensor("bert.embeddings.word_embeddings.weight")
                .is_ok()
        {
            "bert."
        } else {
            ""
        };
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            prefix,
        })
    }

    /// The tensor `name` (without prefix) as f32 of exactly `shape`, on `device`.
    pub fn tensor<B: Backend, const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let full = format!("{}{name}", self.prefix);
        let err = |message: String| Error::Weight {
            path: self.path.clone(),
            tensor: full.clone(),
            message,
        };
        let view = self
            .tensors
            .tensor(&full)
            .map_err(|_| err("missing".into()))?;
        if view.shape() != shape {
            return Err(err(format!(
                "shape {:?}, expected {:?}",
                view.shape(),
                shape
            )));
        }
        let bytes = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => return Err(err(format!("dtype {other:?} is not a float type"))),
        };
        Ok(Tensor::from_data(TensorData::new(data, shape), device))
    }

    /// Whether the file has tensor `name` (without prefix).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors
            .tensor(&format!("{}{name}", self.prefix))
            .is_ok()
    }
}
