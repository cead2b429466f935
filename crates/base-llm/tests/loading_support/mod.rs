//! Test helpers shared by the `loading_*` tests: a minimal GGUF writer and a tiny Llama written as
//! GGUF in llama.cpp's layout (names, reversed dims, permuted q/k).

#![allow(dead_code)]

use base_llm::config::{Architecture, LlamaConfig};
use base_llm::loading::gguf::GgufValue;
use base_llm::loading::gguf::names::gguf_name;
use base_llm::loading::permute::permute_rows;
use base_llm::model::build::random_weights;
use base_llm::{HostTensor, WeightMap};

/// One tensor to write: GGUF name, GGUF dims (innermost first), ggml type id, raw bytes.
pub struct RawTensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub data: Vec<u8>,
    /// Overrides the data offset written in the tensor info.
    pub offset_override: Option<u64>,
}

/// A GGUF v3 file under construction.
pub struct GgufBuilder {
    pub version: u32,
    pub metadata: Vec<(String, GgufValue)>,
    pub tensors: Vec<RawTensor>,
    pub alignment: u64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn type_id(v: &GgufValue) -> u32 {
    match v {
        GgufValue::U8(_) => 0,
        GgufValue::I8(_) => 1,
        GgufValue::U16(_) => 2,
        GgufValue::I16(_) => 3,
        GgufValue::U32(_) => 4,
        GgufValue::I32(_) => 5,
        GgufValue::F32(_) => 6,
        GgufValue::Bool(_) => 7,
        GgufValue::String(_) => 8,
        GgufValue::Array(_) => 9,
        GgufValue::U64(_) => 10,
        GgufValue::I64(_) => 11,
        GgufValue::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, v: &GgufValue) {
    match v {
        GgufValue::U8(x) => out.push(*x),
        GgufValue::I8(x) => out.push(*x as u8),
        GgufValue::U16(x) => out.extend(x.to_le_bytes()),
        GgufValue::I16(x) => out.extend(x.to_le_bytes()),
        GgufValue::U32(x) => out.extend(x.to_le_bytes()),
        GgufValue::I32(x) => out.extend(x.to_le_bytes()),
        GgufValue::F32(x) => out.extend(x.to_le_bytes()),
        GgufValue::Bool(x) => out.push(*x as u8),
        GgufValue::String(s) => put_str(out, s),
        GgufValue::Array(items) => {
            out.extend(items.first().map_or(0, type_id).to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, i);
            }
        }
        GgufValue::U64(x) => out.extend(x.to_le_bytes()),
        GgufValue::I64(x) => out.extend(x.to_le_bytes()),
        GgufValue::F64(x) => out.extend(x.to_le_bytes()),
    }
}

impl GgufBuilder {
    pub fn new() -> Self {
        Self {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
        }
    }

    pub fn kv(mut self, key: &str, v: GgufValue) -> Self {
        self.metadata.push((key.to_string(), v));
        self
    }

    pub fn remove(&mut self, key: &str) {
        self.metadata.retain(|(k, _)| k != key);
    }

    /// The file bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut out, k);
            out.extend(type_id(v).to_le_bytes());
            put_value(&mut out, v);
        }
        let a = self.alignment as usize;
        let mut offset = 0usize;
        let mut offsets = Vec::new();
        for t in &self.tensors {
            offsets.push(offset);
            offset = (offset + t.data.len()).div_ceil(a) * a;
        }
        for (t, &o) in self.tensors.iter().zip(&offsets) {
            put_str(&mut out, &t.name);
            out.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.type_id.to_le_bytes());
            out.extend(t.offset_override.unwrap_or(o as u64).to_le_bytes());
        }
        out.resize(out.len().div_ceil(a) * a, 0);
        let data_start = out.len();
        for (t, &o) in self.tensors.iter().zip(&offsets) {
            out.resize(data_start + o, 0);
            out.extend(&t.data);
        }
        out
    }
}

/// f32 values as little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A tiny config of the given family (untied when `tied` is false; Qwen2 has q/k/v biases).
pub fn tiny_config(arch: Architecture, tied: bool) -> LlamaConfig {
    LlamaConfig {
        architecture: arch,
        tie_word_embeddings: tied,
        attention_bias: arch == Architecture::Qwen2,
        ..LlamaConfig::tiny(64)
    }
}

/// GGUF metadata llama.cpp writes for `config`.
pub fn metadata_for(config: &LlamaConfig) -> Vec<(String, GgufValue)> {
    let arch = match config.architecture {
        Architecture::Qwen2 => "qwen2",
        _ => "llama",
    };
    let u = |x: usize| GgufValue::U32(x as u32);
    let k = |s: &str| format!("{arch}.{s}");
    vec![
        (
            "general.architecture".into(),
            GgufValue::String(arch.into()),
        ),
        (k("block_count"), u(config.num_hidden_layers)),
        (k("context_length"), u(config.max_position_embeddings)),
        (k("embedding_length"), u(config.hidden_size)),
        (k("feed_forward_length"), u(config.intermediate_size)),
        (k("attention.head_count"), u(config.num_attention_heads)),
        (k("attention.head_count_kv"), u(config.num_key_value_heads)),
        (k("attention.key_length"), u(config.head_dim)),
        (
            k("rope.freq_base"),
            GgufValue::F32(config.rope_theta as f32),
        ),
        (
            k("attention.layer_norm_rms_epsilon"),
            GgufValue::F32(config.rms_norm_eps as f32),
        ),
        (k("vocab_size"), u(config.vocab_size)),
        (
            "tokenizer.ggml.bos_token_id".into(),
            GgufValue::U32(config.bos_token_id.unwrap()),
        ),
        (
            "tokenizer.ggml.eos_token_id".into(),
            GgufValue::U32(config.eos_token_ids[0]),
        ),
    ]
}

/// The GGUF tensors llama.cpp writes for `weights` (f32; q/k permuted for llama).
pub fn tensors_for(config: &LlamaConfig, weights: &WeightMap) -> Vec<RawTensor> {
    weights
        .tensors
        .iter()
        .map(|(name, t)| {
            let heads = if config.architecture == Architecture::Qwen2 {
                None
            } else if name.contains("q_proj") {
                Some(config.num_attention_heads)
            } else if name.contains("k_proj") {
                Some(config.num_key_value_heads)
            } else {
                None
            };
            let t: HostTensor = match heads {
                Some(h) => permute_rows(t, h).unwrap(),
                None => t.clone(),
            };
            RawTensor {
                name: gguf_name(name).unwrap(),
                dims: t.shape.iter().rev().map(|&d| d as u64).collect(),
                type_id: 0,
                data: f32_bytes(&t.data),
                offset_override: None,
            }
        })
        .collect()
}

/// A tiny random model of `config` as GGUF bytes, with the Hugging Face weights it holds.
pub fn tiny_gguf(config: &LlamaConfig, seed: u64) -> (GgufBuilder, WeightMap) {
    let weights = random_weights(config, seed);
    let mut b = GgufBuilder::new();
    b.metadata = metadata_for(config);
    b.tensors = tensors_for(config, &weights);
    (b, weights)
}

/// Writes `bytes` to `name` in a fresh temporary directory (kept alive by the returned guard).
pub fn write_temp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Logits `[batch, seq, vocab]` (flattened) of a model for `ids` laid out as `[batch, len/batch]`.
pub fn logits(model: &base_llm::Llama<burn::backend::Flex>, ids: &[i64], batch: usize) -> Vec<f32> {
    use burn::prelude::*;
    let x = Tensor::<burn::backend::Flex, 2, Int>::from_data(
        TensorData::new(ids.to_vec(), [batch, ids.len() / batch]),
        &Default::default(),
    );
    model
        .forward(x, None, base_llm::Adapters::None)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap()
}

/// The real SmolLM2-135M-Instruct GGUF (the tests fail with the fetch command when it is missing).
pub fn smollm2_gguf() -> std::path::PathBuf {
    base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF).unwrap_or_else(|e| panic!("{e}"))
}
