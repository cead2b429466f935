//! Rebuilding a byte-level BPE tokenizer from GGUF metadata (`tokenizer.ggml.*`).
//!
//! A GGUF carries no `tokenizer.json`: it stores the vocabulary, the merges, a type per token and
//! a pre-tokenizer name. [`GgufTokenizerSpec`] holds those values; [`GgufTokenizerSpec::build`]
//! turns them into a `tokenizers` pipeline the way llama.cpp reads them (and transformers'
//! `gguf_file=` loading rebuilds them):
//!
//! - model `gpt2`: byte-level BPE over `tokens` (ids = positions) and `merges`;
//! - token types `CONTROL` (3) become special added tokens (skipped on decode), `USER_DEFINED` (4)
//!   plain added tokens; both are matched whole in the input text;
//! - the pre-tokenizer follows `tokenizer.ggml.pre` (see [`PreTokenizerFamily`]);
//! - a BOS (and EOS) token is added on `encode(.., true)` when `add_bos_token` (`add_eos_token`) is set.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::error::Result;
use crate::loading::gguf::GgufMetadata;
use crate::text::error::TextError;

/// GGUF token type of a control token (`<|im_start|>`, `<|endoftext|>`, ...).
pub const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of a user-defined added token (matched whole, but not special).
pub const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The `tokenizer.ggml.pre` values [`PreTokenizerFamily::from_gguf_name`] accepts.
pub const SUPPORTED_PRE_TOKENIZERS: &[&str] = &[
    "default",
    "gpt2",
    "gpt-2",
    "smollm",
    "llama-bpe",
    "llama3",
    "llama-v3",
    "qwen2",
    "deepseek-r1-qwen",
];

/// Llama-3's split regex (llama.cpp `llama-bpe`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split regex (llama.cpp `qwen2`): digits one at a time.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How text is split before BPE, by the family `tokenizer.ggml.pre` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizerFamily {
    /// GPT-2's regex (`default`, `gpt2`; also what a file without `tokenizer.ggml.pre` gets).
    Gpt2,
    /// SmolLM: every digit on its own, then the GPT-2 regex.
    SmolLm,
    /// Llama 3 (`llama-bpe`): numbers in groups of up to three; whole-word vocabulary hits skip the
    /// merges (`ignore_merges`, as llama.cpp and the Llama-3 `tokenizer.json` do).
    Llama3,
    /// Qwen2: like Llama 3 but every digit on its own.
    Qwen2,
}

impl PreTokenizerFamily {
    /// The family of a `tokenizer.ggml.pre` value; an unknown one is a
    /// [`TextError::UnsupportedPreTokenizer`] naming it.
    pub fn from_gguf_name(pre: &str) -> Result<Self> {
        Ok(match pre {
            "default" | "gpt2" | "gpt-2" => Self::Gpt2,
            "smollm" => Self::SmolLm,
            "llama-bpe" | "llama3" | "llama-v3" => Self::Llama3,
            "qwen2" | "deepseek-r1-qwen" => Self::Qwen2,
            other => {
                return Err(TextError::UnsupportedPreTokenizer { pre: other.into() }.into());
            }
        })
    }

    /// The `tokenizers` pre-tokenizer of the family.
    pub fn pre_tokenizer(self) -> Result<PreTokenizerWrapper> {
        let split = |regex: &str| -> Result<PreTokenizerWrapper> {
            let split = Split::new(
                SplitPattern::Regex(regex.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| TextError::Tokenizers {
                what: "compile the pre-tokenizer regex",
                reason: e.to_string(),
            })?;
            Ok(Sequence::new(vec![
                split.into(),
                ByteLevel::new(false, true, false).into(),
            ])
            .into())
        };
        match self {
            Self::Gpt2 => Ok(ByteLevel::new(false, true, true).into()),
            Self::SmolLm => Ok(Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])
            .into()),
            Self::Llama3 => split(LLAMA3_SPLIT),
            Self::Qwen2 => split(QWEN2_SPLIT),
        }
    }

    /// Whether BPE takes a pre-token found whole in the vocabulary without merging.
    pub fn ignore_merges(self) -> bool {
        matches!(self, Self::Llama3)
    }
}

/// The tokenizer-related GGUF metadata, in typed form.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTokenizerSpec {
    /// `tokenizer.ggml.model` (`gpt2` is rebuilt).
    pub model: String,
    /// `tokenizer.ggml.pre`, if present.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: the vocabulary, id = position.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`, one per token (1 normal, 3 control, 4 user-defined, ...).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"left right"` pairs, best first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_token_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unknown_token_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub padding_token_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token` (absent: false, as for every gpt2-model file).
    pub add_bos_token: bool,
    /// `tokenizer.ggml.add_eos_token` (absent: false).
    pub add_eos_token: bool,
    /// `tokenizer.chat_template`, if present.
    pub chat_template: Option<String>,
}

impl GgufTokenizerSpec {
    /// Reads the `tokenizer.*` keys of a GGUF file's metadata.
    pub fn from_metadata(meta: &GgufMetadata) -> Result<Self> {
        let opt_u32 = |key: &str| -> Result<Option<u32>> {
            Ok(if meta.contains(key) {
                Some(meta.get_u32(key)?)
            } else {
                None
            })
        };
        let opt_bool =
            |key: &str| -> Result<bool> { Ok(meta.contains(key) && meta.get_bool(key)?) };
        let opt_str = |key: &str| -> Result<Option<String>> {
            Ok(if meta.contains(key) {
                Some(meta.get_str(key)?.to_string())
            } else {
                None
            })
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            Ok(meta
                .get_string_array(key)?
                .into_iter()
                .map(str::to_string)
                .collect())
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let token_types = if meta.contains("tokenizer.ggml.token_type") {
            meta.get_i32_array("tokenizer.ggml.token_type")?
        } else {
            Vec::new()
        };
        let merges = if meta.contains("tokenizer.ggml.merges") {
            strings("tokenizer.ggml.merges")?
        } else {
            Vec::new()
        };
        Ok(Self {
            model: meta.get_str("tokenizer.ggml.model")?.to_string(),
            pre: opt_str("tokenizer.ggml.pre")?,
            tokens,
            token_types,
            merges,
            bos_token_id: opt_u32("tokenizer.ggml.bos_token_id")?,
            eos_token_id: opt_u32("tokenizer.ggml.eos_token_id")?,
            unknown_token_id: opt_u32("tokenizer.ggml.unknown_token_id")?,
            padding_token_id: opt_u32("tokenizer.ggml.padding_token_id")?,
            add_bos_token: opt_bool("tokenizer.ggml.add_bos_token")?,
            add_eos_token: opt_bool("tokenizer.ggml.add_eos_token")?,
            chat_template: opt_str("tokenizer.chat_template")?,
        })
    }

    /// The token text of an id named by the metadata, checked against the vocabulary.
    pub fn token(&self, id: Option<u32>, key: &str) -> Result<Option<String>> {
        match id {
            None => Ok(None),
            Some(id) => match self.tokens.get(id as usize) {
                Some(t) => Ok(Some(t.clone())),
                None => Err(TextError::Metadata {
                    key: key.into(),
                    reason: format!(
                        "id {id} is outside the vocabulary of {} tokens",
                        self.tokens.len()
                    ),
                }
                .into()),
            },
        }
    }

    /// Builds the `tokenizers` pipeline (no normalizer, no padding, no truncation).
    pub fn build(&self) -> Result<tokenizers::Tokenizer> {
        if self.model != "gpt2" {
            return Err(TextError::UnsupportedModel {
                model: self.model.clone(),
            }
            .into());
        }
        if self.tokens.is_empty() {
            return Err(TextError::Metadata {
                key: "tokenizer.ggml.tokens".into(),
                reason: "the vocabulary is empty".into(),
            }
            .into());
        }
        if !self.token_types.is_empty() && self.token_types.len() != self.tokens.len() {
            return Err(TextError::Metadata {
                key: "tokenizer.ggml.token_type".into(),
                reason: format!(
                    "{} types for {} tokens",
                    self.token_types.len(),
                    self.tokens.len()
                ),
            }
            .into());
        }
        let family = match &self.pre {
            Some(pre) => PreTokenizerFamily::from_gguf_name(pre)?,
            None => PreTokenizerFamily::Gpt2,
        };

        let alphabet = byte_level_alphabet();
        let alphabet_set: std::collections::HashSet<char> = alphabet.iter().copied().collect();
        let in_alphabet = |t: &str| t.chars().all(|c| alphabet_set.contains(&c));
        let mut vocab = Vocab::default();
        for (id, token) in self.tokens.iter().enumerate() {
            let spelled = if in_alphabet(token) {
                token.clone()
            } else {
                token.bytes().map(|b| alphabet[b as usize]).collect()
            };
            vocab.entry(spelled).or_insert(id as u32);
        }
        let merges = self
            .merges
            .iter()
            .enumerate()
            .map(|(i, m)| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| TextError::Metadata {
                        key: "tokenizer.ggml.merges".into(),
                        reason: format!("merge {i} `{m}` is not two tokens separated by a space"),
                    })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(family.ignore_merges())
            .build()
            .map_err(|e| TextError::Tokenizers {
                what: "build the BPE model from GGUF metadata",
                reason: e.to_string(),
            })?;

        let mut tokenizer = tokenizers::Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(family.pre_tokenizer()?));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));

        // Control tokens spelled outside the byte alphabet are llama.cpp mislabels (transformers
        // skips them too); user-defined tokens are added only when the BPE vocabulary has them.
        let typed = |ty: i32| {
            self.tokens
                .iter()
                .zip(&self.token_types)
                .filter(move |(_, t)| **t == ty)
                .map(|(tok, _)| tok)
        };
        let control: Vec<AddedToken> = typed(TOKEN_TYPE_CONTROL)
            .filter(|t| in_alphabet(t))
            .map(|t| AddedToken::from(t.clone(), true).normalized(false))
            .collect();
        tokenizer.add_special_tokens(&control);
        let user: Vec<AddedToken> = typed(TOKEN_TYPE_USER_DEFINED)
            .filter(|t| in_alphabet(t))
            .map(|t| AddedToken::from(t.clone(), false).normalized(false))
            .collect();
        tokenizer.add_tokens(&user);

        let bos = self.token(self.bos_token_id, "tokenizer.ggml.bos_token_id")?;
        let eos = self.token(self.eos_token_id, "tokenizer.ggml.eos_token_id")?;
        let mut single = Vec::new();
        let mut special = Vec::new();
        if self.add_bos_token
            && let (Some(t), Some(id)) = (&bos, self.bos_token_id)
        {
            single.push(t.clone());
            special.push((t.clone(), id));
        }
        single.push("$A".to_string());
        if self.add_eos_token
            && let (Some(t), Some(id)) = (&eos, self.eos_token_id)
        {
            single.push(t.clone());
            special.push((t.clone(), id));
        }
        let mut pair = single.clone();
        pair.extend(single.iter().map(|p| {
            if p == "$A" {
                "$B:1".to_string()
            } else {
                format!("{p}:1")
            }
        }));
        special.dedup();
        let processor = TemplateProcessing::builder()
            .try_single(single)
            .and_then(|b| b.try_pair(pair))
            .map_err(|e| TextError::Tokenizers {
                what: "build the BOS/EOS template",
                reason: e.to_string(),
            })?
            .special_tokens(special)
            .build()
            .map_err(|e| TextError::Tokenizers {
                what: "build the BOS/EOS template",
                reason: e.to_string(),
            })?;
        tokenizer.with_post_processor(Some(processor));
        Ok(tokenizer)
    }
}

/// GPT-2's byte-to-character table (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the rest to U+0100 onwards. Index = byte.
pub fn byte_level_alphabet() -> Vec<char> {
    let keep = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
    let mut next = 0x100;
    (0u32..256)
        .map(|b| {
            if keep(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                let c = char::from_u32(next).unwrap_or('?');
                next += 1;
                c
            }
        })
        .collect()
}
