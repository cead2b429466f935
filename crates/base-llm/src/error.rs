//! The error type of `base-llm`.

/// Everything that can go wrong when building, adapting or running the model.
///
/// Variants name the tensor, module or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A weight the model needs is not in the [`crate::WeightMap`].
    #[error("missing weight `{0}`")]
    MissingWeight(String),
    /// A weight has a shape other than the one the config implies.
    #[error("weight `{name}`: expected shape {expected:?}, found {found:?}")]
    WeightShape {
        /// The tensor name (Hugging Face naming).
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape present.
        found: Vec<usize>,
    },
    /// A config field has a value the model cannot use.
    #[error("config field `{field}`: {reason}")]
    Config {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The model inputs are inconsistent (shapes, ids out of range, sequences too long, ...).
    #[error("invalid input `{what}`: {reason}")]
    Input {
        /// The input at fault.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An adapter does not fit the model (layer count, module name or width).
    #[error("adapter does not fit the model: {0}")]
    AdapterMismatch(String),
    /// `merge_adapter` was called on a model that already holds a merged adapter.
    #[error("an adapter is already merged into the weights; unmerge it first")]
    AlreadyMerged,
    /// `unmerge_adapter` was called on a model without a merged adapter.
    #[error("no adapter is merged into the weights")]
    NotMerged,
    /// An error of the adapter library.
    #[error(transparent)]
    Lora(#[from] lora_core::Error),
    /// A checkpoint (GGUF, safetensors, `config.json`) could not be read.
    #[error(transparent)]
    Load(#[from] crate::loading::LoadError),
    /// A tokenizer or chat template could not be built or used.
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
    /// The backend cannot store or compute in the reduced precision asked for the frozen base
    /// ([`crate::precision::BasePrecision::check`]).
    #[error("precision `{precision}` is not available on backend {backend}: {reason}")]
    UnsupportedPrecision {
        /// The precision asked for.
        precision: crate::precision::BasePrecision,
        /// burn's name of the backend.
        backend: String,
        /// What the device lacks.
        reason: String,
    },
    /// A real model of the project's assets is not there ([`crate::assets`]).
    #[error("{} is missing: run scripts/fetch-assets.sh (or set T2L_ASSETS)", path.display())]
    MissingAsset {
        /// The path looked for.
        path: std::path::PathBuf,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Input`].
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Input {
            what,
            reason: reason.into(),
        }
    }
}
