//! The multi-task training suite (`shared/data/tasks/`): `index.json` (descriptions, held-out
//! flags) and `TASK.{train,test}.jsonl.gz` rows of `{"input", "output"}`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One `{"input", "output"}` pair: the user turn (no chat template) and the exact target text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The complete user turn.
    pub input: String,
    /// The target response (no EOS).
    pub output: String,
}

/// Whether a task trains the hypernetwork or is held out to measure generalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitRole {
    /// A hypernetwork training task.
    Train,
    /// An unseen task for validation; never trained on.
    Heldout,
}

/// The `index.json` entry of a task (fields the trainers use; others are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Task name (= file prefix).
    pub name: String,
    /// `multiple_choice`, `classification`, `short_answer` or `math`.
    pub kind: String,
    /// Rows in the train file.
    pub n_train: usize,
    /// Rows in the test file.
    pub n_test: usize,
    /// Training descriptions (T2L's first 128, or 20 handwritten).
    pub descriptions: Vec<String>,
    /// Three further descriptions, never among `descriptions`.
    pub eval_descriptions: Vec<String>,
    /// Train or held-out.
    pub split_role: SplitRole,
}

/// Which file of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `TASK.train.jsonl.gz`
    Train,
    /// `TASK.test.jsonl.gz`
    Test,
}

impl Split {
    fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// The data root (the folder holding `tasks/` and `benchmarks/`): `$T2L_DATA` if set, else
/// `<repo>/../shared/data`. A typed error lists what was tried when neither exists.
pub fn data_root() -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("T2L_DATA") {
        let p = PathBuf::from(p);
        if p.join("tasks").join("index.json").is_file() {
            return Ok(p);
        }
        tried.push(format!("T2L_DATA={}", p.display()));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = repo.join("../shared/data");
    if p.join("tasks").join("index.json").is_file() {
        return Ok(p);
    }
    tried.push(p.display().to_string());
    Err(Error::DataNotFound {
        tried: tried.join(", "),
    })
}

/// Reads gzipped JSON lines into `T`, naming `file:line` on a bad row.
pub fn read_jsonl_gz<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = BufReader::new(GzDecoder::new(f));
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|source| Error::Json {
            path: format!("{}:{}", path.display(), i + 1),
            source,
        })?);
    }
    Ok(out)
}

/// The task suite: its index and access to each task's rows.
///
/// ```no_run
/// use trainers::data::tasks::{Split, TaskSuite, data_root};
/// let suite = TaskSuite::open(&data_root()?.join("tasks"))?;
/// let rows = suite.load("glue_sst2", Split::Train)?;
/// println!("{} training tasks, sst2 has {} rows", suite.train_tasks().count(), rows.len());
/// # Ok::<(), trainers::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TaskSuite {
    dir: PathBuf,
    tasks: Vec<TaskInfo>,
}

impl TaskSuite {
    /// Reads `dir/index.json`.
    pub fn open(dir: &Path) -> Result<Self> {
        let index = dir.join("index.json");
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let tasks: Vec<TaskInfo> = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: index.display().to_string(),
            source,
        })?;
        for t in &tasks {
            if t.descriptions.is_empty() {
                return Err(Error::data(
                    index.display().to_string(),
                    format!("task `{}` has no descriptions", t.name),
                ));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            tasks,
        })
    }

    /// The suite found through [`data_root`].
    pub fn locate() -> Result<Self> {
        Self::open(&data_root()?.join("tasks"))
    }

    /// The folder the suite lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All tasks, sorted by name.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }

    /// A task by name.
    pub fn task(&self, name: &str) -> Result<&TaskInfo> {
        self.tasks.iter().find(|t| t.name == name).ok_or_else(|| {
            Error::data(
                self.dir.join("index.json").display().to_string(),
                format!("no task named `{name}`"),
            )
        })
    }

    /// The hypernetwork training tasks.
    pub fn train_tasks(&self) -> impl Iterator<Item = &TaskInfo> {
        self.tasks
            .iter()
            .filter(|t| t.split_role == SplitRole::Train)
    }

    /// The held-out (unseen) tasks.
    pub fn heldout_tasks(&self) -> impl Iterator<Item = &TaskInfo> {
        self.tasks
            .iter()
            .filter(|t| t.split_role == SplitRole::Heldout)
    }

    /// The rows of one split of a task.
    pub fn load(&self, name: &str, split: Split) -> Result<Vec<Example>> {
        self.task(name)?;
        let path = self.dir.join(format!("{name}.{}.jsonl.gz", split.as_str()));
        let rows: Vec<Example> = read_jsonl_gz(&path)?;
        if rows.is_empty() {
            return Err(Error::data(path.display().to_string(), "no rows"));
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_gz(path: &Path, lines: &[&str]) {
        let f = std::fs::File::create(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        for l in lines {
            writeln!(gz, "{l}").unwrap();
        }
        gz.finish().unwrap();
    }

    #[test]
    fn reads_index_and_rows_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let index = serde_json::json!([
            {"name": "a", "kind": "math", "n_train": 2, "n_test": 1, "descriptions": ["d1", "d2"],
             "eval_descriptions": ["e"], "split_role": "train", "extra": 1},
            {"name": "b", "kind": "math", "n_train": 1, "n_test": 1, "descriptions": ["d"],
             "eval_descriptions": [], "split_role": "heldout"}
        ]);
        std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
        write_gz(
            &dir.path().join("a.train.jsonl.gz"),
            &[
                r#"{"input":"1+1","output":"2"}"#,
                r#"{"input":"2+2","output":"4"}"#,
            ],
        );
        write_gz(&dir.path().join("b.train.jsonl.gz"), &[r#"{"input":"x"}"#]);
        let suite = TaskSuite::open(dir.path()).unwrap();
        assert_eq!(suite.train_tasks().count(), 1);
        assert_eq!(suite.heldout_tasks().next().unwrap().name, "b");
        let rows = suite.load("a", Split::Train).unwrap();
        assert_eq!(rows[1].output, "4");
        let e = suite.load("b", Split::Train).unwrap_err().to_string();
        assert!(e.contains("b.train.jsonl.gz:1"), "{e}");
        assert!(suite.load("zzz", Split::Train).is_err());
        let e = suite.load("a", Split::Test).unwrap_err().to_string();
        assert!(e.contains("a.test.jsonl.gz"), "{e}");
    }

    #[test]
    fn real_suite_when_present() {
        let Ok(suite) = TaskSuite::locate() else {
            return; // data not on this machine
        };
        assert_eq!(suite.tasks().len(), 91);
        assert_eq!(suite.heldout_tasks().count(), 10);
        let rows = suite.load("superglue_cb", Split::Test).unwrap();
        assert_eq!(rows.len(), suite.task("superglue_cb").unwrap().n_test);
    }
}
