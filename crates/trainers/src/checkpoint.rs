//! Checkpoints: the trainable module, the optimizer state and the loop/sampler state, written
//! atomically, and found again for `--resume`.
//!
//! Layout under a run directory:
//! ```text
//! <out_dir>/checkpoints/step-000120/{model.bin, best.bin, optim.bin, state.json}
//! <out_dir>/checkpoints/latest            # the name of the newest complete checkpoint
//! ```
//! A checkpoint is first written to `step-000120.tmp/` and renamed when complete; `latest` is
//! replaced by writing `latest.tmp` and renaming it. A run killed at any moment leaves either the
//! previous or the new checkpoint, never a half-written one.
//!
//! The sampler needs no state of its own: every batch is a pure function of the run's seed and the
//! step number (see [`crate::data::sampler`]), so `state.json`'s `seed` and `step` restore it.

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optim::TrainOptimizer;

/// The loop state saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Which trainer wrote it (`lora`, `recon`, `sft`).
    pub trainer: String,
    /// Optimizer steps completed.
    pub step: usize,
    /// The run's seed (with `step`, this fixes the sampler's and the noise generators' positions).
    pub seed: u64,
    /// Total steps the run was configured for.
    pub total_steps: usize,
    /// Wall seconds spent so far (all segments of the run).
    pub elapsed_s: f64,
    /// Best validation loss seen so far.
    pub best_val: Option<f64>,
    /// Validations since the best one (early stopping counter).
    pub vals_since_best: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

const MODEL: &str = "model.bin";
const BEST: &str = "best.bin";
const OPTIM: &str = "optim.bin";
const STATE: &str = "state.json";
const LATEST: &str = "latest";

type Rec = BinFileRecorder<FullPrecisionSettings>;

/// The checkpoint folder of a run directory.
pub fn checkpoints_dir(out_dir: &Path) -> PathBuf {
    out_dir.join("checkpoints")
}

fn rec_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::checkpoint(path, e.to_string())
}

/// Writes a checkpoint of `model`, the best model so far, `optim` and `state` under `out_dir`
/// and points `latest` at it. Older checkpoints of the run are removed once the new one is
/// complete. Returns its directory.
pub fn save_checkpoint<B: AutodiffBackend, M: AutodiffModule<B>>(
    out_dir: &Path,
    model: &M,
    best: &M,
    optim: &TrainOptimizer<B, M>,
    state: &TrainState,
) -> Result<PathBuf> {
    let root = checkpoints_dir(out_dir);
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    let name = format!("step-{:08}", state.step);
    let tmp = root.join(format!("{name}.tmp"));
    let fin = root.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let rec = Rec::default();
    Recorder::<B>::record(&rec, model.clone().into_record(), tmp.join(MODEL))
        .map_err(|e| rec_err(&tmp.join(MODEL), e))?;
    Recorder::<B>::record(&rec, best.clone().into_record(), tmp.join(BEST))
        .map_err(|e| rec_err(&tmp.join(BEST), e))?;
    Recorder::<B>::record(&rec, optim.to_record(), tmp.join(OPTIM))
        .map_err(|e| rec_err(&tmp.join(OPTIM), e))?;
    let json = serde_json::to_string_pretty(state).expect("state serialises");
    std::fs::write(tmp.join(STATE), json).map_err(|e| Error::io(&tmp.join(STATE), e))?;
    if fin.exists() {
        std::fs::remove_dir_all(&fin).map_err(|e| Error::io(&fin, e))?;
    }
    std::fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
    write_atomic(&root.join(LATEST), name.as_bytes())?;
    // Older complete checkpoints are no longer needed.
    let entries = std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))?;
    for entry in entries.flatten() {
        let n = entry.file_name().to_string_lossy().to_string();
        if n.starts_with("step-") && n != name && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(|e| Error::io(&entry.path(), e))?;
        }
    }
    Ok(fin)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Resolves what `--resume` names: a checkpoint directory itself, or a run directory whose
/// `checkpoints/latest` points at one.
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join(STATE).is_file() {
        return Ok(path.to_path_buf());
    }
    let latest = checkpoints_dir(path).join(LATEST);
    let name = std::fs::read_to_string(&latest).map_err(|_| {
        Error::checkpoint(
            path,
            "neither a checkpoint (no state.json) nor a run directory with checkpoints/latest",
        )
    })?;
    let dir = checkpoints_dir(path).join(name.trim());
    if !dir.join(STATE).is_file() {
        return Err(Error::checkpoint(
            &dir,
            "checkpoints/latest names a missing checkpoint",
        ));
    }
    Ok(dir)
}

/// Reads the loop state of a checkpoint directory.
pub fn load_state(dir: &Path) -> Result<TrainState> {
    let p = dir.join(STATE);
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: p.display().to_string(),
        source,
    })
}

/// A checkpoint loaded back: the model, the best model, the optimizer and the loop state.
pub struct LoadedCheckpoint<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// The model at the checkpoint's step.
    pub model: M,
    /// The model with the best validation loss so far.
    pub best: M,
    /// The optimizer with its moments.
    pub optim: TrainOptimizer<B, M>,
    /// The loop state.
    pub state: TrainState,
}

/// Loads a checkpoint's records into freshly built `model` / `optim` (same architecture).
pub fn load_checkpoint<B: AutodiffBackend, M: AutodiffModule<B>>(
    dir: &Path,
    model: M,
    optim: TrainOptimizer<B, M>,
    device: &B::Device,
) -> Result<LoadedCheckpoint<B, M>> {
    let state = load_state(dir)?;
    let rec = Rec::default();
    let load_model = |name: &str, model: M| -> Result<M> {
        let p = dir.join(name);
        let record = Recorder::<B>::load(&rec, p.clone(), device).map_err(|e| rec_err(&p, e))?;
        Ok(model.load_record(record))
    };
    let best = load_model(BEST, model.clone())?;
    let model = load_model(MODEL, model)?;
    let op = dir.join(OPTIM);
    let optim_record =
        Recorder::<B>::load(&rec, op.clone(), device).map_err(|e| rec_err(&op, e))?;
    Ok(LoadedCheckpoint {
        model,
        best,
        optim: optim.load_record(optim_record),
        state,
    })
}
