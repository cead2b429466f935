//! What the CLI tests share: where the real models are.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

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

/// Runs the `t2l` binary with `args` and collects its output.
pub fn t2l(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
        .args(args)
        .output()
        .unwrap()
}

/// Expects a failure reported as one `t2l: error: ...` line; returns it.
pub fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("t2l: error: "), "{err}");
    err
}
