//! [`TextError`]: what can go wrong building a tokenizer, tokenizing or rendering a chat template.

use std::path::PathBuf;

/// A tokenizer or chat template could not be built or used.
///
/// Every variant names the file, metadata key, pre-tokenizer or template at fault. It reaches
/// callers as [`crate::Error::Text`].
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A tokenizer file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A tokenizer file is not valid JSON, or not the structure expected.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file (`tokenizer.json`, `tokenizer_config.json`).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// GGUF tokenizer metadata is missing a key or has values that do not fit together.
    #[error("GGUF tokenizer metadata `{key}`: {reason}")]
    Metadata {
        /// The metadata key at fault (`tokenizer.ggml.tokens`, ...).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `tokenizer.ggml.model` names a tokenizer kind this crate does not rebuild.
    #[error("GGUF tokenizer model `{model}` is not supported (supported: gpt2 byte-level BPE)")]
    UnsupportedModel {
        /// The value of `tokenizer.ggml.model`.
        model: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not know.
    #[error(
        "GGUF pre-tokenizer `{pre}` is not supported (supported: {})",
        crate::text::gguf_tokenizer::SUPPORTED_PRE_TOKENIZERS.join(", ")
    )]
    UnsupportedPreTokenizer {
        /// The value of `tokenizer.ggml.pre`.
        pre: String,
    },
    /// The `tokenizers` library failed (building, encoding or decoding).
    #[error("tokenizer: {what}: {reason}")]
    Tokenizers {
        /// What was being done (`"encode"`, `"decode"`, `"build BPE"`, ...).
        what: &'static str,
        /// The library's message.
        reason: String,
    },
    /// A chat template does not compile or fails while rendering (`raise_exception` included).
    #[error("chat template: {stage} failed: {reason}")]
    ChatTemplate {
        /// `"compile"` or `"render"`.
        stage: &'static str,
        /// The template engine's message (with the line, where it knows it).
        reason: String,
    },
    /// A chat template was asked for, but the model ships none.
    #[error("the model has no chat template (tokenizer.chat_template / tokenizer_config.json)")]
    NoChatTemplate,
}
