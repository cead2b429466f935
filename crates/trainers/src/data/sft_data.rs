//! [`SftData`]: the tasks of an SFT run, the hierarchical sampler over them, the encoder, and a
//! fixed validation set — what both LoRA SFT and T2L SFT draw their batches from.

use std::path::PathBuf;

use crate::config::SftDataConfig;
use crate::data::batch::{HostBatch, Weighting, collate};
use crate::data::benchmarks::load_benchmark_train;
use crate::data::encode::{PairEncoder, SftSample, encode_example};
use crate::data::sampler::{HierarchicalSampler, SampleRef, TaskSizes};
use crate::data::tasks::{Example, Split, TaskSuite, data_root};
use crate::error::{Error, Result};

/// Padding multiple of the collator (the reference pads to a multiple of 8).
const PAD_MULTIPLE: usize = 8;

/// One task of a run: its descriptions and its training / validation rows.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// Task name.
    pub name: String,
    /// Training descriptions.
    pub descriptions: Vec<String>,
    /// Rows drawn by the sampler.
    pub train: Vec<Example>,
    /// Validation rows (held back from `train`, or a held-out task's test rows).
    pub val: Vec<Example>,
}

/// One validation row: its task (index into [`SftData::val_tasks`]), the description it is
/// paired with, and its tokens.
#[derive(Debug, Clone)]
pub struct ValSample {
    /// Index into [`SftData::val_tasks`].
    pub task: usize,
    /// Row of that task's `val` list.
    pub example: usize,
    /// Description index (row index modulo the number of descriptions, as the reference does).
    pub description: usize,
    /// The tokenised row.
    pub sample: SftSample,
}

/// The resolved data of an SFT run.
pub struct SftData {
    /// Training tasks (sampler order).
    pub tasks: Vec<TaskData>,
    /// Tasks validated on: the training tasks, then the held-out tasks.
    pub val_tasks: Vec<TaskData>,
    /// The fixed validation set.
    pub val: Vec<ValSample>,
    sampler: HierarchicalSampler,
    encoder: Box<dyn PairEncoder>,
    max_len: usize,
    weighting: Weighting,
    val_batch_size: usize,
}

/// Resolves the data root of a config.
pub fn resolve_data_root(cfg: &SftDataConfig) -> Result<PathBuf> {
    match &cfg.data_dir {
        Some(d) if d.join("tasks").join("index.json").is_file() => Ok(d.clone()),
        Some(d) => Err(Error::DataNotFound {
            tried: d.display().to_string(),
        }),
        None => data_root(),
    }
}

/// Splits `rows` into (train, val): the last `fraction` of the rows (at most `max`) validate.
fn split_rows(mut rows: Vec<Example>, fraction: f64, max: usize) -> (Vec<Example>, Vec<Example>) {
    let n_val = ((rows.len() as f64 * fraction).round() as usize)
        .min(max)
        .min(rows.len().saturating_sub(1));
    let val = rows.split_off(rows.len() - n_val);
    (rows, val)
}

/// Loads the tasks a config names from the suite and the benchmark folder.
pub fn load_tasks(cfg: &SftDataConfig) -> Result<(Vec<TaskData>, Vec<TaskData>)> {
    let root = resolve_data_root(cfg)?;
    let suite = TaskSuite::open(&root.join("tasks"))?;
    let names: Vec<String> = if cfg.tasks.is_empty() && cfg.benchmarks.is_empty() {
        suite.train_tasks().map(|t| t.name.clone()).collect()
    } else {
        cfg.tasks.clone()
    };
    let mut tasks = Vec::new();
    for name in &names {
        let info = suite.task(name)?;
        let (train, val) = split_rows(
            suite.load(name, Split::Train)?,
            cfg.val_fraction,
            cfg.val_max_per_task,
        );
        tasks.push(TaskData {
            name: name.clone(),
            descriptions: info.descriptions.clone(),
            train,
            val,
        });
    }
    for name in &cfg.benchmarks {
        let b = load_benchmark_train(&root, name)?;
        let (train, val) = split_rows(b.examples, cfg.val_fraction, cfg.val_max_per_task);
        tasks.push(TaskData {
            name: name.clone(),
            descriptions: b.template.descriptions,
            train,
            val,
        });
    }
    let mut heldout = Vec::new();
    for name in &cfg.val_heldout_tasks {
        let info = suite.task(name)?;
        let mut val = suite.load(name, Split::Test)?;
        val.truncate(cfg.val_max_per_task);
        heldout.push(TaskData {
            name: name.clone(),
            descriptions: info.descriptions.clone(),
            train: Vec::new(),
            val,
        });
    }
    if let Some(k) = cfg.max_descriptions_per_task {
        if k == 0 {
            return Err(Error::config(
                "data.max_descriptions_per_task",
                "must be at least 1",
            ));
        }
        for t in tasks.iter_mut().chain(heldout.iter_mut()) {
            t.descriptions.truncate(k);
        }
    }
    Ok((tasks, heldout))
}

impl SftData {
    /// Builds the sampler and encodes the validation set.
    pub fn new(
        tasks: Vec<TaskData>,
        heldout: Vec<TaskData>,
        encoder: Box<dyn PairEncoder>,
        cfg: &SftDataConfig,
        seed: u64,
    ) -> Result<Self> {
        let sizes = tasks
            .iter()
            .map(|t| TaskSizes {
                examples: t.train.len(),
                descriptions: t.descriptions.len(),
            })
            .collect();
        let sampler =
            HierarchicalSampler::new(sizes, cfg.tasks_per_batch, cfg.points_per_task, seed)?;
        let val_tasks: Vec<TaskData> = tasks.iter().cloned().chain(heldout).collect();
        let mut val = Vec::new();
        for (ti, t) in val_tasks.iter().enumerate() {
            for (i, ex) in t.val.iter().enumerate() {
                val.push(ValSample {
                    task: ti,
                    example: i,
                    description: i % t.descriptions.len().max(1),
                    sample: encode_example(encoder.as_ref(), ex, cfg.max_len)?,
                });
            }
        }
        Ok(Self {
            tasks,
            val_tasks,
            val,
            sampler,
            encoder,
            max_len: cfg.max_len,
            weighting: if cfg.equally_weight_samples {
                Weighting::PerSample
            } else {
                Weighting::PerToken
            },
            val_batch_size: cfg.val_batch_size.max(1),
        })
    }

    /// The sampler.
    pub fn sampler(&self) -> &HierarchicalSampler {
        &self.sampler
    }

    /// The encoder.
    pub fn encoder(&self) -> &dyn PairEncoder {
        self.encoder.as_ref()
    }

    /// Training batch number `index`: the sampled references and the padded batch.
    pub fn train_batch(&self, index: usize) -> Result<(Vec<SampleRef>, HostBatch)> {
        let refs = self.sampler.batch(index);
        let samples = refs
            .iter()
            .map(|r| {
                encode_example(
                    self.encoder.as_ref(),
                    &self.tasks[r.task].train[r.example],
                    self.max_len,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = collate(
            &samples,
            self.encoder.pad_id(),
            PAD_MULTIPLE,
            self.weighting,
        );
        Ok((refs, batch))
    }

    /// The validation set in batches: the rows of each batch and the padded batch.
    pub fn val_batches(&self) -> Vec<(Vec<&ValSample>, HostBatch)> {
        self.val
            .chunks(self.val_batch_size)
            .map(|chunk| {
                let samples: Vec<SftSample> = chunk.iter().map(|v| v.sample.clone()).collect();
                (
                    chunk.iter().collect(),
                    collate(
                        &samples,
                        self.encoder.pad_id(),
                        PAD_MULTIPLE,
                        self.weighting,
                    ),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn val_split_takes_the_tail_and_keeps_a_training_row() {
        let rows: Vec<Example> = (0..10)
            .map(|i| Example {
                input: i.to_string(),
                output: String::new(),
            })
            .collect();
        let (t, v) = split_rows(rows.clone(), 0.2, 100);
        assert_eq!((t.len(), v.len()), (8, 2));
        assert_eq!(v[0].input, "8");
        let (t, v) = split_rows(rows.clone(), 0.5, 3);
        assert_eq!((t.len(), v.len()), (7, 3));
        let (t, v) = split_rows(rows[..1].to_vec(), 0.5, 3);
        assert_eq!((t.len(), v.len()), (1, 0));
    }
}
