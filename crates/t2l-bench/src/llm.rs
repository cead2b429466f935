//! Prefill and decode of the frozen base model, batch 1, greedy, through the KV cache (the path
//! `t2l run` takes).

use std::path::{Path, PathBuf};
use std::time::Instant;

use base_llm::model::build::random_weights;
use base_llm::{Adapters, BasePrecision, KvCache, Llama, LlamaConfig};
use burn::prelude::*;

use crate::ceiling::Ceilings;
use crate::error::BenchError;
use crate::report::Measurement;
use crate::timing::{Timing, process_cpu_seconds, time_iters};
use crate::work::{decode_work_in, prefill_work_in};

/// The SmolLM2-135M-Instruct GGUF under the assets directory (`T2L_ASSETS`, else `<repo>/assets`).
pub fn default_smollm2_gguf() -> PathBuf {
    std::env::var_os("T2L_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
        .join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Which base model to benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmSource {
    /// A GGUF (or Hugging Face directory) read with [`Llama::load`] (weights dequantised to f32).
    File(PathBuf),
    /// A random tiny Llama ([`LlamaConfig::tiny`] with a 64-token vocabulary), for tests.
    Tiny,
    /// Random weights at SmolLM2-135M's shapes ([`LlamaConfig::smollm2_135m`]): the same work
    /// per token as the real model, for throughput on a machine without the GGUF.
    RandomSmollm2,
}

impl LlmSource {
    /// Loads the model on `device` (f32).
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<Llama<B>, BenchError> {
        self.load_with(device, BasePrecision::F32)
    }

    /// Loads the model on `device` with its frozen weights in `precision`
    /// ([`Llama::from_weights_with`]); a precision the backend lacks is an error.
    pub fn load_with<B: Backend>(
        &self,
        device: &B::Device,
        precision: BasePrecision,
    ) -> Result<Llama<B>, BenchError> {
        match self {
            Self::File(path) => Ok(Llama::load_with(path, device, precision)?),
            Self::Tiny => Self::random(LlamaConfig::tiny(64), device, precision),
            Self::RandomSmollm2 => Self::random(LlamaConfig::smollm2_135m(), device, precision),
        }
    }

    fn random<B: Backend>(
        config: LlamaConfig,
        device: &B::Device,
        precision: BasePrecision,
    ) -> Result<Llama<B>, BenchError> {
        let weights = random_weights(&config, 0);
        Ok(Llama::from_weights_with(
            config, weights, device, precision,
        )?)
    }

    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Self::File(path) => file_stem(path),
            Self::Tiny => "tiny".into(),
            Self::RandomSmollm2 => "smollm2-135m-random".into(),
        }
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `n` deterministic token ids spread over the vocabulary (throughput does not depend on them;
/// ids 0–2 are avoided because they are often special tokens).
pub fn prompt_ids(vocab: usize, n: usize) -> Vec<i64> {
    let span = vocab.saturating_sub(3).max(1);
    (0..n)
        .map(|i| (3 + (i * 7919 + 13) % span) as i64)
        .collect()
}

/// Checks that `tokens` positions fit the model's context (and are at least one).
pub fn check_context(llm: &Llama<impl Backend>, tokens: usize) -> Result<(), BenchError> {
    let max = llm.config().max_position_embeddings;
    if tokens == 0 || tokens > max {
        return Err(BenchError::param(
            "prompt/new tokens",
            format!("{tokens} tokens in all; the model takes 1 to {max}"),
        ));
    }
    Ok(())
}

/// Runs the prompt (batch 1) through `cache`; returns the greedy next token.
pub fn prefill<B: Backend>(
    llm: &Llama<B>,
    ids: &[i64],
    cache: &mut KvCache<B>,
) -> Result<i64, BenchError> {
    let device = llm.device();
    let x = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    let logits = llm.forward_cached(x, None, Adapters::None, cache)?;
    argmax(logits)
}

/// Feeds `next` and then each greedy token through `cache`, `n` times in all (batch 1); returns
/// the last greedy token. Every step reads its token back (as generation does).
pub fn decode<B: Backend>(
    llm: &Llama<B>,
    cache: &mut KvCache<B>,
    mut next: i64,
    n: usize,
) -> Result<i64, BenchError> {
    let device = llm.device();
    for _ in 0..n {
        let x = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![next], [1, 1]), &device);
        next = argmax(llm.forward_cached(x, None, Adapters::None, cache)?)?;
    }
    Ok(next)
}

/// The greedy token of `[1, vocab]` logits (reading it back synchronises the device).
fn argmax<B: Backend>(logits: Tensor<B, 2>) -> Result<i64, BenchError> {
    let ids = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .map_err(|e| BenchError::param("logits", format!("{e:?}")))?;
    Ok(ids.first().copied().unwrap_or(0))
}

/// Times the prefill of `prompt_tokens` tokens (fresh cache each run, LM head on the last
/// position, greedy next token read back).
pub fn bench_prefill<B: Backend>(
    llm: &Llama<B>,
    case: &str,
    prompt_tokens: usize,
    warmup: usize,
    iters: usize,
    ceilings: &Ceilings,
) -> Result<Measurement, BenchError> {
    check_context(llm, prompt_tokens)?;
    let ids = prompt_ids(llm.config().vocab_size, prompt_tokens);
    let layers = llm.config().num_hidden_layers;
    let timing = time_iters(warmup, iters, || {
        let mut cache = KvCache::new(layers);
        prefill(llm, &ids, &mut cache).map(drop)
    })?;
    Ok(Measurement::new(
        "prefill",
        format!("{case}/{prompt_tokens}tok"),
        timing,
        prefill_work_in(llm.config(), prompt_tokens, llm.precision()),
        ceilings,
    )
    .with_items(prompt_tokens as f64, "tokens"))
}

/// Times greedy decoding of `new_tokens` tokens after an (untimed) prefill of `prompt_tokens`:
/// each step feeds one token through the cache and reads the next greedy token back.
pub fn bench_decode<B: Backend>(
    llm: &Llama<B>,
    case: &str,
    prompt_tokens: usize,
    new_tokens: usize,
    warmup: usize,
    iters: usize,
    ceilings: &Ceilings,
) -> Result<Measurement, BenchError> {
    check_context(llm, prompt_tokens + new_tokens)?;
    if new_tokens == 0 {
        return Err(BenchError::param("new tokens", "must be at least 1"));
    }
    let ids = prompt_ids(llm.config().vocab_size, prompt_tokens);
    let layers = llm.config().num_hidden_layers;
    let run = || -> Result<(f64, f64), BenchError> {
        let mut cache = KvCache::new(layers);
        let next = prefill(llm, &ids, &mut cache)?;
        let (t0, c0) = (Instant::now(), process_cpu_seconds());
        decode(llm, &mut cache, next, new_tokens)?;
        Ok((t0.elapsed().as_secs_f64(), process_cpu_seconds() - c0))
    };
    for _ in 0..warmup {
        run()?;
    }
    let (mut wall, mut cpu) = (Vec::new(), 0.0);
    for _ in 0..iters.max(1) {
        let (w, c) = run()?;
        wall.push(w);
        cpu += c;
    }
    Ok(Measurement::new(
        "decode",
        format!("{case}/{prompt_tokens}+{new_tokens}tok"),
        Timing::from_samples(&wall, cpu),
        decode_work_in(llm.config(), prompt_tokens, new_tokens, llm.precision()),
        ceilings,
    )
    .with_items(new_tokens as f64, "tokens"))
}
