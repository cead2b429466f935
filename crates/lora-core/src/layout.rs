//! [`AdapterLayout`]: which modules of which layers an adapter covers, and their shapes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The input and output width of one target module (`q_proj: 576 → 576`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleShape {
    /// Module name as PEFT writes it (`q_proj`, `gate_proj`, ...).
    pub name: String,
    /// Input features of the projection.
    pub d_in: usize,
    /// Output features of the projection.
    pub d_out: usize,
}

/// The shape of a base model as far as an adapter is concerned: the number of decoder layers and,
/// per target module, its input/output width. Module order is significant (it is the target order).
///
/// ```
/// use lora_core::AdapterLayout;
/// let cfg = serde_json::json!({"model_type": "llama", "num_hidden_layers": 30, "hidden_size": 576,
///     "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3});
/// let layout = AdapterLayout::from_hf_config(&cfg, &["q_proj".into(), "v_proj".into()]).unwrap();
/// assert_eq!(layout.n_layers, 30);
/// assert_eq!((layout.modules[1].d_in, layout.modules[1].d_out), (576, 192));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterLayout {
    /// Number of decoder layers, each of which gets every module.
    pub n_layers: usize,
    /// The target modules in order.
    pub modules: Vec<ModuleShape>,
}

/// The seven projections of a Llama-family decoder block that LoRA can target.
pub const KNOWN_MODULES: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Where a module lives inside a decoder block: `q_proj` → `self_attn.q_proj`, `up_proj` → `mlp.up_proj`.
pub fn module_path(name: &str) -> Option<&'static str> {
    Some(match name {
        "q_proj" => "self_attn.q_proj",
        "k_proj" => "self_attn.k_proj",
        "v_proj" => "self_attn.v_proj",
        "o_proj" => "self_attn.o_proj",
        "gate_proj" => "mlp.gate_proj",
        "up_proj" => "mlp.up_proj",
        "down_proj" => "mlp.down_proj",
        _ => return None,
    })
}

impl AdapterLayout {
    /// A layout from explicit shapes.
    pub fn new(n_layers: usize, modules: Vec<ModuleShape>) -> Self {
        Self { n_layers, modules }
    }

    /// The shape of a module, if the layout has it.
    pub fn module(&self, name: &str) -> Option<&ModuleShape> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Module names in order.
    pub fn module_names(&self) -> Vec<String> {
        self.modules.iter().map(|m| m.name.clone()).collect()
    }

    /// Reads a Hugging Face `config.json` and lays out the given targets.
    pub fn from_hf_config_file(path: &Path, targets: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.into(),
            source: e,
        })?;
        Self::from_hf_config_named(&json, targets, &path.display().to_string())
    }

    /// Lays out the given targets from a parsed Hugging Face `config.json` (Llama, Mistral, Qwen2,
    /// Gemma-2 field names; grouped-query attention and an explicit `head_dim` are honoured).
    pub fn from_hf_config(json: &serde_json::Value, targets: &[String]) -> Result<Self> {
        Self::from_hf_config_named(json, targets, "config.json")
    }

    fn from_hf_config_named(
        json: &serde_json::Value,
        targets: &[String],
        file: &str,
    ) -> Result<Self> {
        // Multimodal wrappers keep the language model under `text_config`.
        let json = json
            .get("text_config")
            .filter(|v| v.is_object())
            .unwrap_or(json);
        let field = |name: &str| -> Result<usize> {
            match json.get(name) {
                Some(v) => v
                    .as_u64()
                    .map(|x| x as usize)
                    .ok_or_else(|| Error::ConfigField {
                        file: file.into(),
                        field: name.into(),
                        reason: format!("expected a non-negative integer, found {v}"),
                    }),
                None => Err(Error::ConfigField {
                    file: file.into(),
                    field: name.into(),
                    reason: "missing".into(),
                }),
            }
        };
        let optional = |name: &str| -> Result<Option<usize>> {
            match json.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(_) => field(name).map(Some),
            }
        };
        let n_layers = field("num_hidden_layers")?;
        let hidden = field("hidden_size")?;
        let heads = field("num_attention_heads")?;
        let kv_heads = optional("num_key_value_heads")?.unwrap_or(heads);
        if heads == 0 {
            return Err(Error::ConfigField {
                file: file.into(),
                field: "num_attention_heads".into(),
                reason: "must be at least 1".into(),
            });
        }
        let head_dim = optional("head_dim")?.unwrap_or(hidden / heads);
        let needs_mlp = targets.iter().any(|t| {
            t.ends_with("gate_proj") || t.ends_with("up_proj") || t.ends_with("down_proj")
        });
        let intermediate = if needs_mlp {
            field("intermediate_size")?
        } else {
            0
        };
        let q_width = heads * head_dim;
        let kv_width = kv_heads * head_dim;
        let modules = targets
            .iter()
            .map(|t| {
                let (d_in, d_out) = match t.as_str() {
                    "q_proj" => (hidden, q_width),
                    "k_proj" | "v_proj" => (hidden, kv_width),
                    "o_proj" => (q_width, hidden),
                    "gate_proj" | "up_proj" => (hidden, intermediate),
                    "down_proj" => (intermediate, hidden),
                    other => return Err(Error::UnknownModule(other.to_string())),
                };
                Ok(ModuleShape {
                    name: t.clone(),
                    d_in,
                    d_out,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { n_layers, modules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mistral_7b_shapes() {
        let cfg = json!({"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
            "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8});
        let l = AdapterLayout::from_hf_config(
            &cfg,
            &t(&["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]),
        )
        .unwrap();
        assert_eq!(l.n_layers, 32);
        let s: Vec<_> = l.modules.iter().map(|m| (m.d_in, m.d_out)).collect();
        assert_eq!(
            s,
            vec![
                (4096, 4096),
                (4096, 1024),
                (4096, 4096),
                (4096, 14336),
                (14336, 4096)
            ]
        );
    }

    #[test]
    fn gemma2_explicit_head_dim() {
        let cfg = json!({"model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216, "head_dim": 256,
            "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4});
        let l = AdapterLayout::from_hf_config(&cfg, &t(&["q_proj", "k_proj", "o_proj"])).unwrap();
        let s: Vec<_> = l.modules.iter().map(|m| (m.d_in, m.d_out)).collect();
        assert_eq!(s, vec![(2304, 2048), (2304, 1024), (2048, 2304)]);
    }

    #[test]
    fn missing_field_and_unknown_module() {
        let e =
            AdapterLayout::from_hf_config(&json!({"hidden_size": 8}), &t(&["q_proj"])).unwrap_err();
        assert!(e.to_string().contains("num_hidden_layers"), "{e}");
        let cfg = json!({"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1});
        let e = AdapterLayout::from_hf_config(&cfg, &t(&["qkv"])).unwrap_err();
        assert!(e.to_string().contains("qkv"), "{e}");
        let e = AdapterLayout::from_hf_config(&cfg, &t(&["up_proj"])).unwrap_err();
        assert!(e.to_string().contains("intermediate_size"), "{e}");
    }
}
