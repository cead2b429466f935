//! Oracle LoRAs as a reconstruction library: each with its task's training descriptions
//! (benchmarks: `tasks/benchmarks.json` `descriptions`; suite tasks: `tasks/index.json`).

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use trainers::Result;
use trainers::data::benchmarks::benchmark_template;
use trainers::data::tasks::TaskSuite;

use crate::compression::oracles::{OracleLora, TaskSource};
use crate::compression::recon_variants::LibraryEntry;

/// The library entries of `oracles`, each with the first `descriptions_per_task` training
/// descriptions of its task (read from `data_root/tasks/`).
pub fn library_entries(
    oracles: &[OracleLora],
    data_root: &Path,
    descriptions_per_task: usize,
) -> Result<Vec<LibraryEntry>> {
    let tasks_dir = data_root.join("tasks");
    let mut suite: Option<TaskSuite> = None;
    let mut out = Vec::with_capacity(oracles.len());
    for o in oracles {
        let mut descriptions = match o.task.source {
            TaskSource::Benchmark => benchmark_template(&tasks_dir, &o.task.name)?.descriptions,
            TaskSource::Suite => {
                if suite.is_none() {
                    suite = Some(TaskSuite::open(&tasks_dir)?);
                }
                let suite = suite.as_ref().expect("opened above");
                suite.task(&o.task.name)?.descriptions.clone()
            }
        };
        descriptions.truncate(descriptions_per_task.max(1));
        out.push(LibraryEntry {
            name: o.task.name.clone(),
            adapter_dir: o.adapter_dir.clone(),
            descriptions,
        });
    }
    Ok(out)
}

/// `n` training tasks of the suite (`split_role = "train"`) in a seeded random order, skipping
/// the names in `exclude`: the extra tasks a growing library compresses.
pub fn suite_pool(data_root: &Path, n: usize, seed: u64, exclude: &[&str]) -> Result<Vec<String>> {
    let suite = TaskSuite::open(&data_root.join("tasks"))?;
    let mut names: Vec<String> = suite
        .train_tasks()
        .map(|t| t.name.clone())
        .filter(|name| !exclude.contains(&name.as_str()))
        .collect();
    names.shuffle(&mut StdRng::seed_from_u64(seed));
    if names.len() < n {
        return Err(trainers::Error::config(
            "pool",
            format!("{n} suite tasks asked for, {} available", names.len()),
        ));
    }
    names.truncate(n);
    Ok(names)
}
