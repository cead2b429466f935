//! A T2L checkpoint together with its text embedder, as `generate`, `run` and `eval` open it.

use std::path::{Path, PathBuf};

use burn::prelude::Backend;
use hypermod::HyperModulator;
use hypermod::pipeline::Pipeline;
use text_embed::BertEmbedder;

use crate::error::CliError;

/// The text-embedder directory for a checkpoint: `explicit` (`--embedder DIR`) when given, else
/// the embedder the checkpoint records, when that names a directory (as given, or relative to the
/// checkpoint directory).
pub fn embedder_dir(
    explicit: Option<&Path>,
    checkpoint: &Path,
    recorded: Option<&str>,
) -> Result<PathBuf, CliError> {
    if let Some(dir) = explicit {
        return if dir.is_dir() {
            Ok(dir.to_path_buf())
        } else {
            Err(CliError::Input(format!(
                "{}: no such embedder directory",
                dir.display()
            )))
        };
    }
    let id = recorded.ok_or_else(|| {
        CliError::Input(
            "a task description needs a text embedder: the checkpoint records none; pass --embedder DIR"
                .into(),
        )
    })?;
    [PathBuf::from(id), checkpoint.join(id)]
        .into_iter()
        .find(|p| p.is_dir())
        .ok_or_else(|| {
            CliError::Input(format!(
                "the checkpoint's embedder `{id}` is not a directory here; pass --embedder DIR"
            ))
        })
}

/// `hyper` (opened from `checkpoint`) behind the BERT-family embedder that [`embedder_dir`] finds:
/// description in, adapter out.
pub fn open_pipeline<B: Backend>(
    hyper: HyperModulator<B>,
    checkpoint: &Path,
    explicit_embedder: Option<&Path>,
    device: &B::Device,
) -> Result<(Pipeline<B, BertEmbedder<B>>, PathBuf), CliError> {
    let dir = embedder_dir(
        explicit_embedder,
        checkpoint,
        hyper.config().embedder.as_deref(),
    )?;
    let bert = BertEmbedder::<B>::load(&dir, device)?;
    Ok((Pipeline::new(hyper, bert)?, dir))
}
