//! Tokenizers (from `tokenizer.json` or rebuilt from GGUF metadata) and chat templates.
