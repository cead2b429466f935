//! Hugging Face safetensors checkpoints: single files and sharded (`model.safetensors.index.json`)
//! directories read into a [`WeightMap`] (F32, F16 and BF16 converted to f32), and a
//! [`WeightMap`] written back as an f32 safetensors file.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::tensor::{Dtype, SafeTensors, TensorView, View};

use super::LoadError;
use crate::error::Result;
use crate::weights::{HostTensor, WeightMap};

/// Name of a single-file checkpoint in a model directory.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

fn io(path: &Path) -> impl Fn(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads every tensor of one safetensors file into `map` as f32.
///
/// Errors: [`LoadError::Safetensors`] for an invalid file, [`LoadError::UnsupportedDtype`]
/// naming a tensor that is not F32, F16 or BF16.
pub fn read_safetensors_into(path: &Path, map: &mut WeightMap) -> Result<()> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    // SAFETY: read-only map; the file must not be truncated while it is open.
    let bytes = unsafe { Mmap::map(&file) }.map_err(io(path))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| LoadError::Safetensors {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for (name, view) in st.iter() {
        let data = to_f32(&view).ok_or_else(|| LoadError::UnsupportedDtype {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        map.tensors.insert(
            name.to_string(),
            HostTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(())
}

/// One safetensors file as a [`WeightMap`] (see [`read_safetensors_into`]).
pub fn read_safetensors(path: impl AsRef<Path>) -> Result<WeightMap> {
    let mut map = WeightMap::default();
    read_safetensors_into(path.as_ref(), &mut map)?;
    Ok(map)
}

/// The weights of a Hugging Face model directory: the shards named by
/// `model.safetensors.index.json` when it exists, else `model.safetensors`.
///
/// Errors: [`LoadError::NotACheckpoint`] when neither file exists, [`LoadError::Json`] /
/// [`LoadError::Malformed`] for a bad index, [`LoadError::MissingTensor`] when a shard lacks a
/// tensor the index assigns to it.
pub fn read_hf_dir(dir: impl AsRef<Path>) -> Result<WeightMap> {
    let dir = dir.as_ref();
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        return read_sharded(&index);
    }
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return read_safetensors(&single);
    }
    Err(LoadError::NotACheckpoint {
        path: dir.to_path_buf(),
        reason: format!("neither {INDEX_FILE} nor {SINGLE_FILE} is present"),
    }
    .into())
}

/// A sharded checkpoint from its `model.safetensors.index.json` (`{"weight_map": {name: shard}}`).
pub fn read_sharded(index: &Path) -> Result<WeightMap> {
    let text = std::fs::read_to_string(index).map_err(io(index))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| LoadError::Json {
            path: index.to_path_buf(),
            source,
        })?;
    let malformed = |reason: String| LoadError::Malformed {
        path: index.to_path_buf(),
        reason,
    };
    let weight_map = json
        .get("weight_map")
        .and_then(|v| v.as_object())
        .ok_or_else(|| malformed("no `weight_map` object".into()))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards = BTreeSet::new();
    for (name, shard) in weight_map {
        let shard = shard
            .as_str()
            .ok_or_else(|| malformed(format!("shard of `{name}` is not a string")))?;
        if Path::new(shard).components().count() != 1 {
            return Err(malformed(format!("shard `{shard}` is not a file name")).into());
        }
        shards.insert(shard.to_string());
    }
    let mut map = WeightMap::default();
    for shard in &shards {
        read_safetensors_into(&dir.join(shard), &mut map)?;
    }
    for (name, shard) in weight_map {
        if !map.tensors.contains_key(name) {
            return Err(LoadError::MissingTensor {
                path: dir.join(shard.as_str().unwrap_or_default()),
                tensor: name.clone(),
            }
            .into());
        }
    }
    Ok(map)
}

/// The values of a F32 / F16 / BF16 tensor view as f32; `None` for other dtypes.
fn to_f32(view: &TensorView<'_>) -> Option<Vec<f32>> {
    let b = view.data();
    Some(match view.dtype() {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

/// A [`HostTensor`] seen as an F32 safetensors view (bytes made one tensor at a time).
struct F32View<'a>(&'a HostTensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.data.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Writes a [`WeightMap`] as one F32 safetensors file (Hugging Face names as they are).
///
/// Errors: [`LoadError::Safetensors`] when a tensor's data does not match its shape or the file
/// cannot be written.
pub fn write_safetensors(weights: &WeightMap, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    for (name, t) in &weights.tensors {
        if t.data.len() != t.shape.iter().product::<usize>() {
            return Err(LoadError::Safetensors {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor `{name}` has {} values for shape {:?}",
                    t.data.len(),
                    t.shape
                ),
            }
            .into());
        }
    }
    let views = weights
        .tensors
        .iter()
        .map(|(n, t)| (n.as_str(), F32View(t)));
    let mut meta = std::collections::HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    safetensors::tensor::serialize_to_file(views, Some(meta), path).map_err(|e| {
        LoadError::Safetensors {
            path: PathBuf::from(path),
            reason: e.to_string(),
        }
    })?;
    Ok(())
}
