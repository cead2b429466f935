//! Our checkpoint directory: `hypermod.safetensors` (every tensor, reference state-dict names,
//! f32), `hypermod_config.json` ([`HyperConfig`]: architecture, layout, LoRA config, module order,
//! embedder id) and `adapter_config.json` (the LoRA config of the adapters it generates, as PEFT
//! writes it). Each file is written atomically (temporary file + rename).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use lora_core::SaveDtype;
use lora_core::tensor_file::{self, EncodedTensor};

use crate::config::HyperConfig;
use crate::error::{Error, Result};
use crate::init::NamedTensors;
use crate::model::HyperModulator;

/// File name of the weights.
pub const WEIGHTS_FILE: &str = "hypermod.safetensors";
/// File name of the hypernetwork configuration.
pub const CONFIG_FILE: &str = "hypermod_config.json";
/// File name of the generated adapters' PEFT LoRA configuration.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";

/// Whether `dir` looks like one of our checkpoints (it has a `hypermod_config.json`).
pub fn is_checkpoint_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file()
}

/// Reads the configuration of a checkpoint without its weights.
pub fn read_config(dir: &Path) -> Result<HyperConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let config: HyperConfig =
        serde_json::from_str(&text).map_err(|e| Error::Json { path, source: e })?;
    config.validate()?;
    Ok(config)
}

/// The configuration of either kind of checkpoint directory (ours: `hypermod_config.json` only;
/// a reference directory: mapped from `args.yaml`, `adapter_config.json` and the state dict).
pub fn read_any_config(dir: &Path) -> Result<HyperConfig> {
    if is_checkpoint_dir(dir) {
        read_config(dir)
    } else if crate::reference::is_reference_dir(dir) {
        let options = crate::reference::ImportOptions::default();
        Ok(crate::reference::ReferenceCheckpoint::read(dir, &options)?.config)
    } else {
        Err(Error::NotACheckpoint { path: dir.into() })
    }
}

/// Reads a safetensors file into named host tensors (any float dtype, converted to f32).
pub fn read_tensors(path: &Path) -> Result<NamedTensors> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = tensor_file::parse(&bytes, path)?;
    let mut out = NamedTensors::new();
    for (name, view) in st.tensors() {
        let values = tensor_file::view_to_f32(&view, path, &name)?;
        out.insert(name, TensorData::new(values, view.shape().to_vec()));
    }
    Ok(out)
}

/// Writes named host tensors as an f32 safetensors file, atomically.
pub fn write_tensors(path: &Path, tensors: &NamedTensors) -> Result<()> {
    let encoded = tensors
        .iter()
        .map(|(name, data)| {
            let values = data
                .clone()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| Error::config("tensors", format!("`{name}`: {e:?}")))?;
            Ok((
                name.clone(),
                EncodedTensor::from_f32(&values, data.shape.to_vec(), SaveDtype::F32),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = [("format".to_string(), "pt".to_string())]
        .into_iter()
        .collect();
    Ok(tensor_file::write(path, &encoded, Some(metadata))?)
}

fn write_json(path: &Path, text: &str) -> Result<()> {
    Ok(lora_core::fsutil::write_atomic(path, text.as_bytes())?)
}

impl<B: Backend> HyperModulator<B> {
    /// Saves the hypernetwork as a checkpoint directory (created if needed). The weights are
    /// written before the configuration, so a directory with a config always has its weights.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        write_tensors(&dir.join(WEIGHTS_FILE), &self.to_tensors())?;
        self.config()
            .lora
            .to_json_file(&dir.join(ADAPTER_CONFIG_FILE))?;
        let json = serde_json::to_string_pretty(self.config()).map_err(|e| Error::Json {
            path: dir.join(CONFIG_FILE),
            source: e,
        })?;
        write_json(&dir.join(CONFIG_FILE), &json)
    }

    /// Opens either kind of checkpoint directory: ours ([`Self::load`]) or the PyTorch
    /// reference's (`hypermod.pt` + `args.yaml`, [`Self::import_reference`] with default options,
    /// so a `module_order.json` in the directory fixes the module order).
    pub fn open(dir: &Path, device: &B::Device) -> Result<Self> {
        if is_checkpoint_dir(dir) {
            Self::load(dir, device)
        } else if crate::reference::is_reference_dir(dir) {
            Self::import_reference(dir, &crate::reference::ImportOptions::default(), device)
        } else {
            Err(Error::NotACheckpoint { path: dir.into() })
        }
    }

    /// Loads a checkpoint directory written by [`Self::save`]. Names and shapes are checked
    /// against the configuration and every mismatch is named in one [`Error::Tensors`]; an
    /// `adapter_config.json` whose rank or targets disagree with the configuration is refused.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let config = read_config(dir)?;
        let adapter_config = dir.join(ADAPTER_CONFIG_FILE);
        if adapter_config.is_file() {
            let lora = lora_core::LoraConfig::from_json_file(&adapter_config)?;
            check_same_lora(&config, &lora, &adapter_config)?;
        }
        let weights: PathBuf = dir.join(WEIGHTS_FILE);
        let tensors = read_tensors(&weights)?;
        Self::from_tensors(config, tensors, device, &weights.display().to_string())
    }
}

/// Refuses an `adapter_config.json` that contradicts the hypernetwork configuration.
fn check_same_lora(config: &HyperConfig, lora: &lora_core::LoraConfig, path: &Path) -> Result<()> {
    let mut ours = config.lora.target_modules.clone();
    let mut theirs = lora.target_modules.clone();
    ours.sort();
    theirs.sort();
    let field = |name: &str, a: String, b: String| {
        Err(Error::config(
            &format!("lora.{name}"),
            format!("{CONFIG_FILE} says {a}, {} says {b}", path.display()),
        ))
    };
    if lora.r != config.lora.r {
        return field("r", config.lora.r.to_string(), lora.r.to_string());
    }
    if lora.lora_alpha != config.lora.lora_alpha {
        return field(
            "lora_alpha",
            config.lora.lora_alpha.to_string(),
            lora.lora_alpha.to_string(),
        );
    }
    if lora.use_rslora != config.lora.use_rslora {
        return field(
            "use_rslora",
            config.lora.use_rslora.to_string(),
            lora.use_rslora.to_string(),
        );
    }
    if ours != theirs {
        return field("target_modules", format!("{ours:?}"), format!("{theirs:?}"));
    }
    Ok(())
}
