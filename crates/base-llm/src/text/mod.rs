//! Tokenizers (from `tokenizer.json` or rebuilt from GGUF metadata) and chat templates.
//!
//! - [`tokenizer`]: [`Tokenizer`], encode / decode, special tokens, chat template of a model.
//! - [`gguf_tokenizer`]: [`GgufTokenizerSpec`], the byte-level BPE rebuilt from `tokenizer.ggml.*`
//!   with the pre-tokenizer of its family ([`PreTokenizerFamily`]).
//! - [`chat_template`]: [`ChatTemplate`] and [`ChatMessage`], Jinja templates rendered with minijinja.
//! - [`jinja_compat`]: what transformers adds to the template engine (`raise_exception`,
//!   `strftime_now`, Python's `tojson`, Python string methods).
//! - [`error`]: the error type, [`TextError`].

pub mod chat_template;
pub mod error;
pub mod gguf_tokenizer;
pub mod jinja_compat;
pub mod tokenizer;

pub use chat_template::{ChatMessage, ChatTemplate, TemplateTokens};
pub use error::TextError;
pub use gguf_tokenizer::{GgufTokenizerSpec, PreTokenizerFamily};
pub use tokenizer::Tokenizer;
