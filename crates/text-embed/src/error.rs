//! The crate's typed error.

use std::path::PathBuf;

/// Everything that can go wrong while loading an embedder or embedding text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file (config, pooling config, modules list) is malformed.
    #[error("{path}: invalid JSON: {message}")]
    Json {
        /// The file at fault.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A config field is missing or has a value this crate cannot use.
    #[error("{path}: field `{field}`: {message}")]
    Config {
        /// The file at fault.
        path: PathBuf,
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The model's architecture is not one this crate implements.
    #[error("{path}: unsupported architecture `{architecture}` ({hint})")]
    UnsupportedArchitecture {
        /// The config.json that names it.
        path: PathBuf,
        /// The architecture (`architectures[0]`, else `model_type`).
        architecture: String,
        /// What is supported instead.
        hint: String,
    },
    /// The tokenizer file could not be loaded or a text could not be tokenized.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What the tokenizer said.
        message: String,
    },
    /// A safetensors file is unreadable, lacks a tensor or has one of the wrong shape or dtype.
    #[error("{path}: tensor `{tensor}`: {message}")]
    Weight {
        /// The weights file.
        path: PathBuf,
        /// The tensor at fault.
        tensor: String,
        /// What is wrong with it.
        message: String,
    },
    /// The caller passed something the embedder cannot embed (an empty batch, a wrong shape).
    #[error("invalid input `{what}`: {message}")]
    Input {
        /// The argument at fault.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// An on-disk cache entry is corrupt or belongs to another embedder.
    #[error("embedding cache {path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The base LLM or its tokenizer failed (LLM embedders).
    #[error("base LLM: {0}")]
    Llm(#[source] base_llm::Error),
    /// An error from a user-defined embedder.
    #[error("embedder `{id}`: {source}")]
    Custom {
        /// The embedder's id.
        id: String,
        /// Its error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Input`].
    pub fn input(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Input {
            what: what.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Config`].
    pub fn config(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Config {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
