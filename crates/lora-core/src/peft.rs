//! PEFT adapter directories: `adapter_model.safetensors` + `adapter_config.json`.
//!
//! Keys follow PEFT's saved form,
//! `base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight` and
//! `base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight`, with `lora_A`
//! `[r, d_in]` and `lora_B` `[d_out, r]`. On load, the in-memory form with an adapter-name infix
//! (`lora_A.default.weight`) is accepted too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::adapter::{LoraAdapter, LoraWeights};
use crate::config::LoraConfig;
use crate::error::{Error, Result};
use crate::layout::{AdapterLayout, KNOWN_MODULES, ModuleShape, module_path};
use crate::tensor_file::{self, EncodedTensor, SaveDtype};

/// File name of the weights inside a PEFT adapter directory.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// File name of the config inside a PEFT adapter directory.
pub const CONFIG_FILE: &str = "adapter_config.json";

/// The PEFT key of one factor: `base_model.model.model.layers.{layer}.{path}.lora_{A|B}.weight`.
pub fn peft_key(layer: usize, module: &str, factor: char) -> Result<String> {
    let path = module_path(module).ok_or_else(|| Error::UnknownModule(module.to_string()))?;
    Ok(format!(
        "base_model.model.model.layers.{layer}.{path}.lora_{factor}.weight"
    ))
}

fn to_f32_vec<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("converted to f32")
}

/// Writes `adapter` as a PEFT adapter directory (created if needed). Each file is written
/// atomically, so a failure leaves no half-written file behind.
pub fn save_peft<B: Backend>(adapter: &LoraAdapter<B>, dir: &Path, dtype: SaveDtype) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let r = adapter.config().r;
    let n_layers = adapter.layout().n_layers;
    let mut tensors = Vec::with_capacity(adapter.layout().modules.len() * n_layers * 2);
    for shape in &adapter.layout().modules {
        let w = adapter
            .module(&shape.name)
            .expect("adapter holds its layout's modules");
        let a = to_f32_vec(&w.a);
        let b = to_f32_vec(&w.b);
        let (na, nb) = (r * shape.d_in, shape.d_out * r);
        for layer in 0..n_layers {
            tensors.push((
                peft_key(layer, &shape.name, 'A')?,
                EncodedTensor::from_f32(
                    &a[layer * na..(layer + 1) * na],
                    vec![r, shape.d_in],
                    dtype,
                ),
            ));
            tensors.push((
                peft_key(layer, &shape.name, 'B')?,
                EncodedTensor::from_f32(
                    &b[layer * nb..(layer + 1) * nb],
                    vec![shape.d_out, r],
                    dtype,
                ),
            ));
        }
    }
    let metadata = [("format".to_string(), "pt".to_string())]
        .into_iter()
        .collect();
    tensor_file::write(&dir.join(WEIGHTS_FILE), &tensors, Some(metadata))?;
    adapter.config().to_json_file(&dir.join(CONFIG_FILE))
}

/// One parsed PEFT key: layer index, module name, factor (`'A'`/`'B'`).
fn parse_key(key: &str) -> Option<(usize, String, char)> {
    let rest = &key[key.find("layers.")? + "layers.".len()..];
    let (layer, rest) = rest.split_once('.')?;
    let layer = layer.parse().ok()?;
    let (path, rest) = rest.split_once(".lora_")?;
    let module = path.rsplit('.').next()?.to_string();
    let factor = rest.chars().next()?;
    let tail = &rest[1..];
    // ".weight" or ".<adapter_name>.weight"
    if !(factor == 'A' || factor == 'B') || !tail.starts_with('.') || !tail.ends_with(".weight") {
        return None;
    }
    Some((layer, module, factor))
}

/// Reads a PEFT adapter directory onto `device`.
///
/// The layout is inferred from the tensors (layers `0..=max`, each module's `d_in`/`d_out`), and
/// module order follows `target_modules` when listed. A missing factor, a wrong shape, a rank
/// other than the config's, a truncated or non-safetensors file: each is a typed error naming the
/// file and tensor.
pub fn load_peft<B: Backend>(dir: &Path, device: &B::Device) -> Result<LoraAdapter<B>> {
    let config_path = dir.join(CONFIG_FILE);
    let config = LoraConfig::from_json_file(&config_path)?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
    let st = tensor_file::parse(&bytes, &weights_path)?;

    // (module, factor) -> layer -> (shape, values)
    type Found = BTreeMap<(String, char), BTreeMap<usize, (Vec<usize>, Vec<f32>)>>;
    let mut found: Found = BTreeMap::new();
    for (name, view) in st.tensors() {
        let Some((layer, module, factor)) = parse_key(&name) else {
            return Err(Error::UnexpectedTensor {
                path: weights_path.clone(),
                tensor: name,
                reason: "not a `layers.{i}.<module>.lora_{A|B}[.<adapter>].weight` key".into(),
            });
        };
        if module_path(&module).is_none() {
            return Err(Error::UnexpectedTensor {
                path: weights_path.clone(),
                tensor: name,
                reason: format!("unknown module `{module}`"),
            });
        }
        let values = tensor_file::view_to_f32(&view, &weights_path, &name)?;
        let shape = view.shape().to_vec();
        if shape.len() != 2 {
            return Err(Error::Shape {
                tensor: name,
                expected: vec![0, 0],
                found: shape,
            });
        }
        found
            .entry((module, factor))
            .or_default()
            .insert(layer, (shape, values));
    }
    if found.is_empty() {
        return Err(Error::MissingTensor {
            path: weights_path,
            tensor: "any lora_A/lora_B weight".into(),
        });
    }

    let n_layers = found
        .values()
        .flat_map(|m| m.keys())
        .max()
        .map_or(0, |m| m + 1);
    let mut names: Vec<String> = found.keys().map(|(m, _)| m.clone()).collect();
    names.dedup();
    let rank_of = |name: &String| {
        config
            .target_modules
            .iter()
            .position(|t| t == name)
            .unwrap_or(usize::MAX / 2 + KNOWN_MODULES.iter().position(|k| k == name).unwrap_or(0))
    };
    names.sort_by_key(rank_of);

    let r = config.r;
    let mut shapes = Vec::new();
    let mut modules = Vec::new();
    for name in &names {
        let missing = |layer: usize, factor: char| -> Error {
            Error::MissingTensor {
                path: weights_path.clone(),
                tensor: peft_key(layer, name, factor).unwrap_or_default(),
            }
        };
        let layers_a = found
            .get(&(name.clone(), 'A'))
            .ok_or_else(|| missing(0, 'A'))?;
        let layers_b = found
            .get(&(name.clone(), 'B'))
            .ok_or_else(|| missing(0, 'B'))?;
        let (d_in, d_out) = {
            let (sa, _) = layers_a.values().next().expect("non-empty");
            let (sb, _) = layers_b.values().next().expect("non-empty");
            (sa[1], sb[0])
        };
        let mut a = Vec::with_capacity(n_layers * r * d_in);
        let mut b = Vec::with_capacity(n_layers * d_out * r);
        for layer in 0..n_layers {
            let (sa, va) = layers_a.get(&layer).ok_or_else(|| missing(layer, 'A'))?;
            let (sb, vb) = layers_b.get(&layer).ok_or_else(|| missing(layer, 'B'))?;
            crate::adapter::check_shape(&peft_key(layer, name, 'A')?, &[r, d_in], sa)?;
            crate::adapter::check_shape(&peft_key(layer, name, 'B')?, &[d_out, r], sb)?;
            a.extend_from_slice(va);
            b.extend_from_slice(vb);
        }
        shapes.push(ModuleShape {
            name: name.clone(),
            d_in,
            d_out,
        });
        modules.push((
            name.clone(),
            LoraWeights {
                a: Tensor::from_data(TensorData::new(a, [n_layers, r, d_in]), device),
                b: Tensor::from_data(TensorData::new(b, [n_layers, d_out, r]), device),
            },
        ));
    }
    LoraAdapter::new(config, AdapterLayout::new(n_layers, shapes), modules)
}

/// Whether `dir` looks like a PEFT adapter directory (has both files).
pub fn is_peft_dir(dir: &Path) -> bool {
    dir.join(WEIGHTS_FILE).is_file() && dir.join(CONFIG_FILE).is_file()
}

/// The weights file of a PEFT directory.
pub fn weights_path(dir: &Path) -> PathBuf {
    dir.join(WEIGHTS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_and_without_adapter_name() {
        assert_eq!(
            parse_key("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"),
            Some((3, "q_proj".into(), 'A'))
        );
        assert_eq!(
            parse_key("base_model.model.model.layers.12.mlp.down_proj.lora_B.default.weight"),
            Some((12, "down_proj".into(), 'B'))
        );
        assert_eq!(
            parse_key("base_model.model.model.layers.1.self_attn.q_proj.lora_embedding_A"),
            None
        );
        assert_eq!(parse_key("model.norm.weight"), None);
    }
}
