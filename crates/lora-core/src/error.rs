//! The error type of `lora-core`.

use std::path::PathBuf;

/// Everything that can go wrong in adapter math and PEFT file handling.
///
/// Variants name the file, tensor or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parser error.
        source: serde_json::Error,
    },
    /// A field of a config is missing or has a value we cannot use.
    #[error("{file}: field `{field}`: {reason}")]
    ConfigField {
        /// The config file (or `<memory>`).
        file: String,
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A safetensors file is truncated, malformed or not safetensors at all.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A tensor an adapter needs is absent.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The missing key.
        tensor: String,
    },
    /// A tensor has a shape other than the one required.
    #[error("tensor `{tensor}`: expected shape {expected:?}, found {found:?}")]
    Shape {
        /// The tensor (module name, PEFT key, ...).
        tensor: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape present.
        found: Vec<usize>,
    },
    /// A tensor has a dtype we cannot read.
    #[error("{path}: tensor `{tensor}` has unsupported dtype {dtype}")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
    /// A key of a PEFT file does not follow the `...layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}...` scheme.
    #[error("{path}: unexpected tensor `{tensor}`: {reason}")]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor key.
        tensor: String,
        /// Why it was not understood.
        reason: String,
    },
    /// A module name is not part of the adapter or layout.
    #[error("unknown target module `{0}`")]
    UnknownModule(String),
    /// A layer index past the end of the adapter.
    #[error("layer {layer} is out of range: the adapter has {n_layers} layers")]
    LayerOutOfRange {
        /// The index asked for.
        layer: usize,
        /// How many layers there are.
        n_layers: usize,
    },
    /// Adapters that must agree (same layout, rank and modules) do not.
    #[error("adapters are incompatible: {0}")]
    Incompatible(String),
    /// An operation got an empty list.
    #[error("{0} needs at least {1} adapter(s)")]
    TooFew(&'static str, usize),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
