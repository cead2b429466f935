//! [`load_checkpoint`]: a config and Hugging Face weights from a GGUF file or a Hugging Face model
//! directory, whichever the path is.

use std::path::{Path, PathBuf};

use super::LoadError;
use super::gguf::GgufFile;
use super::safetensors::read_hf_dir;
use crate::config::LlamaConfig;
use crate::error::Result;
use crate::weights::WeightMap;

/// Which kind of file a checkpoint came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSource {
    /// A GGUF file.
    Gguf(PathBuf),
    /// A Hugging Face directory (`config.json` + safetensors).
    HfDir(PathBuf),
}

/// A model's config and its f32 weights in Hugging Face naming and layout.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The hyper-parameters.
    pub config: LlamaConfig,
    /// The weights (q/k in rotate-half order whatever the source).
    pub weights: WeightMap,
    /// Where they came from.
    pub source: CheckpointSource,
}

/// Loads a checkpoint from
/// - a `.gguf` file (or any file starting with the GGUF magic): config from its metadata;
/// - a directory with `config.json` and `model.safetensors` or `model.safetensors.index.json`;
/// - a directory holding exactly one `.gguf` file and no `config.json`;
/// - `config.json`, `model.safetensors` or `model.safetensors.index.json` inside a Hugging Face
///   directory (stands for the directory).
///
/// Errors: [`LoadError::NotACheckpoint`] for anything else, plus the errors of the readers.
pub fn load_checkpoint(path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    if path.is_dir() {
        let config = path.join("config.json");
        if config.is_file() {
            return Ok(Checkpoint {
                config: LlamaConfig::from_hf_config_file(&config)?,
                weights: read_hf_dir(path)?,
                source: CheckpointSource::HfDir(path.to_path_buf()),
            });
        }
        let ggufs: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
            .collect();
        return match ggufs.as_slice() {
            [one] => load_gguf(one),
            [] => Err(LoadError::NotACheckpoint {
                path: path.to_path_buf(),
                reason: "no config.json and no .gguf file".into(),
            }
            .into()),
            _ => Err(LoadError::NotACheckpoint {
                path: path.to_path_buf(),
                reason: format!("{} .gguf files; name one", ggufs.len()),
            }
            .into()),
        };
    }
    if !path.exists() {
        return Err(LoadError::NotACheckpoint {
            path: path.to_path_buf(),
            reason: "no such file or directory".into(),
        }
        .into());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let hf_file = name == "config.json" || name.ends_with(".safetensors.index.json");
    if hf_file || name.ends_with(".safetensors") {
        // A file of a Hugging Face directory stands for the directory.
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if dir.join("config.json").is_file() {
            return load_checkpoint(dir);
        }
        return Err(LoadError::NotACheckpoint {
            path: path.to_path_buf(),
            reason: "a Hugging Face file without config.json next to it".into(),
        }
        .into());
    }
    load_gguf(path)
}

/// Loads a GGUF file: [`LlamaConfig::from_gguf`] and [`GgufFile::weight_map`].
pub fn load_gguf(path: impl AsRef<Path>) -> Result<Checkpoint> {
    Checkpoint::from_gguf(&GgufFile::open(path.as_ref())?)
}

impl Checkpoint {
    /// The checkpoint of an already open GGUF file (so one parse can also serve the tokenizer).
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let config = LlamaConfig::from_gguf(file)?;
        let weights = file.weight_map(&config)?;
        Ok(Self {
            config,
            weights,
            source: CheckpointSource::Gguf(file.path().to_path_buf()),
        })
    }
}
