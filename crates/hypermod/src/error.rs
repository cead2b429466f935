//! The error type of `hypermod`.

use std::path::PathBuf;

/// One way a set of named tensors fails to match what a hypernetwork configuration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorProblem {
    /// The configuration needs this tensor and it is absent.
    Missing {
        /// Tensor name (reference state-dict naming).
        name: String,
        /// The shape the configuration needs.
        expected: Vec<usize>,
    },
    /// The tensor is present but is not part of this configuration.
    Unexpected {
        /// Tensor name.
        name: String,
        /// Its shape.
        found: Vec<usize>,
    },
    /// The tensor is present with another shape.
    Shape {
        /// Tensor name.
        name: String,
        /// The shape the configuration needs.
        expected: Vec<usize>,
        /// The shape present.
        found: Vec<usize>,
    },
}

impl std::fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { name, expected } => write!(f, "missing `{name}` {expected:?}"),
            Self::Unexpected { name, found } => write!(f, "unexpected `{name}` {found:?}"),
            Self::Shape {
                name,
                expected,
                found,
            } => write!(f, "`{name}`: expected {expected:?}, found {found:?}"),
        }
    }
}

/// Everything that can go wrong building, running, saving or loading a hypernetwork.
///
/// Variants name the file, field or tensor at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of a [`crate::HyperConfig`] is inconsistent or out of range.
    #[error("hypernetwork config: field `{field}`: {reason}")]
    Config {
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Named tensors (a checkpoint, an import) do not match the configuration; every mismatch is listed.
    #[error("{origin}: {} tensor mismatch(es): {}", problems.len(), join(problems))]
    Tensors {
        /// Where the tensors came from (a file path or `<memory>`).
        origin: String,
        /// Every mismatch found.
        problems: Vec<TensorProblem>,
    },
    /// Task embeddings of the wrong width.
    #[error("task embedding has {found} values per row, the hypernetwork expects {expected}")]
    EmbeddingDim {
        /// The configured task-embedding width `E`.
        expected: usize,
        /// The width given.
        found: usize,
    },
    /// An empty batch of task embeddings or descriptions.
    #[error("{0} is empty: at least one task is needed")]
    Empty(&'static str),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parser error.
        source: serde_json::Error,
    },
    /// An adapter-level error from `lora-core` (PEFT files, adapter shapes, safetensors).
    #[error(transparent)]
    Lora(#[from] lora_core::Error),
    /// A reference (PyTorch) checkpoint directory could not be imported ([`crate::reference`]).
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// A task-embedding file (JSON list or `.npy`) that cannot be used.
    #[error("{path}: {reason}")]
    EmbeddingFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory that is neither one of our checkpoints nor a reference checkpoint.
    #[error("{path}: not a hypernetwork checkpoint (no hypermod_config.json, no hypermod.pt)")]
    NotACheckpoint {
        /// The directory.
        path: PathBuf,
    },
    /// The text embedder of the generation pipeline failed.
    #[error("text embedder: {0}")]
    Embedder(String),
    /// The CPU lacks an instruction-set extension that a requested packed CPU path needs
    /// ([`crate::packed::PackedHyper::with_precision`]); nothing falls back silently.
    #[error("packed CPU path: {what} needs the CPU feature `{feature}`, which this CPU lacks")]
    CpuFeature {
        /// The missing feature, as `is_x86_feature_detected!` names it (`avx512f`, `avx512bf16`).
        feature: &'static str,
        /// What needed it.
        what: String,
    },
}

fn join(problems: &[TensorProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
