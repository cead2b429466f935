//! The trainers' error type: every failure names the file, field or tensor at fault.

use std::path::{Path, PathBuf};

/// Anything that makes training, data loading or checkpointing fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON document (config, data row, metrics, state) could not be parsed.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file (with `:line` for JSONL rows).
        path: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A TOML config could not be parsed.
    #[error("{path}: invalid TOML: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: toml::de::Error,
    },
    /// A config field has an unusable value.
    #[error("config field `{field}`: {reason}")]
    Config {
        /// The field (dotted path).
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The task-suite folder was not found.
    #[error(
        "task data not found (tried: {tried}); set T2L_DATA to the folder that holds `tasks/` and `benchmarks/`"
    )]
    DataNotFound {
        /// The locations that were tried.
        tried: String,
    },
    /// A data file has content the trainers cannot use.
    #[error("{file}: {reason}")]
    Data {
        /// The file (or task) at fault.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint is missing, incomplete or does not fit the run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error("non-finite loss {loss} at step {step}")]
    NonFinite {
        /// The optimizer step.
        step: usize,
        /// The value.
        loss: f64,
    },
    /// From lora-core (adapter shapes, PEFT files).
    #[error(transparent)]
    Lora(#[from] lora_core::Error),
    /// From base-llm (model inputs, adapter layouts).
    #[error(transparent)]
    Llm(#[from] base_llm::Error),
    /// From hypermod (hypernetwork configs, generation, checkpoints).
    #[error(transparent)]
    Hyper(#[from] hypermod::Error),
    /// From text-embed (description embeddings).
    #[error(transparent)]
    Embed(#[from] text_embed::Error),
}

/// The trainers' result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A config error on `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A data error in `file`.
    pub fn data(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Data {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// A checkpoint error at `path`.
    pub fn checkpoint(path: &Path, reason: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
