//! The loss of the base model and of adapters on an oracle task's held-back training rows: the
//! rows its LoRA SFT run kept out of training for validation (same data config and seed, so
//! the same rows), scored with the training loss (label-smoothed cross-entropy over the
//! response, no dropout, no NEFTune). Where benchmark accuracy is at chance for every condition,
//! this still shows whether a regenerated adapter does what its oracle does. Cached.

use std::path::{Path, PathBuf};

use base_llm::{Adapters, TrainOptions};
use burn::prelude::*;
use lora_core::load_peft;
use lora_core::peft::weights_path;
use serde::Serialize;
use trainers::data::sft_data::{SftData, load_tasks};
use trainers::lora_sft::validation_loss;
use trainers::loss::sft_loss;
use trainers::{Error, Result};

use crate::compression::cache::cached;
use crate::compression::cell_eval::{Condition, content_hash};
use crate::compression::oracles::{OracleSettings, OracleTask, oracle_config};

/// The cache spec: the task, its oracle settings and the conditions by content.
#[derive(Serialize)]
struct HeldoutSpec<'a> {
    task: &'a OracleTask,
    settings: &'a OracleSettings,
    adapters: Vec<Option<String>>,
}

/// The held-back-row loss of every condition on `task` (in order), cached in `cache_dir/NAME/`.
/// Errors when the oracle settings hold back no rows.
pub fn heldout_losses<B: Backend>(
    cache_dir: &Path,
    task: &OracleTask,
    settings: &OracleSettings,
    conditions: &[Condition],
    device: &B::Device,
) -> Result<Vec<f64>> {
    if settings.val_rows == 0 {
        return Err(Error::config(
            "oracle val_rows",
            format!("{}: no held-back rows to score", task.name),
        ));
    }
    let adapters = conditions
        .iter()
        .map(|c| match c {
            Condition::Base => Ok(None),
            Condition::Adapter(dir) => content_hash(&weights_path(dir)).map(Some),
        })
        .collect::<Result<Vec<_>>>()?;
    let spec = HeldoutSpec {
        task,
        settings,
        adapters,
    };
    let dir = cache_dir.join(&task.name);
    let (losses, _) = cached(&dir, &spec, |_| {
        score::<B>(task, settings, conditions, device)
    })?;
    Ok(losses)
}

fn score<B: Backend>(
    task: &OracleTask,
    settings: &OracleSettings,
    conditions: &[Condition],
    device: &B::Device,
) -> Result<Vec<f64>> {
    let cfg = oracle_config(task, settings, &PathBuf::from("unused"), false);
    let (llm, encoder) = cfg.model.load::<B>(device)?;
    let (tasks, heldout) = load_tasks(&cfg.data)?;
    let data = SftData::new(tasks, heldout, encoder, &cfg.data, cfg.run.seed)?;
    let ls = cfg.loss.label_smoothing;
    let mut out = Vec::with_capacity(conditions.len());
    for c in conditions {
        let adapter = match c {
            Condition::Base => None,
            Condition::Adapter(dir) => Some(load_peft::<B>(dir, device)?),
        };
        let loss = validation_loss(&data, |_, batch| {
            let adapters = adapter.as_ref().map_or(Adapters::None, Adapters::Single);
            sft_loss(&llm, batch, adapters, TrainOptions::default(), ls)
        })?
        .ok_or_else(|| Error::data(&task.name, "no held-back rows to score"))?;
        out.push(loss);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn settings_without_held_back_rows_are_refused_before_loading_anything() {
        let settings = OracleSettings {
            model: "no-such-model.gguf".into(),
            steps: 1,
            batch_size: 1,
            lr: 1e-3,
            max_len: 64,
            val_rows: 0,
            seed: 0,
        };
        let tmp = tempfile::tempdir().unwrap();
        let err = heldout_losses::<Flex>(
            tmp.path(),
            &OracleTask::benchmark("piqa"),
            &settings,
            &[Condition::Base],
            &Default::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("piqa"), "{err}");
        assert!(!tmp.path().join("piqa").exists());
    }
}
