//! What the CLI tests share: where the real models are.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// `rel` under the assets directory (`T2L_ASSETS`, else `<repo>/assets`); fails the test with the
/// command to run when it is missing.
pub fn asset(rel: &str) -> PathBuf {
    let p = std::env::var_os("T2L_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-assets.sh",
        p.display()
    );
    p
}

/// The real SmolLM2-135M-Instruct GGUF.
pub fn smollm2_gguf() -> PathBuf {
    asset("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The real all-MiniLM-L6-v2 directory.
pub fn minilm() -> PathBuf {
    asset("all-minilm-l6-v2")
}
