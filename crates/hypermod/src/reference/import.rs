//! [`ReferenceCheckpoint`]: a reference checkpoint directory mapped onto a [`HyperConfig`] and
//! hypermod's named tensors, and [`HyperModulator::import_reference`].
//!
//! # Mapping
//!
//! hypermod's tensors carry the reference's state-dict names and layouts ([`crate::spec`]), so the
//! state dict maps one to one; what the import decides is the configuration:
//!
//! | `HyperConfig` field | from |
//! |---|---|
//! | `variant` | `args.yaml`: `shared_AB_head` (M/S), `autoreg_gen` (S) |
//! | `task_dim` `E` | `task_encoder.mlp.0.weight` `[D/2, E]` |
//! | `latent` `D`, `head_in` `H` | `hypernet_latent_size`, `head_in_size` (checked against the tensors) |
//! | `layout` | layers from `layer_depth_encoder.0.weight` `[L, D/4]`; module shapes from the always-saved `AB_offset.A.{m}` `[L, r, d_in]` and `AB_offset.B.{m}` `[L, d_out, r]`; module order of `adapter_config.json`'s `target_modules` |
//! | `lora` | `adapter_config.json` (rank checked against the stacks) |
//! | `module_order` | [`ImportOptions::module_order`], else `module_order.json`, else `adapter_config.json`'s `target_modules` order (the order of the process that trained; reference notes addendum) |
//! | `head_bias` | presence of `heads.{m}.bias` (what the reference's loader effectively uses) |
//! | `embedder` | `emb_model` (none when empty: the base model embedded) |
//!
//! Frozen stacks follow the reference's generation path (`gen_lora`, `convert_to_raw_scale`):
//!
//! * `training_task: sft`: `A += AB_offset.A`, `B += AB_offset.B`; the mean/std stacks are unused.
//! * `recon`, `factorized: true`: `x·(std+1e-10)+mean` when `pred_z_score`, then `+ AB_offset`.
//! * `recon`, `factorized: false`, `pred_z_score: false`: each factor `/ √delta_w_scaling`; no offset.
//! * `recon`, `factorized: false`, `pred_z_score: true`: refused (the reference raises
//!   `NotImplementedError` there, reference notes §2.8).
//!
//! An `AB_offset` that is all zeros is dropped (adding it changes nothing), as are stacks the path
//! does not use; [`ReferenceCheckpoint::dropped`] lists them.
//!
//! Not supported (refused with an error naming the field): `encoder_type` other than `linear`,
//! `use_one_hot_task_emb`, `learnable_pos_emb`, and `autoreg_gen` without `shared_AB_head` (not one
//! of the paper's variants).

use std::path::Path;

use burn::prelude::Backend;
use lora_core::{AdapterLayout, LoraConfig, ModuleShape};

use super::args::ReferenceArgs;
use super::error::ReferenceError;
use super::torch_file::{StateDict, read_state_dict};
use crate::config::{HyperConfig, InitMode, Variant};
use crate::init::NamedTensors;
use crate::model::HyperModulator;
use crate::spec::Stack;

/// The state dict inside a reference checkpoint directory.
pub const CHECKPOINT_FILE: &str = "hypermod.pt";
/// The training arguments inside a reference checkpoint directory.
pub const ARGS_FILE: &str = "args.yaml";
/// The PEFT LoRA config inside a reference checkpoint directory.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// Optional: the module-type embedding order, a JSON list of module names.
pub const MODULE_ORDER_FILE: &str = "module_order.json";

/// Whether `dir` looks like a reference checkpoint directory (it holds a `hypermod.pt`).
pub fn is_reference_dir(dir: &Path) -> bool {
    dir.join(CHECKPOINT_FILE).is_file()
}

/// Choices the reference files do not fix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Which module gets which row of the module-type embedding (`order[i]` gets row `i`).
    /// Overrides `module_order.json` and `adapter_config.json`'s order. The reference derives this
    /// order from a hash-seeded Python set, so released checkpoints do not record it reliably.
    pub module_order: Option<Vec<String>>,
}

impl ImportOptions {
    /// Options with an explicit module order.
    pub fn with_module_order(order: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            module_order: Some(order.into_iter().map(Into::into).collect()),
        }
    }
}

/// Where the module order of an import came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleOrderSource {
    /// [`ImportOptions::module_order`].
    Explicit,
    /// The directory's `module_order.json`.
    ModuleOrderFile,
    /// The order of `target_modules` in `adapter_config.json` (the default).
    AdapterConfig,
}

/// A reference checkpoint mapped onto hypermod: the configuration and the named tensors that
/// [`HyperModulator::from_tensors`] takes.
#[derive(Debug, Clone)]
pub struct ReferenceCheckpoint {
    /// The architecture and generation path.
    pub config: HyperConfig,
    /// The tensors, in the reference's (= hypermod's) naming; unused stacks removed.
    pub tensors: NamedTensors,
    /// The parsed `args.yaml`.
    pub args: ReferenceArgs,
    /// Where [`HyperConfig::module_order`] came from.
    pub module_order_source: ModuleOrderSource,
    /// State-dict keys left out because generation does not use them (zero offsets, mean/std of an
    /// SFT model, ...).
    pub dropped: Vec<String>,
}

impl ReferenceCheckpoint {
    /// Reads a reference checkpoint directory (`hypermod.pt`, `args.yaml`, `adapter_config.json`,
    /// optional `module_order.json`) and maps it (see the module docs).
    pub fn read(dir: &Path, options: &ImportOptions) -> Result<Self, ReferenceError> {
        let ckpt = dir.join(CHECKPOINT_FILE);
        let args = ReferenceArgs::from_yaml_file(&dir.join(ARGS_FILE))?;
        let lora_path = dir.join(ADAPTER_CONFIG_FILE);
        let lora = LoraConfig::from_json_file(&lora_path)?;
        let (order, source) = match &options.module_order {
            Some(order) => (order.clone(), ModuleOrderSource::Explicit),
            None => match read_module_order(&dir.join(MODULE_ORDER_FILE))? {
                Some(order) => (order, ModuleOrderSource::ModuleOrderFile),
                None => (
                    lora.target_modules.clone(),
                    ModuleOrderSource::AdapterConfig,
                ),
            },
        };
        let state_dict = read_state_dict(&ckpt)?;
        let mut out = Self::from_parts(state_dict, args, lora, order, &ckpt.display().to_string())?;
        out.module_order_source = source;
        Ok(out)
    }

    /// Maps an already-read state dict, `args.yaml` and LoRA config with the given module order;
    /// `file` names the checkpoint in errors.
    pub fn from_parts(
        mut state_dict: StateDict,
        args: ReferenceArgs,
        lora: LoraConfig,
        module_order: Vec<String>,
        file: &str,
    ) -> Result<Self, ReferenceError> {
        let variant = variant_of(&args)?;
        let shape = |sd: &StateDict, key: &str| shape_of(sd, key, file);
        let bad_shape = |key: &str, expected: String, found: Vec<usize>| ReferenceError::Shape {
            file: file.to_string(),
            key: key.to_string(),
            expected,
            found,
        };

        let d = args.hypernet_latent_size;
        if d == 0 || !d.is_multiple_of(4) {
            return Err(ReferenceError::field(
                "args.yaml",
                "hypernet_latent_size",
                format!("{d} is not a positive multiple of 4"),
            ));
        }
        let key = "task_encoder.mlp.0.weight";
        let task_dim = match shape(&state_dict, key)?.as_slice() {
            &[rows, e] if rows == d / 2 && e > 0 => e,
            other => return Err(bad_shape(key, format!("[{}, E]", d / 2), other.to_vec())),
        };
        let key = "layer_depth_encoder.0.weight";
        let n_layers = match shape(&state_dict, key)?.as_slice() {
            &[l, w] if w == d / 4 && l > 0 => l,
            other => {
                return Err(bad_shape(
                    key,
                    format!("[layers, {}]", d / 4),
                    other.to_vec(),
                ));
            }
        };

        let targets = lora.target_modules.clone();
        if targets.is_empty() {
            return Err(ReferenceError::field(
                "adapter_config.json",
                "target_modules",
                "empty",
            ));
        }
        if let Some(listed) = &args.target_modules {
            let mut a = listed.clone();
            let mut b = targets.clone();
            a.sort();
            b.sort();
            if a != b {
                return Err(ReferenceError::field(
                    "args.yaml",
                    "target_modules",
                    format!("{listed:?} differ from adapter_config.json's {targets:?}"),
                ));
            }
        }
        let r = lora.r;
        let mut modules = Vec::with_capacity(targets.len());
        for m in &targets {
            let key_a = Stack::Offset.name('A', m);
            let key_b = Stack::Offset.name('B', m);
            let d_in = match shape(&state_dict, &key_a)?.as_slice() {
                &[l, rr, d_in] if l == n_layers && rr == r && d_in > 0 => d_in,
                other => {
                    return Err(bad_shape(
                        &key_a,
                        format!("[{n_layers}, {r}, d_in]"),
                        other.to_vec(),
                    ));
                }
            };
            let d_out = match shape(&state_dict, &key_b)?.as_slice() {
                &[l, d_out, rr] if l == n_layers && rr == r && d_out > 0 => d_out,
                other => {
                    return Err(bad_shape(
                        &key_b,
                        format!("[{n_layers}, d_out, {r}]"),
                        other.to_vec(),
                    ));
                }
            };
            modules.push(ModuleShape {
                name: m.clone(),
                d_in,
                d_out,
            });
        }
        let mut sorted_order = module_order.clone();
        let mut sorted_targets = targets.clone();
        sorted_order.sort();
        sorted_targets.sort();
        if sorted_order != sorted_targets {
            return Err(ReferenceError::field(
                MODULE_ORDER_FILE,
                "module_order",
                format!("{module_order:?} is not an ordering of the target modules {targets:?}"),
            ));
        }

        // Head bias: decided by the tensors present (the reference loads non-strictly).
        let with_bias: Vec<bool> = targets
            .iter()
            .map(|m| state_dict.contains_key(&format!("heads.{m}.bias")))
            .collect();
        let head_bias = with_bias.iter().any(|&b| b);
        if let Some(i) = with_bias.iter().position(|&b| b != head_bias) {
            return Err(ReferenceError::MissingKey {
                file: file.to_string(),
                key: format!("heads.{}.bias", targets[i]),
            });
        }

        // Generation path → frozen stacks.
        let recon = match args.training_task.as_str() {
            "sft" => false,
            "recon" => true,
            other => {
                return Err(ReferenceError::field(
                    "args.yaml",
                    "training_task",
                    format!("`{other}` is neither `sft` nor `recon`"),
                ));
            }
        };
        if recon && args.pred_z_score && !args.factorized {
            return Err(ReferenceError::field(
                "args.yaml",
                "pred_z_score",
                "z-score targets with factorized: false cannot generate adapters (the reference \
                 raises NotImplementedError in convert_to_raw_scale)",
            ));
        }
        let use_z_score = recon && args.factorized && args.pred_z_score;
        let delta_w_scaling = (recon && !args.factorized).then_some(args.delta_w_scaling);
        if let Some(s) = delta_w_scaling
            && !(s.is_finite() && s > 0.0)
        {
            return Err(ReferenceError::field(
                "args.yaml",
                "delta_w_scaling",
                format!("{s} is not a positive number"),
            ));
        }
        let offset_used = !recon || args.factorized;
        let offset_nonzero = targets.iter().any(|m| {
            ['A', 'B'].iter().any(|&f| {
                state_dict.get(&Stack::Offset.name(f, m)).is_some_and(|t| {
                    t.as_slice::<f32>()
                        .is_ok_and(|v| v.iter().any(|&x| x != 0.0))
                })
            })
        });
        let use_offset = offset_used && offset_nonzero;
        let mut dropped = Vec::new();
        for (stack, keep) in [
            (Stack::Offset, use_offset),
            (Stack::Mean, use_z_score),
            (Stack::Std, use_z_score),
        ] {
            for m in &targets {
                for f in ['A', 'B'] {
                    let key = stack.name(f, m);
                    if keep {
                        shape(&state_dict, &key)?;
                    } else if state_dict.remove(&key).is_some() {
                        dropped.push(key);
                    }
                }
            }
        }

        let init = match (recon, head_bias, &args.mt_lora_path) {
            (false, true, None) => InitMode::BiasHyperInit,
            (false, _, _) => InitMode::ZeroHead,
            (true, _, _) => InitMode::Default,
        };
        let layout = AdapterLayout::new(n_layers, modules);
        let mut config = HyperConfig::new(variant, task_dim, layout, lora)
            .with_latent(d)
            .with_head_in(args.head_in_size)
            .with_module_order(module_order)
            .with_init(init)
            .with_head_bias(head_bias)
            .with_z_score(use_z_score)
            .with_ab_offset(use_offset)
            .with_delta_w_scaling(delta_w_scaling);
        if let Some(e) = args.embedder() {
            config = config.with_embedder(e);
        }
        config
            .validate()
            .map_err(|e| ReferenceError::field(file, "config", e.to_string()))?;
        Ok(Self {
            config,
            tensors: state_dict,
            args,
            module_order_source: ModuleOrderSource::Explicit,
            dropped,
        })
    }

    /// Builds the hypernetwork on `device`; every missing, unexpected or mis-shaped tensor is named.
    pub fn into_modulator<B: Backend>(
        self,
        device: &B::Device,
        origin: &str,
    ) -> crate::Result<HyperModulator<B>> {
        HyperModulator::from_tensors(self.config, self.tensors, device, origin)
    }
}

/// The shape of `key`, or an error naming it.
fn shape_of(sd: &StateDict, key: &str, file: &str) -> Result<Vec<usize>, ReferenceError> {
    sd.get(key)
        .map(|t| t.shape.to_vec())
        .ok_or_else(|| ReferenceError::MissingKey {
            file: file.to_string(),
            key: key.to_string(),
        })
}

/// The variant the flags of `args.yaml` select (refusing the unsupported architectures).
fn variant_of(args: &ReferenceArgs) -> Result<Variant, ReferenceError> {
    let unsupported =
        |field: &str, reason: &str| Err(ReferenceError::field("args.yaml", field, reason));
    if args.encoder_type != "linear" {
        return unsupported(
            "encoder_type",
            "only the `linear` task encoder (the released one) is supported",
        );
    }
    if args.use_one_hot_task_emb {
        return unsupported("use_one_hot_task_emb", "one-hot task ids are not supported");
    }
    if args.learnable_pos_emb {
        return unsupported(
            "learnable_pos_emb",
            "learned rank positions are not supported (the S variant uses RoPE)",
        );
    }
    Ok(match (args.shared_ab_head, args.autoreg_gen) {
        (false, false) => Variant::L,
        (true, false) => Variant::M,
        (true, true) => Variant::S,
        (false, true) => {
            return unsupported(
                "autoreg_gen",
                "autoreg_gen without shared_AB_head is not one of the L/M/S variants",
            );
        }
    })
}

/// Reads `module_order.json` if it exists.
fn read_module_order(path: &Path) -> Result<Option<Vec<String>>, ReferenceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReferenceError::io(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ReferenceError::Json {
            file: path.display().to_string(),
            source,
        })
}

impl<B: Backend> HyperModulator<B> {
    /// Imports a reference checkpoint directory (`hypermod.pt`, `args.yaml`,
    /// `adapter_config.json`, optional `module_order.json`) onto `device`. The PyTorch file is read
    /// without executing any pickle code; see [`crate::reference::import`] for the mapping.
    pub fn import_reference(
        dir: &Path,
        options: &ImportOptions,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let ckpt = ReferenceCheckpoint::read(dir, options)?;
        let origin = dir.join(CHECKPOINT_FILE).display().to_string();
        ckpt.into_modulator(device, &origin)
    }
}
