//! [`Llama`]: the frozen Llama-family decoder (Llama, Mistral, SmolLM, Qwen2 via config flags).

pub mod attention;
pub mod block;
pub mod build;
pub mod linear;
pub mod load;
pub mod merge;
pub mod mlp;
pub mod norm;
pub mod rope;
pub mod weight_bytes;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::config::LlamaConfig;
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::lora_hooks::{Adapters, LoraHooks, LoraNoise, Projection};
use crate::precision::BasePrecision;
use attention::AttentionInputs;
use block::DecoderLayer;
use norm::RmsNorm;
use rope::RotaryTables;

/// Training-only options of a forward pass ([`Llama::forward_train`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrainOptions {
    /// Dropout probability on the input of every LoRA path (PEFT's `lora_dropout`); 0 disables it.
    pub lora_dropout: f64,
    /// NEFTune α: uniform noise `±α/√(L·d)` added to the input embeddings (`L` the padded sequence
    /// length, `d` the hidden size); `None` disables it.
    pub neftune_alpha: Option<f64>,
    /// Seeds the backend's random generator before drawing noise, for repeatable runs.
    pub seed: Option<u64>,
}

/// The frozen decoder: token embedding, blocks, final norm and LM head (tied to the embedding
/// unless the config says otherwise). Every weight is a [`Param`] that does not require
/// gradients; adapters are passed per call ([`Adapters`]) or merged ([`Llama::merge_adapter`]).
/// The linear weights, embedding and LM head are stored in [`Llama::precision`]; activations,
/// norms, attention and logits are f32.
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    /// `model.embed_tokens.weight` `[vocab, hidden]` (also the LM head when tied).
    pub embed_tokens: Param<Tensor<B, 2>>,
    /// `model.layers.*`
    pub layers: Vec<DecoderLayer<B>>,
    /// `model.norm`
    pub norm: RmsNorm<B>,
    /// `lm_head.weight` `[vocab, hidden]` when not tied.
    pub lm_head: Option<Param<Tensor<B, 2>>>,
    /// Precomputed rotary tables.
    pub rope: RotaryTables<B>,
    /// The hyper-parameters the model was built from.
    #[module(skip)]
    pub config: LlamaConfig,
    /// The original weights of the projections an adapter was merged into (in `merged` order).
    pub(crate) merge_originals: Vec<Tensor<B, 2>>,
    /// The `(layer, projection)` pairs a merged adapter changed; `None` when nothing is merged.
    #[module(skip)]
    pub(crate) merged: Option<Vec<(usize, Projection)>>,
    /// How the frozen weights are stored and multiplied (set when the model is built).
    #[module(skip)]
    pub(crate) precision: BasePrecision,
}

impl<B: Backend> Llama<B> {
    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The precision of the frozen weights ([`Llama::from_weights_with`]).
    pub fn precision(&self) -> BasePrecision {
        self.precision
    }

    /// The device of the weights.
    pub fn device(&self) -> B::Device {
        self.embed_tokens.val().device()
    }

    /// The projection `proj` of block `layer`.
    pub fn projection(&self, layer: usize, proj: Projection) -> Option<&linear::FrozenLinear<B>> {
        let l = self.layers.get(layer)?;
        Some(match proj {
            Projection::Q => &l.self_attn.q_proj,
            Projection::K => &l.self_attn.k_proj,
            Projection::V => &l.self_attn.v_proj,
            Projection::O => &l.self_attn.o_proj,
            Projection::Gate => &l.mlp.gate_proj,
            Projection::Up => &l.mlp.up_proj,
            Projection::Down => &l.mlp.down_proj,
        })
    }

    /// `(d_in, d_out)` of a projection, as an adapter must have it.
    pub fn projection_shape(&self, proj: Projection) -> (usize, usize) {
        let c = &self.config;
        let (q, kv) = (
            c.num_attention_heads * c.head_dim,
            c.num_key_value_heads * c.head_dim,
        );
        let (d, f) = (c.hidden_size, c.intermediate_size);
        match proj {
            Projection::Q => (d, q),
            Projection::K | Projection::V => (d, kv),
            Projection::O => (q, d),
            Projection::Gate | Projection::Up => (d, f),
            Projection::Down => (f, d),
        }
    }

    /// The adapter layout this model accepts for the given target modules (PEFT names).
    pub fn adapter_layout(&self, targets: &[String]) -> Result<lora_core::AdapterLayout> {
        let modules = targets
            .iter()
            .map(|t| {
                let p = Projection::from_name(t).ok_or_else(|| {
                    Error::AdapterMismatch(format!("unknown target module `{t}`"))
                })?;
                let (d_in, d_out) = self.projection_shape(p);
                Ok(lora_core::ModuleShape {
                    name: t.clone(),
                    d_in,
                    d_out,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(lora_core::AdapterLayout::new(
            self.config.num_hidden_layers,
            modules,
        ))
    }

    /// Checks that an adapter layout fits this model: same number of layers, known modules with
    /// the model's widths.
    pub fn check_adapter_layout(&self, layout: &lora_core::AdapterLayout) -> Result<()> {
        if layout.n_layers != self.config.num_hidden_layers {
            return Err(Error::AdapterMismatch(format!(
                "adapter has {} layers, the model {}",
                layout.n_layers, self.config.num_hidden_layers
            )));
        }
        for m in &layout.modules {
            let p = Projection::from_name(&m.name).ok_or_else(|| {
                Error::AdapterMismatch(format!("unknown target module `{}`", m.name))
            })?;
            let (d_in, d_out) = self.projection_shape(p);
            if (m.d_in, m.d_out) != (d_in, d_out) {
                return Err(Error::AdapterMismatch(format!(
                    "module `{}` is {}→{} in the adapter but {}→{} in the model",
                    m.name, m.d_in, m.d_out, d_in, d_out
                )));
            }
        }
        Ok(())
    }

    /// Logits `[batch, seq, vocab]` for token ids `[batch, seq]`.
    ///
    /// `attention_mask` `[batch, seq]` is true for real tokens and false for padding (left or
    /// right); rotary positions count real tokens only, so a left-padded row gives the same
    /// logits as the unpadded sequence.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        adapters: Adapters<'_, B>,
    ) -> Result<Tensor<B, 3>> {
        let h = self.hidden(ids, attention_mask, adapters, None, TrainOptions::default())?;
        Ok(self.lm_head(h))
    }

    /// Logits of the last position of every row `[batch, vocab]` (the LM head runs on one position
    /// per row only). For right-padded rows the last *real* token is used.
    pub fn forward_last(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        adapters: Adapters<'_, B>,
    ) -> Result<Tensor<B, 2>> {
        let h = self.hidden(
            ids,
            attention_mask.clone(),
            adapters,
            None,
            TrainOptions::default(),
        )?;
        let last = last_positions(h, attention_mask);
        Ok(self.lm_head(last.unsqueeze_dim::<3>(1)).squeeze_dim::<2>(1))
    }

    /// A training forward: like [`Llama::forward`], plus LoRA-path dropout and NEFTune noise.
    pub fn forward_train(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        adapters: Adapters<'_, B>,
        options: TrainOptions,
    ) -> Result<Tensor<B, 3>> {
        let h = self.hidden(ids, attention_mask, adapters, None, options)?;
        Ok(self.lm_head(h))
    }

    /// Runs new tokens through the model, reading and extending `cache`; returns the logits of
    /// the last new position of every row `[batch, vocab]`.
    ///
    /// The first call is the prefill (prompts left-padded, `attention_mask` marking padding);
    /// later calls pass one token per row (`mask` `None`: all real).
    pub fn forward_cached(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        adapters: Adapters<'_, B>,
        cache: &mut KvCache<B>,
    ) -> Result<Tensor<B, 2>> {
        let h = self.hidden(
            ids,
            attention_mask,
            adapters,
            Some(cache),
            TrainOptions::default(),
        )?;
        let [b, s, d] = h.dims();
        let last = h.slice([0..b, s - 1..s, 0..d]);
        Ok(self.lm_head(last).squeeze_dim::<2>(1))
    }

    /// Final hidden states `[batch, seq, hidden]` (after the last norm, before the LM head).
    pub fn hidden(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        adapters: Adapters<'_, B>,
        mut cache: Option<&mut KvCache<B>>,
        options: TrainOptions,
    ) -> Result<Tensor<B, 3>> {
        let [b, s] = ids.dims();
        let device = ids.device();
        if b == 0 || s == 0 {
            return Err(Error::input("ids", format!("empty batch {b}×{s}")));
        }
        if let Some(m) = &attention_mask
            && m.dims() != [b, s]
        {
            return Err(Error::input(
                "attention_mask",
                format!("shape {:?} does not match ids {b}×{s}", m.dims()),
            ));
        }
        if let Some(layout) = adapters.layout() {
            self.check_adapter_layout(layout)?;
        }
        adapters.check_batch(b)?;
        let past = cache.as_ref().map_or(0, |c| c.len);
        if let Some(c) = &cache
            && c.len > 0
            && c.batch != b
        {
            return Err(Error::input(
                "ids",
                format!("batch of {b} rows for a cache of {} rows", c.batch),
            ));
        }
        let total = past + s;
        if total > self.config.max_position_embeddings {
            return Err(Error::input(
                "ids",
                format!(
                    "{total} positions exceed max_position_embeddings {}",
                    self.config.max_position_embeddings
                ),
            ));
        }
        let max_id = ids.clone().max().into_scalar().elem::<i64>();
        let min_id = ids.clone().min().into_scalar().elem::<i64>();
        if min_id < 0 || max_id >= self.config.vocab_size as i64 {
            return Err(Error::input(
                "ids",
                format!(
                    "token ids must lie in 0..{}, found {min_id}..={max_id}",
                    self.config.vocab_size
                ),
            ));
        }

        let mask =
            attention_mask.unwrap_or_else(|| Tensor::<B, 2, Int>::ones([b, s], &device).bool());
        // Rotary positions count the real tokens of each row.
        let start = match cache.as_ref().and_then(|c| c.lengths.clone()) {
            Some(l) => l,
            None => Tensor::<B, 2, Int>::zeros([b, 1], &device),
        };
        let counts = mask.clone().int().cumsum(1);
        let positions = (counts.clone() + start.clone()).sub_scalar(1).clamp_min(0);
        let keys = match cache.as_ref().and_then(|c| c.key_mask.clone()) {
            Some(prev) => Tensor::cat(vec![prev, mask.clone()], 1),
            None => mask.clone(),
        };
        let inputs = AttentionInputs::new(
            &self.rope,
            positions,
            keys.clone(),
            self.config.num_attention_heads,
            self.config.num_key_value_heads,
        );

        let d = self.config.hidden_size;
        let rows = self.embed_tokens.val().select(0, ids.reshape([b * s]));
        let mut x = self.precision.load(rows).reshape([b, s, d]);
        if let Some(seed) = options.seed {
            B::seed(&device, seed);
        }
        if let Some(alpha) = options.neftune_alpha {
            let mag = alpha / ((s * d) as f64).sqrt();
            x = x + Tensor::random([b, s, d], Distribution::Uniform(-mag, mag), &device);
        }
        let hooks = LoraHooks {
            adapters,
            noise: LoraNoise {
                dropout: options.lora_dropout,
            },
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_mut().map(|c| &mut c.layers[i]);
            x = layer.forward(x, &inputs, layer_cache, &hooks, i);
        }
        if let Some(c) = cache.as_mut() {
            c.key_mask = Some(keys);
            c.lengths = Some(start + counts.slice([0..b, s - 1..s]));
            c.batch = b;
            c.len = total;
        }
        Ok(self.norm.forward(x))
    }

    /// The LM head on hidden states `[batch, seq, hidden]` → logits `[batch, seq, vocab]`.
    pub fn lm_head(&self, h: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, s, d] = h.dims();
        let w = match &self.lm_head {
            Some(w) => w.val(),
            None => self.embed_tokens.val(),
        };
        let v = w.dims()[0];
        let n = b * s;
        let x = h.reshape([n, d]);
        if n <= LM_HEAD_SPLIT_MAX_ROWS && v.is_multiple_of(LM_HEAD_SPLIT) {
            // A few rows (decoding): a matrix-vector product that CPU backends run on one thread.
            // Splitting the vocabulary into chunks makes it a batched product they parallelise.
            let c = LM_HEAD_SPLIT;
            let chunks = w.reshape([c, v / c, d]).swap_dims(1, 2);
            let out = self.precision.matmul(x.reshape([1, n, d]), chunks); // [c, n, v/c]
            return out.swap_dims(0, 1).reshape([b, s, v]);
        }
        self.precision.matmul(x, w.transpose()).reshape([b, s, v])
    }
}

/// Number of vocabulary chunks of the few-row LM head (see [`Llama::lm_head`]).
const LM_HEAD_SPLIT: usize = 4;
/// Largest number of rows for which the LM head is split into vocabulary chunks.
const LM_HEAD_SPLIT_MAX_ROWS: usize = 8;

/// Hidden state of the last real token of every row: `[batch, hidden]`.
fn last_positions<B: Backend>(h: Tensor<B, 3>, mask: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 2> {
    let [b, s, d] = h.dims();
    let device = h.device();
    let idx = match mask {
        // index of the last true entry: argmax of mask · (1..=s)
        Some(m) => {
            let ramp = Tensor::<B, 1, Int>::arange(1..s as i64 + 1, &device).reshape([1, s]);
            (m.int() * ramp).argmax(1)
        }
        None => Tensor::<B, 2, Int>::full([b, 1], s as i64 - 1, &device),
    };
    let idx = idx.reshape([b, 1, 1]).expand([b, 1, d]);
    h.gather(1, idx).reshape([b, d])
}
