//! What the CLI tests share: where the real models are.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// `rel` under the assets directory (`T2L_ASSETS`, else `<repo>/assets`); fails the test with the
/// command to run when it is missing.
pub fn asset(rel: &str) -> PathBuf {
    base_llm::assets::asset(rel).unwrap_or_else(|e| panic!("{e}"))
}

/// The real SmolLM2-135M-Instruct GGUF.
pub fn smollm2_gguf() -> PathBuf {
    asset(base_llm::assets::SMOLLM2_GGUF)
}

/// The real all-MiniLM-L6-v2 directory.
pub fn minilm() -> PathBuf {
    asset(base_llm::assets::MINILM_DIR)
}
