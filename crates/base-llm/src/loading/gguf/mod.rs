//! GGUF (v2/v3) files: header, metadata, tensor infos and dequantized tensors.
//!
//! - [`reader`]: bounds-checked parsing of the header, metadata and tensor infos.
//! - [`value`] / [`metadata`]: metadata values and the ordered map with typed accessors.
//! - [`tensor_info`]: ggml types and tensor infos.
//! - [`dequant`]: ggml block formats to f32.
//! - [`names`]: GGUF tensor names ⇄ Hugging Face names.
//! - [`config`]: `LlamaConfig::from_gguf` (`{arch}.*` metadata).
//! - [`rope_freqs`]: Llama-3 rotary scaling recovered from `rope_freqs.weight`.
//! - [`weights`]: `GgufFile::weight_map`, the Hugging Face [`crate::WeightMap`] of a file.
//!
//! ```no_run
//! # fn main() -> base_llm::Result<()> {
//! use base_llm::loading::gguf::GgufFile;
//! let gguf = GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! println!("{}", gguf.metadata.get_str("general.architecture")?);
//! let embed = gguf.tensor_f32("token_embd.weight")?; // [vocab, hidden]
//! # let _ = embed; Ok(()) }
//! ```

pub mod config;
pub mod dequant;
pub mod metadata;
pub mod names;
pub mod reader;
pub mod rope_freqs;
pub mod tensor_info;
pub mod value;
pub mod weights;

use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use dequant::{can_dequantize, dequantize};
pub use metadata::GgufMetadata;
pub use reader::GgufHeader;
pub use tensor_info::{GgmlType, GgufTensorInfo};
pub use value::GgufValue;

use crate::error::Result;
use crate::loading::LoadError;
use crate::weights::HostTensor;

/// An open GGUF file: parsed header and metadata, tensor infos, and the memory-mapped data.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    bytes: Mmap,
    /// Format version (2 or 3).
    pub version: u32,
    /// All metadata, in file order, with typed accessors.
    pub metadata: GgufMetadata,
    /// Tensor infos in file order (data ranges of known types checked against the file length).
    pub tensors: Vec<GgufTensorInfo>,
    /// Alignment of the tensor data.
    pub alignment: u64,
    /// Absolute offset of the tensor-data section.
    pub data_offset: u64,
}

impl GgufFile {
    /// Maps and parses a GGUF file. Tensor data is read lazily ([`GgufFile::tensor_f32`]).
    ///
    /// Errors: [`LoadError::Io`], [`LoadError::BadMagic`], [`LoadError::UnsupportedVersion`],
    /// [`LoadError::Truncated`], [`LoadError::Malformed`], [`LoadError::TensorShape`] and
    /// [`LoadError::TensorOutOfRange`]; never a panic on a malformed file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |source| LoadError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only; like every memory-mapped reader we rely on the file not
        // being truncated by another process while it is open.
        let bytes = unsafe { Mmap::map(&file) }.map_err(io)?;
        let header = reader::parse_header(&path, &bytes)?;
        Ok(Self {
            metadata: GgufMetadata::new(&path, header.metadata),
            path,
            bytes,
            version: header.version,
            tensors: header.tensors,
            alignment: header.alignment,
            data_offset: header.data_offset,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `general.architecture` (`"llama"`, `"qwen2"`, ...).
    pub fn architecture(&self) -> Result<&str> {
        Ok(self.metadata.get_str("general.architecture")?)
    }

    /// The info of tensor `name`, if present.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    fn require_info(&self, name: &str) -> Result<&GgufTensorInfo> {
        Ok(self
            .tensor_info(name)
            .ok_or_else(|| LoadError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })?)
    }

    fn unsupported(&self, info: &GgufTensorInfo) -> LoadError {
        LoadError::UnsupportedTensorType {
            path: self.path.clone(),
            tensor: info.name.clone(),
            type_id: info.ggml_type.0,
            type_name: info.ggml_type.name().to_string(),
        }
    }

    /// The raw stored bytes of a tensor (errors for a type of unknown size, and for an info
    /// whose range lies outside the file, which only a hand-made info can have).
    pub fn tensor_bytes(&self, info: &GgufTensorInfo) -> Result<&[u8]> {
        let len = info.byte_len.ok_or_else(|| self.unsupported(info))?;
        let start = self.data_offset.checked_add(info.offset);
        let range = start
            .and_then(|s| Some(s..s.checked_add(len)?))
            .and_then(|r| self.bytes.get(r.start as usize..r.end as usize));
        Ok(range.ok_or_else(|| LoadError::TensorOutOfRange {
            path: self.path.clone(),
            tensor: info.name.clone(),
            offset: self.data_offset.saturating_add(info.offset),
            end: self
                .data_offset
                .saturating_add(info.offset)
                .saturating_add(len),
            file_len: self.bytes.len() as u64,
        })?)
    }

    /// Tensor `name` dequantized to f32 in row-major order, shape outermost first (GGUF dims
    /// reversed: a linear weight comes out `[out, in]`). No name mapping or un-permuting here.
    ///
    /// Errors: [`LoadError::MissingTensor`], [`LoadError::UnsupportedTensorType`] naming the
    /// tensor and type id.
    pub fn tensor_f32(&self, name: &str) -> Result<HostTensor> {
        let info = self.require_info(name)?;
        self.dequantize_info(info)
    }

    /// Dequantizes the tensor described by `info` (see [`GgufFile::tensor_f32`]).
    pub fn dequantize_info(&self, info: &GgufTensorInfo) -> Result<HostTensor> {
        if !can_dequantize(info.ggml_type) {
            return Err(self.unsupported(info).into());
        }
        let bytes = self.tensor_bytes(info)?;
        let data = dequantize(info.ggml_type, bytes).ok_or_else(|| self.unsupported(info))?;
        Ok(HostTensor {
            shape: info.shape(),
            data,
        })
    }
}
