//! Training metrics as JSON lines: one object per optimizer step (and per validation).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of `metrics.jsonl`.
///
/// Training lines carry `loss`, `lr`, `grad_norm`, `tokens`, `tokens_per_s`; validation lines
/// carry `val_loss` (and no training fields). `elapsed_s` is wall time since the run started
/// (summed over resumed segments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetricsRecord {
    /// Optimizer steps completed when the line was written.
    pub step: usize,
    /// Mean training loss of the step's micro-batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Learning rate the step used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Global gradient norm before clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    /// Tokens (or target elements) processed by the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
    /// Throughput of the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    /// Validation loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Seconds since the run started.
    pub elapsed_s: f64,
}

/// Appends [`MetricsRecord`]s to a JSONL file, flushing every line (a killed run loses nothing
/// that was logged).
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

impl MetricsWriter {
    /// Opens `path` for appending (created if absent).
    pub fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Keeps only the records of steps `<= step` (used on resume: lines written after the
    /// checkpoint by the interrupted run are dropped, then the resumed run rewrites them), then
    /// opens the file for appending.
    pub fn resume(path: &Path, step: usize) -> Result<Self> {
        let kept: Vec<MetricsRecord> = if path.exists() {
            read_metrics(path)?
                .into_iter()
                .filter(|r| r.step <= step)
                .collect()
        } else {
            Vec::new()
        };
        let tmp = path.with_extension("jsonl.tmp");
        {
            let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            for r in &kept {
                let line = serde_json::to_string(r).expect("metrics serialise");
                writeln!(f, "{line}").map_err(|e| Error::io(&tmp, e))?;
            }
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Self::append(path)
    }

    /// Writes one record.
    pub fn write(&mut self, record: &MetricsRecord) -> Result<()> {
        let line = serde_json::to_string(record).expect("metrics serialise");
        writeln!(self.file, "{line}").map_err(|e| Error::io(&self.path, e))?;
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads every record of a metrics file.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRecord>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_resume_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut w = MetricsWriter::append(&p).unwrap();
        for step in 1..=4 {
            w.write(&MetricsRecord {
                step,
                loss: Some(step as f64),
                elapsed_s: 0.5,
                ..Default::default()
            })
            .unwrap();
        }
        drop(w);
        let mut w = MetricsWriter::resume(&p, 2).unwrap();
        w.write(&MetricsRecord {
            step: 3,
            val_loss: Some(0.25),
            ..Default::default()
        })
        .unwrap();
        let back = read_metrics(&p).unwrap();
        assert_eq!(
            back.iter().map(|r| r.step).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(back[2].val_loss, Some(0.25));
        assert_eq!(back[0].lr, None);
    }
}
