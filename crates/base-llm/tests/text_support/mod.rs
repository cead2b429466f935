//! Helpers shared by the `text_*` tests: asset and fixture paths, JSON id lists.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// An asset that must exist (the tests fail with the fetch command otherwise).
pub fn asset(relative: &str) -> PathBuf {
    base_llm::assets::asset(relative).unwrap_or_else(|e| panic!("{e}"))
}

/// The real SmolLM2-135M-Instruct GGUF.
pub fn smollm2_gguf() -> PathBuf {
    asset(base_llm::assets::SMOLLM2_GGUF)
}

/// A file under `tests/fixtures/`.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// A JSON fixture under `tests/fixtures/`.
pub fn fixture_json(relative: &str) -> Value {
    let path = fixture_path(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of token ids.
pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("an id list")
        .iter()
        .map(|x| x.as_u64().expect("an id") as u32)
        .collect()
}
