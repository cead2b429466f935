//! [`ModelBundle`]: a model with its tokenizer, loaded from one path, and prompt-in / text-out
//! generation ([`ModelBundle::complete`]).

use std::path::Path;

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::generate::{FinishReason, GenerationConfig};
use crate::loading::gguf::GgufFile;
use crate::loading::{Checkpoint, CheckpointSource, load_checkpoint};
use crate::lora_hooks::Adapters;
use crate::model::Llama;
use crate::precision::BasePrecision;
use crate::text::{ChatMessage, Tokenizer};

/// A model and the tokenizer that goes with it.
#[derive(Debug)]
pub struct ModelBundle<B: Backend> {
    /// The transformer.
    pub model: Llama<B>,
    /// Its tokenizer (and chat template).
    pub tokenizer: Tokenizer,
    /// Where both came from.
    pub source: CheckpointSource,
}

/// What to continue: raw text, or a conversation rendered with the model's chat template.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Text encoded as is (with the special tokens the tokenizer adds, e.g. BOS).
    Text(String),
    /// Messages rendered with the chat template and `add_generation_prompt`, encoded without
    /// added special tokens (the template writes them), as transformers' `apply_chat_template`.
    Chat(Vec<ChatMessage>),
}

impl Prompt {
    /// A user turn, after an optional system turn.
    pub fn chat(system: Option<&str>, user: &str) -> Self {
        let mut messages = Vec::with_capacity(2);
        if let Some(s) = system {
            messages.push(ChatMessage::system(s));
        }
        messages.push(ChatMessage::user(user));
        Prompt::Chat(messages)
    }
}

/// The continuation of one prompt, with timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The prompt's token ids.
    pub prompt_ids: Vec<u32>,
    /// Generated token ids (the stop token included when there was one).
    pub token_ids: Vec<u32>,
    /// The generated text, special tokens left out.
    pub text: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Seconds of the prefill.
    pub prefill_seconds: f64,
    /// Seconds of the decode steps.
    pub decode_seconds: f64,
}

impl Completion {
    /// Generated tokens per second over the whole generation (prefill included).
    pub fn tokens_per_second(&self) -> f64 {
        self.token_ids.len() as f64 / (self.prefill_seconds + self.decode_seconds).max(1e-12)
    }

    /// Prompt tokens per second of the prefill.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        self.prompt_ids.len() as f64 / self.prefill_seconds.max(1e-12)
    }

    /// Tokens per second of the decode steps (the first token comes from the prefill).
    pub fn decode_tokens_per_second(&self) -> f64 {
        self.token_ids.len().saturating_sub(1) as f64 / self.decode_seconds.max(1e-12)
    }
}

impl<B: Backend> ModelBundle<B> {
    /// Loads a model and its tokenizer from a GGUF file (tokenizer rebuilt from its metadata), a
    /// Hugging Face directory (`config.json`, safetensors, `tokenizer.json`, optional
    /// `tokenizer_config.json`), or a directory holding one `.gguf` file. See
    /// [`crate::loading::load_checkpoint`].
    ///
    /// ```no_run
    /// # fn main() -> base_llm::Result<()> {
    /// use base_llm::{GenerationConfig, ModelBundle, Prompt, Adapters};
    /// type B = burn::backend::Flex;
    /// let bundle = ModelBundle::<B>::load("SmolLM2-135M-Instruct.Q4_1.gguf", &Default::default())?;
    /// let out = bundle.complete(
    ///     &Prompt::chat(None, "What is the capital of France?"),
    ///     &GenerationConfig::greedy(16),
    ///     Adapters::None,
    /// )?;
    /// println!("{}", out.text);
    /// # Ok(()) }
    /// ```
    pub fn load(path: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        Self::load_with(path, device, BasePrecision::F32)
    }

    /// Like [`ModelBundle::load`], with the frozen base in `precision`
    /// ([`Llama::from_weights_with`]).
    pub fn load_with(
        path: impl AsRef<Path>,
        device: &B::Device,
        precision: BasePrecision,
    ) -> Result<Self> {
        let path = path.as_ref();
        let (checkpoint, tokenizer) = if path.is_file() {
            // One parse of the GGUF serves both the weights and the tokenizer.
            let file = GgufFile::open(path)?;
            (
                Checkpoint::from_gguf(&file)?,
                Tokenizer::from_gguf(&file.metadata)?,
            )
        } else {
            let checkpoint = load_checkpoint(path)?;
            let tokenizer = match &checkpoint.source {
                CheckpointSource::Gguf(file) => {
                    Tokenizer::from_gguf(&GgufFile::open(file)?.metadata)?
                }
                CheckpointSource::HfDir(dir) => Tokenizer::from_hf_dir(dir)?,
            };
            (checkpoint, tokenizer)
        };
        let model =
            Llama::from_weights_with(checkpoint.config, checkpoint.weights, device, precision)?;
        Ok(Self {
            model,
            tokenizer,
            source: checkpoint.source,
        })
    }

    /// The token ids of a prompt.
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        match prompt {
            Prompt::Text(text) => self.tokenizer.encode(text, true),
            Prompt::Chat(messages) => {
                let text = self.tokenizer.apply_chat_template(messages, true)?;
                self.tokenizer.encode(&text, false)
            }
        }
    }

    /// Generates a continuation of `prompt`. Besides the model's own EOS ids, generation stops on
    /// the tokenizer's EOS ids; stop strings are checked on the decoded text.
    pub fn complete(
        &self,
        prompt: &Prompt,
        config: &GenerationConfig,
        adapters: Adapters<'_, B>,
    ) -> Result<Completion> {
        let prompt_ids = self.prompt_ids(prompt)?;
        if prompt_ids.is_empty() {
            return Err(Error::Input {
                what: "prompt",
                reason: "encodes to no tokens".into(),
            });
        }
        let mut config = config.clone();
        for &id in self.tokenizer.eos_token_ids() {
            if !config.stop_token_ids.contains(&id) {
                config.stop_token_ids.push(id);
            }
        }
        let decode = |ids: &[u32]| self.tokenizer.decode(ids, true).unwrap_or_default();
        let decoder: Option<crate::generate::Decoder<'_>> =
            (!config.stop_strings.is_empty()).then_some(&decode);
        let mut out = self.model.generate(
            std::slice::from_ref(&prompt_ids),
            &config,
            adapters,
            decoder,
        )?;
        let row = out.rows.remove(0);
        let text = self.tokenizer.decode(&row.tokens, true)?;
        Ok(Completion {
            prompt_ids,
            token_ids: row.tokens,
            text,
            finish_reason: row.finish_reason,
            prefill_seconds: out.prefill_seconds,
            decode_seconds: out.decode_seconds,
        })
    }
}
