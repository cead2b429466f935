//! [`Tokenizer`]: text ↔ token ids for a model, with its special tokens and chat template.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::error::Result;
use crate::loading::gguf::GgufMetadata;
use crate::text::chat_template::{ChatMessage, ChatTemplate, TemplateTokens};
use crate::text::error::TextError;
use crate::text::gguf_tokenizer::GgufTokenizerSpec;

/// File name of a Hugging Face fast tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// File name of a Hugging Face tokenizer config (chat template, special tokens).
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// A model's tokenizer: a `tokenizers` pipeline (never padding, never truncating), its special
/// tokens and, when the model has one, its chat template.
///
/// Build it from a Hugging Face directory ([`Tokenizer::from_hf_dir`]), a lone `tokenizer.json`
/// ([`Tokenizer::from_tokenizer_json`]) or GGUF metadata ([`Tokenizer::from_gguf`]).
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    tokens: TemplateTokens,
    eos_token_ids: Vec<u32>,
    chat_template: Option<ChatTemplate>,
}

impl Tokenizer {
    /// Wraps a `tokenizers` pipeline (padding and truncation are switched off) with its special
    /// tokens and chat template. End-of-sequence ids are those of `tokens.eos_token`.
    pub fn new(
        mut inner: tokenizers::Tokenizer,
        tokens: TemplateTokens,
        chat_template: Option<ChatTemplate>,
    ) -> Result<Self> {
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| TextError::Tokenizers {
                what: "switch truncation off",
                reason: e.to_string(),
            })?;
        let eos_token_ids = tokens
            .eos_token
            .as_deref()
            .and_then(|t| inner.token_to_id(t))
            .into_iter()
            .collect();
        Ok(Self {
            inner,
            tokens,
            eos_token_ids,
            chat_template,
        })
    }

    /// Reads a lone `tokenizer.json` (no chat template; no BOS/EOS strings known).
    pub fn from_tokenizer_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TextError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| TextError::BadFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::new(inner, TemplateTokens::default(), None)
    }

    /// Reads `tokenizer.json` and, when present, `tokenizer_config.json` (chat template, BOS /
    /// EOS / UNK / PAD strings) from a Hugging Face model directory.
    pub fn from_hf_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let mut tok = Self::from_tokenizer_json(dir.join(TOKENIZER_FILE))?;
        let config_path = dir.join(TOKENIZER_CONFIG_FILE);
        if config_path.is_file() {
            let config = HfTokenizerConfig::read(&config_path)?;
            tok = Self::new(tok.inner, config.tokens, config.chat_template)?;
        }
        Ok(tok)
    }

    /// Rebuilds the tokenizer a GGUF file describes (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    pub fn from_gguf(meta: &GgufMetadata) -> Result<Self> {
        Self::from_gguf_spec(&GgufTokenizerSpec::from_metadata(meta)?)
    }

    /// Builds the tokenizer of already-read GGUF tokenizer metadata.
    pub fn from_gguf_spec(spec: &GgufTokenizerSpec) -> Result<Self> {
        let inner = spec.build()?;
        let tokens = TemplateTokens {
            bos_token: spec.token(spec.bos_token_id, "tokenizer.ggml.bos_token_id")?,
            eos_token: spec.token(spec.eos_token_id, "tokenizer.ggml.eos_token_id")?,
            unk_token: spec.token(spec.unknown_token_id, "tokenizer.ggml.unknown_token_id")?,
            pad_token: spec.token(spec.padding_token_id, "tokenizer.ggml.padding_token_id")?,
        };
        let template = spec
            .chat_template
            .as_deref()
            .map(ChatTemplate::new)
            .transpose()?;
        Self::new(inner, tokens, template)
    }

    /// Token ids of `text`. With `add_special_tokens`, the tokenizer's post-processor adds what
    /// the model expects around a sequence (e.g. BOS); special-token text such as
    /// `<|im_start|>` in `text` is always matched whole.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode_fast(text, add_special_tokens)
            .map_err(|e| TextError::Tokenizers {
                what: "encode",
                reason: e.to_string(),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; with `skip_special_tokens` special tokens are left out.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| {
            TextError::Tokenizers {
                what: "decode",
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// The id of a token (vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The special-token strings (BOS, EOS, UNK, PAD) the model defines.
    pub fn special_tokens(&self) -> &TemplateTokens {
        &self.tokens
    }

    /// The beginning-of-sequence id, if any.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.tokens
            .bos_token
            .as_deref()
            .and_then(|t| self.token_to_id(t))
    }

    /// The end-of-sequence ids (generation stops on any).
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_token_ids
    }

    /// The padding id, if any.
    pub fn pad_token_id(&self) -> Option<u32> {
        self.tokens
            .pad_token
            .as_deref()
            .and_then(|t| self.token_to_id(t))
    }

    /// The model's chat template, if it has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// Renders `messages` with the model's chat template (a [`TextError::NoChatTemplate`] when
    /// there is none). Encode the result with `add_special_tokens = false`, as transformers does:
    /// the template writes the special tokens itself.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .chat_template
            .as_ref()
            .ok_or(TextError::NoChatTemplate)?;
        template.render(messages, add_generation_prompt, &self.tokens)
    }

    /// The underlying `tokenizers` pipeline.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// What `tokenizer_config.json` contributes: special-token strings and the chat template.
struct HfTokenizerConfig {
    tokens: TemplateTokens,
    chat_template: Option<ChatTemplate>,
}

impl HfTokenizerConfig {
    fn read(path: &Path) -> Result<Self> {
        let bad = |reason: String| TextError::BadFile {
            path: PathBuf::from(path),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|source| TextError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json: Json = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        // A special token is a string or an `AddedToken` object `{"content": ...}`.
        let token = |key: &str| -> Option<String> {
            match json.get(key)? {
                Json::String(s) => Some(s.clone()),
                Json::Object(o) => o.get("content")?.as_str().map(str::to_string),
                _ => None,
            }
        };
        let tokens = TemplateTokens {
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            unk_token: token("unk_token"),
            pad_token: token("pad_token"),
        };
        // `chat_template` is a string, or a list of `{name, template}` of which "default" is used.
        let source = match json.get("chat_template") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(Json::as_str)
                .map(str::to_string),
            Some(other) => {
                return Err(bad(format!(
                    "`chat_template` is neither a string nor a list: {other}"
                ))
                .into());
            }
        };
        let chat_template = source.map(ChatTemplate::new).transpose()?;
        Ok(Self {
            tokens,
            chat_template,
        })
    }
}
