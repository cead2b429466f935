//! Batched generation with a KV cache: left-padded prefill, then one token per row per step.

use std::time::Instant;

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::lora_hooks::Adapters;
use crate::model::Llama;
use crate::sampling::Sampler;

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most tokens generated per row.
    pub max_new_tokens: usize,
    /// Sampling temperature; `None` (or 0) decodes greedily.
    pub temperature: Option<f32>,
    /// Nucleus mass kept when sampling (1 keeps every token).
    pub top_p: f32,
    /// Seed of the sampler.
    pub seed: u64,
    /// Token ids that end a row, in addition to the model's EOS ids.
    pub stop_token_ids: Vec<u32>,
    /// Strings that end a row once the decoded continuation contains one (needs a decoder).
    pub stop_strings: Vec<String>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: None,
            top_p: 1.0,
            seed: 0,
            stop_token_ids: Vec::new(),
            stop_strings: Vec::new(),
        }
    }
}

impl GenerationConfig {
    /// Greedy decoding of at most `max_new_tokens` tokens.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            ..Self::default()
        }
    }

    /// The sampler this config describes.
    pub fn sampler(&self) -> Sampler {
        match self.temperature {
            Some(t) if t > 0.0 => Sampler::sampling(t, self.top_p, self.seed),
            _ => Sampler::greedy(),
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// It produced an end-of-sequence (or other stop) token, which is the last token kept.
    StopToken(u32),
    /// Its decoded continuation contains this stop string.
    StopString(String),
    /// It reached `max_new_tokens`.
    MaxTokens,
    /// The model's context (`max_position_embeddings`) is full.
    ContextFull,
}

/// The continuation of one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated token ids (the stop token included when there was one).
    pub tokens: Vec<u32>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
}

/// The result of [`Llama::generate`]: one [`Generation`] per prompt, plus timing.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOutput {
    /// Continuations in prompt order.
    pub rows: Vec<Generation>,
    /// Prompt tokens processed by the prefill (padding excluded).
    pub prompt_tokens: usize,
    /// Positions in the padded prefill batch (`rows × longest prompt`).
    pub prefill_positions: usize,
    /// Seconds spent in the prefill (up to the first logits read back).
    pub prefill_seconds: f64,
    /// Single-token forward steps after the prefill.
    pub decode_steps: usize,
    /// Seconds spent in those steps (sampling included).
    pub decode_seconds: f64,
}

impl GenerationOutput {
    /// Prompt tokens per second of the prefill.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_seconds.max(1e-12)
    }

    /// Tokens per second of the decode steps (all rows of a step counted).
    pub fn decode_tokens_per_second(&self) -> f64 {
        (self.decode_steps * self.rows.len()) as f64 / self.decode_seconds.max(1e-12)
    }
}

/// Turns generated token ids back into text (for stop strings).
pub type Decoder<'a> = &'a dyn Fn(&[u32]) -> String;

impl<B: Backend> Llama<B> {
    /// Generates a continuation for every prompt (token ids, no padding; lengths may differ).
    ///
    /// Prompts are left-padded into one batch and prefilled together; decoding then runs one
    /// token per row per step over a [`KvCache`]. Rows stop on the model's EOS ids or
    /// `config.stop_token_ids`, on `config.stop_strings` (checked with `decoder`, required when
    /// stop strings are given), at `max_new_tokens`, or when the context is full. With
    /// [`Adapters::PerRow`], row `i` uses adapter `i`.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        config: &GenerationConfig,
        adapters: Adapters<'_, B>,
        decoder: Option<Decoder<'_>>,
    ) -> Result<GenerationOutput> {
        let b = prompts.len();
        if b == 0 || prompts.iter().any(|p| p.is_empty()) {
            return Err(Error::input(
                "prompts",
                "need at least one non-empty prompt",
            ));
        }
        if !config.stop_strings.is_empty() && decoder.is_none() {
            return Err(Error::input("stop_strings", "stop strings need a decoder"));
        }
        let device = self.device();
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(b * longest);
        let mut mask = Vec::with_capacity(b * longest);
        for p in prompts {
            let pad = longest - p.len();
            ids.extend(std::iter::repeat_n(0i64, pad).chain(p.iter().map(|&t| t as i64)));
            mask.extend(std::iter::repeat_n(false, pad).chain(std::iter::repeat_n(true, p.len())));
        }
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, longest]), &device);
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [b, longest]), &device);

        let mut stop_ids = self.config.eos_token_ids.clone();
        stop_ids.extend(&config.stop_token_ids);
        let mut sampler = config.sampler();
        let mut rows: Vec<Generation> = (0..b)
            .map(|_| Generation {
                tokens: Vec::new(),
                finish_reason: FinishReason::MaxTokens,
            })
            .collect();
        let mut done = vec![false; b];
        let mut cache = KvCache::new(self.config.num_hidden_layers);

        let t0 = Instant::now();
        let mut logits = self.forward_cached(ids, Some(mask), adapters, &mut cache)?;
        let mut host = logits_to_host(logits);
        let prefill_seconds = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let mut decode_steps = 0;
        let vocab = self.config.vocab_size;
        for step in 0..config.max_new_tokens {
            for (r, row) in rows.iter_mut().enumerate() {
                if done[r] {
                    continue;
                }
                let tok = sampler.sample(&host[r * vocab..(r + 1) * vocab]);
                row.tokens.push(tok);
                if stop_ids.contains(&tok) {
                    row.finish_reason = FinishReason::StopToken(tok);
                    done[r] = true;
                } else if let Some(dec) = decoder
                    && let Some(s) = find_stop_string(&dec(&row.tokens), &config.stop_strings)
                {
                    row.finish_reason = FinishReason::StopString(s);
                    done[r] = true;
                }
            }
            if done.iter().all(|&d| d) || step + 1 == config.max_new_tokens {
                break;
            }
            if cache.len() + 1 > self.config.max_position_embeddings {
                for (r, row) in rows.iter_mut().enumerate() {
                    if !done[r] {
                        row.finish_reason = FinishReason::ContextFull;
                    }
                }
                break;
            }
            let next: Vec<i64> = rows
                .iter()
                .map(|g| g.tokens.last().copied().unwrap_or(0) as i64)
                .collect();
            let next = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [b, 1]), &device);
            logits = self.forward_cached(next, None, adapters, &mut cache)?;
            host = logits_to_host(logits);
            decode_steps += 1;
        }
        Ok(GenerationOutput {
            rows,
            prompt_tokens: prompts.iter().map(Vec::len).sum(),
            prefill_positions: b * longest,
            prefill_seconds,
            decode_steps,
            decode_seconds: t1.elapsed().as_secs_f64(),
        })
    }
}

fn logits_to_host<B: Backend>(logits: Tensor<B, 2>) -> Vec<f32> {
    logits
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap_or_default()
}

fn find_stop_string(text: &str, stops: &[String]) -> Option<String> {
    stops
        .iter()
        .find(|s| !s.is_empty() && text.contains(s.as_str()))
        .cloned()
}
