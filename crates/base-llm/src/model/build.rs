//! Building a [`Llama`] from a [`WeightMap`], or from seeded random weights.

use burn::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Llama;
use super::attention::Attention;
use super::block::DecoderLayer;
use super::linear::{FrozenLinear, frozen};
use super::mlp::Mlp;
use super::norm::RmsNorm;
use super::rope::RotaryTables;
use crate::config::LlamaConfig;
use crate::error::{Error, Result};
use crate::precision::BasePrecision;
use crate::weights::{HostTensor, WeightMap};

/// Removes `name` from the map, checks its shape and uploads it.
fn take<B: Backend, const D: usize>(
    weights: &mut WeightMap,
    name: &str,
    shape: [usize; D],
    device: &B::Device,
) -> Result<Tensor<B, D>> {
    let t = weights
        .tensors
        .remove(name)
        .ok_or_else(|| Error::MissingWeight(name.to_string()))?;
    if t.shape != shape {
        return Err(Error::WeightShape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: t.shape,
        });
    }
    if t.data.len() != shape.iter().product::<usize>() {
        return Err(Error::WeightShape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: vec![t.data.len()],
        });
    }
    Ok(Tensor::from_data(TensorData::new(t.data, shape), device))
}

/// The Hugging Face names and shapes of every weight a config implies (biases included when the
/// config has them; `lm_head.weight` only when untied).
pub fn expected_weights(config: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (d, f, hd) = (
        config.hidden_size,
        config.intermediate_size,
        config.head_dim,
    );
    let (q, kv) = (
        config.num_attention_heads * hd,
        config.num_key_value_heads * hd,
    );
    let mut out = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![config.vocab_size, d],
    )];
    for i in 0..config.num_hidden_layers {
        let p = format!("model.layers.{i}");
        out.push((format!("{p}.input_layernorm.weight"), vec![d]));
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![d]));
        out.push((format!("{p}.self_attn.q_proj.weight"), vec![q, d]));
        out.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, d]));
        out.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, d]));
        out.push((format!("{p}.self_attn.o_proj.weight"), vec![d, q]));
        if config.attention_bias {
            out.push((format!("{p}.self_attn.q_proj.bias"), vec![q]));
            out.push((format!("{p}.self_attn.k_proj.bias"), vec![kv]));
            out.push((format!("{p}.self_attn.v_proj.bias"), vec![kv]));
        }
        out.push((format!("{p}.mlp.gate_proj.weight"), vec![f, d]));
        out.push((format!("{p}.mlp.up_proj.weight"), vec![f, d]));
        out.push((format!("{p}.mlp.down_proj.weight"), vec![d, f]));
    }
    out.push(("model.norm.weight".to_string(), vec![d]));
    if !config.tie_word_embeddings {
        out.push(("lm_head.weight".to_string(), vec![config.vocab_size, d]));
    }
    out
}

/// Seeded random weights for a config (for tests and tiny experiments): linear weights
/// `U(-1/√in, 1/√in)`, embeddings `U(-1, 1)`, norm gains `1 + U(-0.1, 0.1)`, biases `U(-0.1, 0.1)`.
pub fn random_weights(config: &LlamaConfig, seed: u64) -> WeightMap {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut map = WeightMap::default();
    for (name, shape) in expected_weights(config) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = if name.ends_with("layernorm.weight") || name == "model.norm.weight" {
            (0..n).map(|_| 1.0 + rng.random_range(-0.1..0.1)).collect()
        } else if name.ends_with(".bias") {
            (0..n).map(|_| rng.random_range(-0.1..0.1)).collect()
        } else if shape.len() == 2 && !name.contains("embed_tokens") {
            let bound = 1.0 / (shape[1] as f32).sqrt();
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        } else {
            (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
        };
        map.tensors.insert(name, HostTensor { shape, data });
    }
    map
}

impl<B: Backend> Llama<B> {
    /// Builds the model from Hugging Face-named f32 weights (consumed, so host memory is released
    /// tensor by tensor). Every weight is a frozen parameter (no gradients, no optimizer state).
    ///
    /// Errors on an invalid config, a missing weight or a weight of the wrong shape. Extra tensors
    /// (for example `lm_head.weight` next to tied embeddings, or rotary buffers) are ignored.
    pub fn from_weights(
        config: LlamaConfig,
        weights: WeightMap,
        device: &B::Device,
    ) -> Result<Self> {
        Self::from_weights_with(config, weights, device, BasePrecision::F32)
    }

    /// Like [`Llama::from_weights`], with the frozen linear weights, the token embedding and the
    /// LM head stored (each cast as it is uploaded) and multiplied in `precision`; norms stay f32.
    ///
    /// Errors as [`Llama::from_weights`] does, and with [`Error::UnsupportedPrecision`] when the
    /// backend cannot store or compute in that type on `device`.
    ///
    /// ```
    /// use base_llm::{BasePrecision, Llama, LlamaConfig, model::build::random_weights};
    /// type B = burn::backend::Flex;
    /// let config = LlamaConfig::tiny(32);
    /// let weights = random_weights(&config, 0);
    /// let model = Llama::<B>::from_weights_with(config, weights, &Default::default(), BasePrecision::BF16)?;
    /// assert_eq!(model.precision(), BasePrecision::BF16);
    /// # Ok::<(), base_llm::Error>(())
    /// ```
    pub fn from_weights_with(
        config: LlamaConfig,
        mut weights: WeightMap,
        device: &B::Device,
        precision: BasePrecision,
    ) -> Result<Self> {
        config.validate()?;
        precision.check::<B>(device)?;
        let (d, f, hd) = (
            config.hidden_size,
            config.intermediate_size,
            config.head_dim,
        );
        let (nh, nkv) = (config.num_attention_heads, config.num_key_value_heads);
        let (q, kv) = (nh * hd, nkv * hd);
        let w = &mut weights;
        let embed_tokens = take::<B, 2>(
            w,
            "model.embed_tokens.weight",
            [config.vocab_size, d],
            device,
        )?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let lin = |w: &mut WeightMap,
                       name: &str,
                       shape: [usize; 2],
                       bias: bool|
             -> Result<FrozenLinear<B>> {
                let weight = take::<B, 2>(w, &format!("{p}.{name}.weight"), shape, device)?;
                let bias = if bias {
                    Some(take::<B, 1>(
                        w,
                        &format!("{p}.{name}.bias"),
                        [shape[0]],
                        device,
                    )?)
                } else {
                    None
                };
                Ok(FrozenLinear::with_precision(weight, bias, precision))
            };
            let ab = config.attention_bias;
            let self_attn = Attention {
                q_proj: lin(w, "self_attn.q_proj", [q, d], ab)?,
                k_proj: lin(w, "self_attn.k_proj", [kv, d], ab)?,
                v_proj: lin(w, "self_attn.v_proj", [kv, d], ab)?,
                o_proj: lin(w, "self_attn.o_proj", [d, q], false)?,
                n_heads: nh,
                n_kv_heads: nkv,
                head_dim: hd,
            };
            let mlp = Mlp {
                gate_proj: lin(w, "mlp.gate_proj", [f, d], false)?,
                up_proj: lin(w, "mlp.up_proj", [f, d], false)?,
                down_proj: lin(w, "mlp.down_proj", [d, f], false)?,
            };
            let eps = config.rms_norm_eps;
            layers.push(DecoderLayer {
                input_layernorm: RmsNorm::new(
                    take(w, &format!("{p}.input_layernorm.weight"), [d], device)?,
                    eps,
                ),
                self_attn,
                post_attention_layernorm: RmsNorm::new(
                    take(
                        w,
                        &format!("{p}.post_attention_layernorm.weight"),
                        [d],
                        device,
                    )?,
                    eps,
                ),
                mlp,
            });
        }
        let norm = RmsNorm::new(
            take(w, "model.norm.weight", [d], device)?,
            config.rms_norm_eps,
        );
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(frozen(precision.store(take::<B, 2>(
                w,
                "lm_head.weight",
                [config.vocab_size, d],
                device,
            )?)))
        };
        Ok(Self {
            embed_tokens: frozen(precision.store(embed_tokens)),
            layers,
            norm,
            lm_head,
            rope: RotaryTables::new(&config, device),
            config,
            merge_originals: Vec::new(),
            merged: None,
            precision,
        })
    }

    /// A model with seeded random weights ([`random_weights`]).
    pub fn random(config: LlamaConfig, seed: u64, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let weights = random_weights(&config, seed);
        Self::from_weights(config, weights, device)
    }
}
