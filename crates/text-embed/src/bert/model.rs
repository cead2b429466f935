//! [`BertModel`]: the BERT encoder as burn modules (embeddings, post-norm self-attention
//! layers), loaded from Hugging Face weights or built with random weights for tests.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use rand::{Rng, SeedableRng, rngs::StdRng};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::config::{Activation, BertConfig};
use super::weights::SafetensorsWeights;
use crate::error::{Error, Result};

/// Word, position and token-type embeddings, summed and layer-normed.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    /// `embeddings.word_embeddings` `[vocab, hidden]`.
    pub word: Embedding<B>,
    /// `embeddings.position_embeddings` `[max_positions, hidden]`.
    pub position: Embedding<B>,
    /// `embeddings.token_type_embeddings` `[type_vocab, hidden]`.
    pub token_type: Embedding<B>,
    /// `embeddings.LayerNorm`.
    pub norm: LayerNorm<B>,
}

/// One encoder layer: self-attention and feed-forward, each followed by add & LayerNorm.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// `attention.self.query`.
    pub query: Linear<B>,
    /// `attention.self.key`.
    pub key: Linear<B>,
    /// `attention.self.value`.
    pub value: Linear<B>,
    /// `attention.output.dense`.
    pub attention_out: Linear<B>,
    /// `attention.output.LayerNorm`.
    pub attention_norm: LayerNorm<B>,
    /// `intermediate.dense`.
    pub intermediate: Linear<B>,
    /// `output.dense`.
    pub output: Linear<B>,
    /// `output.LayerNorm`.
    pub output_norm: LayerNorm<B>,
}

/// The BERT encoder: token ids and mask in, last hidden states out.
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    /// The input embeddings.
    pub embeddings: BertEmbeddings<B>,
    /// `encoder.layer.*`.
    pub layers: Vec<BertLayer<B>>,
    /// Attention heads per layer.
    #[module(skip)]
    pub num_heads: usize,
    /// The feed-forward activation.
    #[module(skip)]
    pub activation: ActivationKind,
}

/// [`Activation`] stored in the module (kept apart so the config type needs no module traits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivationKind {
    /// Exact GELU.
    #[default]
    Gelu,
    /// tanh-approximated GELU.
    GeluTanh,
    /// ReLU.
    Relu,
}

impl From<Activation> for ActivationKind {
    fn from(a: Activation) -> Self {
        match a {
            Activation::Gelu => Self::Gelu,
            Activation::GeluTanh => Self::GeluTanh,
            Activation::Relu => Self::Relu,
        }
    }
}

/// A linear layer from a Hugging Face `[out, in]` weight (burn stores `[in, out]`).
fn linear<B: Backend>(weight: Tensor<B, 2>, bias: Tensor<B, 1>) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(weight.transpose()),
        bias: Some(Param::from_tensor(bias)),
    }
}

fn layer_norm<B: Backend>(
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
    device: &B::Device,
) -> LayerNorm<B> {
    let mut norm = LayerNormConfig::new(gamma.dims()[0])
        .with_epsilon(eps)
        .init(device);
    norm.gamma = Param::from_tensor(gamma);
    norm.beta = Some(Param::from_tensor(beta));
    norm
}

fn embedding<B: Backend>(weight: Tensor<B, 2>, device: &B::Device) -> Embedding<B> {
    let [n, d] = weight.dims();
    let mut e = EmbeddingConfig::new(n, d).init(device);
    e.weight = Param::from_tensor(weight);
    e
}

/// The Hugging Face names and shapes of every tensor the encoder of `config` loads (the pooler
/// is not used).
pub fn expected_weights(config: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let (d, f) = (config.hidden_size, config.intermediate_size);
    let mut out = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![config.vocab_size, d],
        ),
        (
            "embeddings.position_embeddings.weight".to_string(),
            vec![config.max_position_embeddings, d],
        ),
        (
            "embeddings.token_type_embeddings.weight".to_string(),
            vec![config.type_vocab_size, d],
        ),
        ("embeddings.LayerNorm.weight".to_string(), vec![d]),
        ("embeddings.LayerNorm.bias".to_string(), vec![d]),
    ];
    for i in 0..config.num_hidden_layers {
        let p = format!("encoder.layer.{i}");
        for (name, o, inp) in [
            ("attention.self.query", d, d),
            ("attention.self.key", d, d),
            ("attention.self.value", d, d),
            ("attention.output.dense", d, d),
            ("intermediate.dense", f, d),
            ("output.dense", d, f),
        ] {
            out.push((format!("{p}.{name}.weight"), vec![o, inp]));
            out.push((format!("{p}.{name}.bias"), vec![o]));
        }
        for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
            out.push((format!("{p}.{name}.weight"), vec![d]));
            out.push((format!("{p}.{name}.bias"), vec![d]));
        }
    }
    out
}

impl<B: Backend> BertModel<B> {
    /// Builds the encoder from the tensors of a Hugging Face BERT checkpoint, checking every
    /// name and shape against `config`. The pooler (`pooler.dense`) is not used and not loaded.
    pub fn from_safetensors(
        config: &BertConfig,
        activation: Activation,
        weights: &SafetensorsWeights<'_>,
        device: &B::Device,
    ) -> Result<Self> {
        let (d, f) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps;
        let t1 = |name: &str, n: usize| weights.tensor::<B, 1>(name, [n], device);
        let t2 = |name: &str, shape: [usize; 2]| weights.tensor::<B, 2>(name, shape, device);
        let embeddings = BertEmbeddings {
            word: embedding(
                t2("embeddings.word_embeddings.weight", [config.vocab_size, d])?,
                device,
            ),
            position: embedding(
                t2(
                    "embeddings.position_embeddings.weight",
                    [config.max_position_embeddings, d],
                )?,
                device,
            ),
            token_type: embedding(
                t2(
                    "embeddings.token_type_embeddings.weight",
                    [config.type_vocab_size, d],
                )?,
                device,
            ),
            norm: layer_norm(
                t1("embeddings.LayerNorm.weight", d)?,
                t1("embeddings.LayerNorm.bias", d)?,
                eps,
                device,
            ),
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let lin = |name: &str, out: usize, inp: usize| -> Result<Linear<B>> {
                Ok(linear(
                    t2(&format!("{p}.{name}.weight"), [out, inp])?,
                    t1(&format!("{p}.{name}.bias"), out)?,
                ))
            };
            let norm = |name: &str| -> Result<LayerNorm<B>> {
                Ok(layer_norm(
                    t1(&format!("{p}.{name}.weight"), d)?,
                    t1(&format!("{p}.{name}.bias"), d)?,
                    eps,
                    device,
                ))
            };
            layers.push(BertLayer {
                query: lin("attention.self.query", d, d)?,
                key: lin("attention.self.key", d, d)?,
                value: lin("attention.self.value", d, d)?,
                attention_out: lin("attention.output.dense", d, d)?,
                attention_norm: norm("attention.output.LayerNorm")?,
                intermediate: lin("intermediate.dense", f, d)?,
                output: lin("output.dense", d, f)?,
                output_norm: norm("output.LayerNorm")?,
            });
        }
        Ok(Self {
            embeddings,
            layers,
            num_heads: config.num_attention_heads,
            activation: activation.into(),
        })
    }

    /// An encoder of `config`'s shape with seeded random weights (for tests): the weights are
    /// written as an in-memory safetensors file and loaded through [`Self::from_safetensors`], so
    /// the same names and shapes are checked. Linear weights `U(±1/√in)`, embeddings `U(±1)`,
    /// biases `U(±0.1)`, LayerNorm gains `1 + U(±0.1)`. The same seed gives the same model on
    /// every thread and run.
    pub fn random(
        config: &BertConfig,
        activation: Activation,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = expected_weights(config)
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let (offset, bound) = if name.ends_with("LayerNorm.weight") {
                    (1.0, 0.1)
                } else if name.ends_with(".bias") {
                    (0.0, 0.1)
                } else if name.contains("embeddings.") {
                    (0.0, 1.0)
                } else {
                    (0.0, 1.0 / (shape[1] as f32).sqrt())
                };
                let bytes = (0..n)
                    .flat_map(|_| (offset + rng.random_range(-bound..bound)).to_le_bytes())
                    .collect();
                (name, shape, bytes)
            })
            .collect();
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.as_str(), v))
                    .map_err(|e| Error::input("config", e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let file = safetensors::serialize(views, None)
            .map_err(|e| Error::input("config", e.to_string()))?;
        let weights = SafetensorsWeights::parse(Path::new("<random>"), &file)?;
        Self::from_safetensors(config, activation, &weights, device)
    }

    /// The hidden width.
    pub fn hidden_size(&self) -> usize {
        self.embeddings.word.weight.dims()[1]
    }

    /// The number of learned positions (the longest input).
    pub fn max_positions(&self) -> usize {
        self.embeddings.position.weight.dims()[0]
    }

    /// Last hidden states `[batch, seq, hidden]` of right-padded `ids` `[batch, seq]`; `mask`
    /// `[batch, seq]` is true for real tokens. Padded keys are masked out of attention, so a real
    /// token's state does not depend on how much padding follows it.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        mask: Tensor<B, 2, Bool>,
    ) -> Result<Tensor<B, 3>> {
        let [b, s] = ids.dims();
        if mask.dims() != [b, s] {
            return Err(Error::input(
                "mask",
                format!("shape {:?} does not match ids {b}×{s}", mask.dims()),
            ));
        }
        if s > self.max_positions() {
            return Err(Error::input(
                "ids",
                format!(
                    "{s} tokens exceed the {} positions of the model",
                    self.max_positions()
                ),
            ));
        }
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..s as i64, &device)
            .reshape([1, s])
            .expand([b, s]);
        let types = Tensor::<B, 2, Int>::zeros([b, s], &device);
        let e = &self.embeddings;
        let mut x = e.norm.forward(
            e.word.forward(ids) + e.position.forward(positions) + e.token_type.forward(types),
        );
        let h = self.num_heads;
        let key_pad = mask.bool_not().reshape([b, 1, 1, s]).expand([b, h, s, s]);
        for layer in &self.layers {
            x = layer.forward(x, key_pad.clone(), h, self.activation);
        }
        Ok(x)
    }
}

impl<B: Backend> BertLayer<B> {
    /// One layer on `x` `[batch, seq, hidden]`; `key_pad` `[batch, heads, seq, seq]` is true
    /// where a key is padding.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        key_pad: Tensor<B, 4, Bool>,
        heads: usize,
        act: ActivationKind,
    ) -> Tensor<B, 3> {
        let [b, s, d] = x.dims();
        let hd = d / heads;
        let split = |t: Tensor<B, 3>| t.reshape([b, s, heads, hd]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let ctx = attention(
            q,
            k,
            v,
            Some(key_pad),
            None,
            AttentionModuleOptions::default(),
        )
        .swap_dims(1, 2)
        .reshape([b, s, d]);
        let x = self
            .attention_norm
            .forward(x + self.attention_out.forward(ctx));
        let inner = self.intermediate.forward(x.clone());
        let inner = match act {
            ActivationKind::Gelu => activation::gelu(inner),
            ActivationKind::GeluTanh => activation::gelu_approximate(inner),
            ActivationKind::Relu => activation::relu(inner),
        };
        self.output_norm.forward(x + self.output.forward(inner))
    }
}
