//! Parsing the GGUF header, metadata and tensor infos from the file's bytes, every read bounds-checked.

use std::collections::HashSet;
use std::path::Path;

use super::tensor_info::{GgmlType, GgufTensorInfo};
use super::value::GgufValue;
use crate::loading::LoadError;

/// `GGUF` as the first four bytes of the file.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Tensor-data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions a ggml tensor has.
const MAX_DIMS: u32 = 4;
/// Deepest nesting of metadata arrays accepted.
const MAX_ARRAY_DEPTH: usize = 8;

/// Everything before the tensor data: the parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata pairs in file order.
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor infos in file order (data ranges checked against the file length).
    pub tensors: Vec<GgufTensorInfo>,
    /// Alignment of the tensor data (`general.alignment`, default 32).
    pub alignment: u64,
    /// Absolute offset of the tensor-data section.
    pub data_offset: u64,
}

/// A cursor over the file bytes whose reads fail with [`LoadError::Truncated`] instead of panicking.
struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], LoadError> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n > remaining {
            return Err(LoadError::Truncated {
                path: self.path.to_path_buf(),
                what: what(),
                offset: self.pos as u64,
                needed: n,
                len: self.bytes.len() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], LoadError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, LoadError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, LoadError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, LoadError> {
        let n = self.u64(what)?;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec())
            .map_err(|_| self.malformed(format!("{} is not UTF-8", what())))
    }

    fn malformed(&self, reason: String) -> LoadError {
        LoadError::Malformed {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    fn value(
        &mut self,
        type_id: u32,
        depth: usize,
        what: &dyn Fn() -> String,
    ) -> Result<GgufValue, LoadError> {
        Ok(match type_id {
            0 => GgufValue::U8(self.array::<1>(what)?[0]),
            1 => GgufValue::I8(self.array::<1>(what)?[0] as i8),
            2 => GgufValue::U16(u16::from_le_bytes(self.array(what)?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array(what)?)),
            4 => GgufValue::U32(self.u32(what)?),
            5 => GgufValue::I32(i32::from_le_bytes(self.array(what)?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => return Err(self.malformed(format!("{}: bool byte {b}", what()))),
            },
            8 => GgufValue::String(self.string(what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.malformed(format!("{}: arrays nested too deep", what())));
                }
                let elem = self.u32(what)?;
                let n = self.u64(what)?;
                // Every element takes at least one byte: a larger count cannot be honest.
                if n > self.remaining() {
                    return Err(LoadError::Truncated {
                        path: self.path.to_path_buf(),
                        what: format!("{} ({n} array elements)", what()),
                        offset: self.pos as u64,
                        needed: n,
                        len: self.bytes.len() as u64,
                    });
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1, what)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::U64(self.u64(what)?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array(what)?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array(what)?)),
            t => {
                return Err(self.malformed(format!("{}: unknown value type {t}", what())));
            }
        })
    }
}

/// Parses a whole GGUF file held in `bytes`; `path` is named in errors.
pub fn parse_header(path: &Path, bytes: &[u8]) -> Result<GgufHeader, LoadError> {
    let p = || path.to_path_buf();
    if bytes.len() < 4 || bytes[..4] != GGUF_MAGIC {
        return Err(LoadError::BadMagic {
            path: p(),
            found: bytes[..bytes.len().min(4)].to_vec(),
        });
    }
    let mut r = ByteReader {
        bytes,
        pos: 4,
        path,
    };
    let version = r.u32(&|| "the version".into())?;
    if !(2..=3).contains(&version) {
        return Err(LoadError::UnsupportedVersion { path: p(), version });
    }
    let n_tensors = r.u64(&|| "the tensor count".into())?;
    let n_kv = r.u64(&|| "the metadata count".into())?;
    // A metadata pair takes at least 12 bytes and a tensor info at least 24.
    let announced = n_kv
        .saturating_mul(12)
        .saturating_add(n_tensors.saturating_mul(24));
    if announced > r.remaining() {
        return Err(LoadError::Truncated {
            path: p(),
            what: format!("{n_kv} metadata pairs and {n_tensors} tensor infos"),
            offset: r.pos as u64,
            needed: announced,
            len: bytes.len() as u64,
        });
    }

    let mut metadata = Vec::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let key = r.string(&|| format!("metadata key {i}"))?;
        let what = || format!("metadata value `{key}`");
        let type_id = r.u32(&what)?;
        let value = r.value(type_id, 0, &what)?;
        metadata.push((key, value));
    }
    let alignment = match metadata
        .iter()
        .rev()
        .find(|(k, _)| k == "general.alignment")
    {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_i128() {
            Some(a) if a > 0 && (a as u64).is_power_of_two() && a <= u32::MAX as i128 => a as u64,
            _ => {
                return Err(r.malformed(format!(
                    "general.alignment {v:?} is not a positive power of two"
                )));
            }
        },
    };

    let mut infos = Vec::with_capacity(n_tensors as usize);
    let mut names = HashSet::new();
    for i in 0..n_tensors {
        let name = r.string(&|| format!("tensor info {i}"))?;
        let what = || format!("tensor info `{name}`");
        let n_dims = r.u32(&what)?;
        if n_dims > MAX_DIMS {
            return Err(r.malformed(format!("tensor `{name}` has {n_dims} dimensions")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(&what)?);
        }
        let ggml_type = GgmlType(r.u32(&what)?);
        let offset = r.u64(&what)?;
        if !names.insert(name.clone()) {
            return Err(r.malformed(format!("tensor `{name}` appears twice")));
        }
        infos.push((name, dims, ggml_type, offset));
    }
    let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;

    let file_len = bytes.len() as u64;
    let mut tensors = Vec::with_capacity(infos.len());
    for (name, dims, ggml_type, offset) in infos {
        let shape_err = |reason: String| LoadError::TensorShape {
            path: p(),
            tensor: name.clone(),
            reason,
        };
        if offset % alignment != 0 {
            return Err(shape_err(format!(
                "data offset {offset} is not a multiple of the alignment {alignment}"
            )));
        }
        let n = dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= isize::MAX as u64)
            .ok_or_else(|| shape_err(format!("dimensions {dims:?} overflow")))?;
        let byte_len = match ggml_type.block_layout() {
            None => None,
            Some((block, block_bytes)) => {
                let ne0 = dims.first().copied().unwrap_or(1);
                if ne0 % block as u64 != 0 {
                    return Err(shape_err(format!(
                        "rows of {ne0} elements are not whole {} blocks of {block}",
                        ggml_type.name()
                    )));
                }
                let len = (n / block as u64)
                    .checked_mul(block_bytes as u64)
                    .ok_or_else(|| shape_err("byte size overflows".into()))?;
                let start = data_offset.checked_add(offset);
                let end = start.and_then(|s| s.checked_add(len));
                match (start, end) {
                    (Some(_), Some(end)) if end <= file_len => {}
                    _ => {
                        return Err(LoadError::TensorOutOfRange {
                            path: p(),
                            tensor: name,
                            offset: data_offset.saturating_add(offset),
                            end: data_offset.saturating_add(offset).saturating_add(len),
                            file_len,
                        });
                    }
                }
                Some(len)
            }
        };
        tensors.push(GgufTensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            byte_len,
        });
    }
    Ok(GgufHeader {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}
