//! [`GgufMetadata`]: the ordered key/value metadata of a GGUF file with typed accessors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::value::GgufValue;
use crate::loading::LoadError;

/// The metadata of a GGUF file in file order, with lookups by key.
///
/// The typed accessors return [`LoadError::MissingKey`] or [`LoadError::KeyType`] naming the key
/// and the file. Integer accessors accept any integer type whose value fits (GGUF writers differ
/// in the widths they use); float accessors accept f32, f64 and integers.
///
/// ```no_run
/// # fn main() -> base_llm::Result<()> {
/// let gguf = base_llm::loading::gguf::GgufFile::open("model.gguf")?;
/// let arch = gguf.metadata.get_str("general.architecture")?;
/// let layers = gguf.metadata.get_u32(&format!("{arch}.block_count"))?;
/// let tokens = gguf.metadata.get_string_array("tokenizer.ggml.tokens")?;
/// # let _ = (layers, tokens); Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct GgufMetadata {
    path: PathBuf,
    entries: Vec<(String, GgufValue)>,
    index: HashMap<String, usize>,
}

impl GgufMetadata {
    /// Metadata from `(key, value)` pairs in order; a repeated key keeps its last value (in
    /// the first key's position). `path` is the file named in errors.
    pub fn new(path: impl Into<PathBuf>, pairs: Vec<(String, GgufValue)>) -> Self {
        let mut md = Self {
            path: path.into(),
            entries: Vec::with_capacity(pairs.len()),
            index: HashMap::with_capacity(pairs.len()),
        };
        for (k, v) in pairs {
            match md.index.get(&k) {
                Some(&i) => md.entries[i].1 = v,
                None => {
                    md.index.insert(k.clone(), md.entries.len());
                    md.entries.push((k, v));
                }
            }
        }
        md
    }

    /// The file the metadata was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(key, value)` pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &GgufValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The value of `key`, or [`LoadError::MissingKey`].
    pub fn require(&self, key: &str) -> Result<&GgufValue, LoadError> {
        self.get(key).ok_or_else(|| LoadError::MissingKey {
            path: self.path.clone(),
            key: key.to_string(),
        })
    }

    fn type_error(&self, key: &str, expected: &'static str, found: &GgufValue) -> LoadError {
        let found = match found {
            GgufValue::Array(items) => match items.first() {
                Some(v) => format!("array of {}", v.type_name()),
                None => "empty array".to_string(),
            },
            v => v.type_name().to_string(),
        };
        LoadError::KeyType {
            path: self.path.clone(),
            key: key.to_string(),
            expected,
            found,
        }
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str, LoadError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| self.type_error(key, "string", v))
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool, LoadError> {
        match self.require(key)? {
            GgufValue::Bool(b) => Ok(*b),
            v => Err(self.type_error(key, "bool", v)),
        }
    }

    fn get_int<T: TryFrom<i128>>(&self, key: &str, expected: &'static str) -> Result<T, LoadError> {
        let v = self.require(key)?;
        v.as_i128()
            .and_then(|i| T::try_from(i).ok())
            .ok_or_else(|| self.type_error(key, expected, v))
    }

    /// An integer value that fits `u32`.
    pub fn get_u32(&self, key: &str) -> Result<u32, LoadError> {
        self.get_int(key, "u32")
    }

    /// An integer value that fits `u64`.
    pub fn get_u64(&self, key: &str) -> Result<u64, LoadError> {
        self.get_int(key, "u64")
    }

    /// An integer value that fits `i32`.
    pub fn get_i32(&self, key: &str) -> Result<i32, LoadError> {
        self.get_int(key, "i32")
    }

    /// An integer value that fits `i64`.
    pub fn get_i64(&self, key: &str) -> Result<i64, LoadError> {
        self.get_int(key, "i64")
    }

    /// An integer value that fits `usize`.
    pub fn get_usize(&self, key: &str) -> Result<usize, LoadError> {
        self.get_int(key, "usize")
    }

    /// A float (or integer) value as `f32`.
    pub fn get_f32(&self, key: &str) -> Result<f32, LoadError> {
        self.get_f64(key).map(|v| v as f32)
    }

    /// A float (or integer) value as `f64`.
    pub fn get_f64(&self, key: &str) -> Result<f64, LoadError> {
        let v = self.require(key)?;
        v.as_f64().ok_or_else(|| self.type_error(key, "float", v))
    }

    /// An array value (elements of any type).
    pub fn get_array(&self, key: &str) -> Result<&[GgufValue], LoadError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| self.type_error(key, "array", v))
    }

    /// An array of strings (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    pub fn get_string_array(&self, key: &str) -> Result<Vec<&str>, LoadError> {
        let v = self.require(key)?;
        let err = || self.type_error(key, "array of string", v);
        v.as_array()
            .ok_or_else(err)?
            .iter()
            .map(|e| e.as_str().ok_or_else(err))
            .collect()
    }

    /// An array of integers that fit `i32` (`tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>, LoadError> {
        let v = self.require(key)?;
        let err = || self.type_error(key, "array of i32", v);
        v.as_array()
            .ok_or_else(err)?
            .iter()
            .map(|e| {
                e.as_i128()
                    .and_then(|i| i32::try_from(i).ok())
                    .ok_or_else(err)
            })
            .collect()
    }

    /// An array of floats (or integers) as `f32` (`tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, LoadError> {
        let v = self.require(key)?;
        let err = || self.type_error(key, "array of f32", v);
        v.as_array()
            .ok_or_else(err)?
            .iter()
            .map(|e| e.as_f64().map(|f| f as f32).ok_or_else(err))
            .collect()
    }
}
