//! Task embeddings for training a hypernetwork: one-hot per task, or the T2L-preprocessed
//! sentence embeddings of each task's descriptions.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use text_embed::{BertEmbedder, TaskEmbedder, TextEmbedder, one_hot_task_embeddings};

use crate::error::{Error, Result};

/// How tasks are presented to the hypernetwork.
///
/// TOML: `[embedding]` with `kind = "one_hot"`, or `kind = "descriptions"` and
/// `embedder = "assets/all-minilm-l6-v2"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EmbeddingSource {
    /// Task `i` is the `i`-th unit vector (the reference's `use_one_hot_task_emb`).
    #[default]
    OneHot,
    /// Each description embedded by a BERT-family sentence encoder (T2L preprocessing: full stop,
    /// L2 normalisation, ×√dim).
    Descriptions {
        /// The encoder directory (e.g. all-MiniLM-L6-v2).
        embedder: PathBuf,
    },
}

/// Per task, the embeddings of its descriptions (`[n_descriptions, dim]`, constants).
pub struct TaskEmbeddings<B: Backend> {
    /// One tensor per task.
    pub per_task: Vec<Tensor<B, 2>>,
    /// Embedding width.
    pub dim: usize,
    /// The embedder's id (recorded in the hypernetwork config), `None` for one-hot.
    pub embedder_id: Option<String>,
}

impl<B: AutodiffBackend> TaskEmbeddings<B> {
    /// Embeds `descriptions[task]` for every task (one row per description), or one unit
    /// vector per task for [`EmbeddingSource::OneHot`].
    pub fn build(
        source: &EmbeddingSource,
        descriptions: &[Vec<String>],
        device: &B::Device,
    ) -> Result<Self> {
        let n = descriptions.len();
        match source {
            EmbeddingSource::OneHot => {
                let per_task = (0..n)
                    .map(|t| Ok(one_hot_task_embeddings::<B>(&[t], n, device)?))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Self {
                    per_task,
                    dim: n,
                    embedder_id: None,
                })
            }
            EmbeddingSource::Descriptions { embedder } => {
                let bert =
                    BertEmbedder::<B::InnerBackend>::load(embedder, &inner_device::<B>(device))?;
                let emb = TaskEmbedder::new(bert);
                let mut per_task = Vec::with_capacity(n);
                for (t, descs) in descriptions.iter().enumerate() {
                    if descs.is_empty() {
                        return Err(Error::data(
                            format!("task #{t}"),
                            "no descriptions to embed",
                        ));
                    }
                    let refs: Vec<&str> = descs.iter().map(String::as_str).collect();
                    let x = emb.embed(&refs)?;
                    per_task.push(Tensor::from_inner(x).to_device(device));
                }
                Ok(Self {
                    per_task,
                    dim: TextEmbedder::<B::InnerBackend>::dim(&emb),
                    embedder_id: Some(TextEmbedder::<B::InnerBackend>::id(&emb)),
                })
            }
        }
    }

    /// The rows `(task, description)` as one `[n, dim]` batch.
    pub fn rows(&self, picks: &[(usize, usize)]) -> Tensor<B, 2> {
        let rows = picks
            .iter()
            .map(|&(t, d)| {
                let table = &self.per_task[t];
                let d = d % table.dims()[0];
                table.clone().narrow(0, d, 1)
            })
            .collect();
        Tensor::cat(rows, 0)
    }
}

/// The inner backend's device of an autodiff device (the same device).
fn inner_device<B: AutodiffBackend>(device: &B::Device) -> burn::tensor::Device<B::InnerBackend> {
    let probe = Tensor::<B, 1>::zeros([1], device);
    probe.inner().device()
}
