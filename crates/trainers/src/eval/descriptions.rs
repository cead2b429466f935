//! The description sets T2L adapters are generated from (reference §5,
//! `eval_hypermod.generate_loras_for_tasks_from_descs`), read from `tasks/benchmarks.json`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::data::benchmarks::benchmark_template;
use crate::error::{Error, Result};
use crate::eval::benchmark::Benchmark;

/// Which descriptions a benchmark's T2L adapters come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DescriptionSet {
    /// The benchmark's first training description.
    Train,
    /// Its three held-out evaluation descriptions.
    Eval,
    /// Three descriptions of other benchmarks (seeded pick).
    Other,
    /// The three random strings (`"dogs;cats;bananas;"`, gibberish, `"ggg…"`).
    Random,
}

impl DescriptionSet {
    /// All four, in report order.
    pub const ALL: [DescriptionSet; 4] = [
        DescriptionSet::Train,
        DescriptionSet::Eval,
        DescriptionSet::Other,
        DescriptionSet::Random,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DescriptionSet::Train => "train",
            DescriptionSet::Eval => "eval",
            DescriptionSet::Other => "other",
            DescriptionSet::Random => "random",
        }
    }
}

impl fmt::Display for DescriptionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DescriptionSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                Error::config(
                    "descriptions",
                    format!(
                        "unknown description set `{s}` (expected train, eval, other or random)"
                    ),
                )
            })
    }
}

#[derive(Deserialize)]
struct RandomDescriptions {
    random_descriptions: Vec<String>,
}

/// How many descriptions of other benchmarks the `other` set takes (as the reference).
const OTHER_COUNT: usize = 3;

/// The descriptions of `benchmark` in `set`. `other` is a seeded pick among the training
/// descriptions of the other benchmarks in `benchmarks.json`.
pub fn descriptions(
    tasks_dir: &Path,
    benchmark: Benchmark,
    set: DescriptionSet,
    seed: u64,
) -> Result<Vec<String>> {
    let file = tasks_dir.join("benchmarks.json");
    let out = match set {
        DescriptionSet::Train => benchmark_template(tasks_dir, benchmark.name())?
            .descriptions
            .into_iter()
            .take(1)
            .collect(),
        DescriptionSet::Eval => benchmark_template(tasks_dir, benchmark.name())?.eval_descriptions,
        DescriptionSet::Random => {
            let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
            let r: RandomDescriptions =
                serde_json::from_str(&text).map_err(|source| Error::Json {
                    path: file.display().to_string(),
                    source,
                })?;
            r.random_descriptions
        }
        DescriptionSet::Other => {
            let mut pool = Vec::new();
            for b in Benchmark::ALL.into_iter().filter(|&b| b != benchmark) {
                pool.extend(benchmark_template(tasks_dir, b.name())?.descriptions);
            }
            let mut rng = StdRng::seed_from_u64(seed ^ (benchmark as u64).wrapping_mul(0x9E37));
            let n = OTHER_COUNT.min(pool.len());
            rand::seq::index::sample(&mut rng, pool.len(), n)
                .into_iter()
                .map(|i| pool[i].clone())
                .collect()
        }
    };
    if out.is_empty() {
        return Err(Error::data(
            file.display().to_string(),
            format!("benchmark `{benchmark}` has no `{set}` descriptions"),
        ));
    }
    Ok(out)
}
