//! [`LoadError`]: what can go wrong reading a checkpoint (GGUF, safetensors, `config.json`).

use std::path::PathBuf;

/// A checkpoint file could not be read or does not describe a model this crate can build.
///
/// Every variant names the file and, where there is one, the metadata key, tensor or field at
/// fault. It reaches callers as [`crate::Error::Load`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened, read or mapped.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file does not start with the GGUF magic `GGUF`.
    #[error("{}: not a GGUF file (magic {found:?}, expected \"GGUF\")", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// A GGUF version other than 2 or 3.
    #[error("{}: unsupported GGUF version {version} (2 and 3 are read)", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the header.
        version: u32,
    },
    /// The file ends before a structure it announces.
    #[error("{}: truncated while reading {what} at byte {offset} (needs {needed} bytes, file has {len})", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read (`"metadata key 12"`, `"tensor info 3"`, ...).
        what: String,
        /// Where reading started.
        offset: u64,
        /// How many bytes were needed.
        needed: u64,
        /// The file length.
        len: u64,
    },
    /// The file's structure is inconsistent (bad value type, bad string, bad alignment, ...).
    #[error("{}: malformed: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A metadata key the caller needs is absent.
    #[error("{}: metadata key `{key}` is missing", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A metadata key holds a value of another type than the caller needs.
    #[error("{}: metadata key `{key}` is {found}, expected {expected}", path.display())]
    KeyType {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The type needed.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// A tensor the caller asked for is not in the file.
    #[error("{}: no tensor `{tensor}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
    },
    /// A tensor's data lies (partly) outside the file.
    #[error("{}: tensor `{tensor}` data at {offset}..{end} lies outside the file of {file_len} bytes", path.display())]
    TensorOutOfRange {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// Absolute start offset of the data.
        offset: u64,
        /// Absolute end offset of the data.
        end: u64,
        /// The file length.
        file_len: u64,
    },
    /// A tensor is stored in a type this crate cannot dequantize (or a type id it does not know).
    #[error("{}: tensor `{tensor}` has unsupported type {type_name} (ggml type id {type_id})", path.display())]
    UnsupportedTensorType {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// The ggml type id.
        type_id: u32,
        /// The type's name, `"unknown"` for ids this crate does not know.
        type_name: String,
    },
    /// A tensor's shape does not fit its type (rows not a whole number of blocks, too many dims, ...).
    #[error("{}: tensor `{tensor}`: {reason}", path.display())]
    TensorShape {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A GGUF tensor name has no Hugging Face counterpart in the architecture read.
    #[error("{}: tensor `{tensor}` has no Hugging Face name for architecture `{arch}`", path.display())]
    UnknownTensorName {
        /// The file.
        path: PathBuf,
        /// The GGUF tensor name.
        tensor: String,
        /// The architecture.
        arch: String,
    },
    /// The checkpoint describes an architecture this crate does not build.
    #[error("{}: unsupported architecture `{arch}`", path.display())]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// The architecture name (`general.architecture` or `model_type`).
        arch: String,
    },
    /// A JSON file (`config.json`, `model.safetensors.index.json`) does not parse.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser error.
        source: serde_json::Error,
    },
    /// A config field (in `config.json` or GGUF metadata) is missing or unusable.
    #[error("{}: config field `{field}`: {reason}", path.display())]
    ConfigField {
        /// The file.
        path: PathBuf,
        /// The field or metadata key.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file is invalid.
    #[error("{}: invalid safetensors: {reason}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors tensor has a dtype other than f32, f16 or bf16.
    #[error("{}: tensor `{tensor}` has dtype {dtype}; only F32, F16 and BF16 are read", path.display())]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
    /// The path is neither a GGUF file nor a Hugging Face model directory.
    #[error("{}: not a model checkpoint: {reason}", path.display())]
    NotACheckpoint {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}
