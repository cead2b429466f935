//! Where this project keeps its real models: the directory `scripts/fetch-assets.sh` fills.
//!
//! The directory is `$T2L_ASSETS` when that is set, else `assets/` at the root of this workspace.
//! Tests, examples and benchmarks across the workspace find the models through here, so the
//! lookup rule lives in one place.
//!
//! ```no_run
//! let gguf = base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF)?;
//! let bundle = base_llm::ModelBundle::<burn::backend::Flex>::load(&gguf, &Default::default())?;
//! # Ok::<(), base_llm::Error>(())
//! ```

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The environment variable that overrides the assets directory.
pub const ASSETS_ENV: &str = "T2L_ASSETS";

/// SmolLM2-135M-Instruct (GGUF, Q4_1), relative to the assets directory.
pub const SMOLLM2_GGUF: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// all-MiniLM-L6-v2 (safetensors + `tokenizer.json`), relative to the assets directory.
pub const MINILM_DIR: &str = "all-minilm-l6-v2";

/// The assets directory: `$T2L_ASSETS`, else `<workspace>/assets`.
pub fn assets_dir() -> PathBuf {
    std::env::var_os(ASSETS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
}

/// `relative` under [`assets_dir`], or [`Error::MissingAsset`] (which names the path and the
/// command that fetches it) when it does not exist.
pub fn asset(relative: &str) -> Result<PathBuf> {
    let path = assets_dir().join(relative);
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::MissingAsset { path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_asset_names_its_path_and_the_fetch_script() {
        let err = asset("no-such-model/weights.gguf").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no-such-model/weights.gguf"), "{msg}");
        assert!(msg.contains("scripts/fetch-assets.sh"), "{msg}");
    }
}
