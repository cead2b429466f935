//! [`LlmEmbedder`]: a decoder LLM of `base-llm` as a text encoder — the final hidden state
//! (after the last norm, the reference's `hidden_states[-1]`) of the last real token, or the mean
//! over real tokens. T2L's base-LLM / Mistral-embedding ablation.

use base_llm::{Adapters, Llama, TrainOptions};
use burn::prelude::*;

use crate::embedder::TextEmbedder;
use crate::error::{Error, Result};
use crate::pooling::{Pooling, l2_normalize};
use crate::tokenize::{PadSide, embed_sorted_chunks, pad_batch};

/// How an [`LlmEmbedder`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmEmbedderOptions {
    /// [`Pooling::LastToken`] (the reference) or [`Pooling::Mean`]; CLS is refused.
    pub pooling: Pooling,
    /// Longest input in tokens; longer texts keep their first tokens. `None`: the model's
    /// `max_position_embeddings`.
    pub max_length: Option<usize>,
    /// L2-normalise the vectors (T2L's preprocessing normalises anyway).
    pub normalize: bool,
    /// Most texts run through the model at once (texts are sorted by length first).
    pub batch_size: usize,
}

impl Default for LlmEmbedderOptions {
    fn default() -> Self {
        Self {
            pooling: Pooling::LastToken,
            max_length: None,
            normalize: false,
            batch_size: 16,
        }
    }
}

/// A frozen base-llm [`Llama`] and its tokenizer used as an embedder of width `hidden_size`.
///
/// Texts are tokenized with the tokenizer's special tokens (e.g. BOS), left-padded per batch
/// with an attention mask (rotary positions count real tokens only), and pooled over real tokens,
/// so a text's vector does not depend on the rest of its batch.
#[derive(Debug)]
pub struct LlmEmbedder<B: Backend> {
    model: Llama<B>,
    tokenizer: base_llm::Tokenizer,
    options: LlmEmbedderOptions,
    max_length: usize,
    id: String,
}

impl<B: Backend> LlmEmbedder<B> {
    /// Wraps `model` and `tokenizer`; `name` identifies the model in [`TextEmbedder::id`]
    /// (`llm:<name>:<pooling>[+l2]:max<n>`), so give each checkpoint its own name.
    pub fn new(
        model: Llama<B>,
        tokenizer: base_llm::Tokenizer,
        name: &str,
        options: LlmEmbedderOptions,
    ) -> Result<Self> {
        if options.pooling == Pooling::Cls {
            return Err(Error::input(
                "pooling",
                "CLS pooling needs a bidirectional encoder; use last-token or mean",
            ));
        }
        let limit = model.config().max_position_embeddings;
        let max_length = options.max_length.unwrap_or(limit).min(limit);
        if max_length == 0 {
            return Err(Error::input("max_length", "must be at least 1"));
        }
        let id = format!(
            "llm:{name}:{}{}:max{max_length}",
            options.pooling.name(),
            if options.normalize { "+l2" } else { "" }
        );
        Ok(Self {
            model,
            tokenizer,
            options,
            max_length,
            id,
        })
    }

    /// The model.
    pub fn model(&self) -> &Llama<B> {
        &self.model
    }

    /// The longest input in tokens.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Token ids of each text (special tokens included, truncated to [`Self::max_length`]).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut ids = self.tokenizer.encode(t, true).map_err(Error::Llm)?;
                ids.truncate(self.max_length);
                if ids.is_empty() {
                    return Err(Error::input(
                        format!("texts[{i}]"),
                        "tokenizes to no tokens (the tokenizer adds no BOS)",
                    ));
                }
                Ok(ids)
            })
            .collect()
    }

    /// Embeds already tokenized sequences.
    pub fn embed_ids(&self, seqs: &[Vec<u32>]) -> Result<Tensor<B, 2>> {
        let device = self.model.device();
        embed_sorted_chunks(seqs, self.options.batch_size, &device, |batch| {
            let tb = pad_batch::<B>(batch, 0, PadSide::Left, &device)?;
            let hidden = self
                .model
                .hidden(
                    tb.ids,
                    Some(tb.mask.clone()),
                    Adapters::None,
                    None,
                    TrainOptions::default(),
                )
                .map_err(Error::Llm)?;
            let pooled = self.options.pooling.apply(hidden, tb.mask);
            Ok(if self.options.normalize {
                l2_normalize(pooled)
            } else {
                pooled
            })
        })
    }
}

impl<B: Backend> TextEmbedder<B> for LlmEmbedder<B> {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        let seqs = self.encode(texts)?;
        self.embed_ids(&seqs)
    }

    fn device(&self) -> B::Device {
        self.model.device()
    }

    fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    fn id(&self) -> String {
        self.id.clone()
    }
}
