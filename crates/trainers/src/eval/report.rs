//! [`EvalReport`]: per-example records, accuracies per (method, benchmark, protocol), JSON and
//! the paper's table layout (rows = methods, columns = benchmarks + average).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::eval::benchmark::Benchmark;
use crate::eval::protocol::Protocol;
use crate::eval::sandbox::{Isolation, Verdict};

/// One scored example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleRecord {
    /// The method's label (a row of the table).
    pub method: String,
    /// The benchmark.
    pub benchmark: Benchmark,
    /// The protocol.
    pub protocol: Protocol,
    /// The description the adapter was generated from (T2L methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 0-based row in the split file.
    pub row: usize,
    /// Prompt tokens (chat template, context and prefill included).
    pub prompt_tokens: usize,
    /// The generated reply (generate protocol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Total log-probability of each answer label (loglik protocol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_logprobs: Option<Vec<f64>>,
    /// The parsed or chosen answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<String>,
    /// The gold answer as the scorer sees it.
    pub gold: String,
    /// Whether the example counts as solved.
    pub correct: bool,
    /// How the tests ended (code benchmarks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Verdict>,
}

/// The accuracy of one method on one benchmark under one protocol (over all its descriptions:
/// the mean of the per-description accuracies, as every description sees the same examples).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// The method's label.
    pub method: String,
    /// The benchmark.
    pub benchmark: Benchmark,
    /// The protocol.
    pub protocol: Protocol,
    /// Examples scored (× descriptions).
    pub n: usize,
    /// Of which correct.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
}

/// Everything one evaluation run produced.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The base model.
    pub model: String,
    /// The seed of subsampling and description picks.
    pub seed: u64,
    /// `--limit`, if any.
    pub limit: Option<usize>,
    /// Protocols run.
    pub protocols: Vec<Protocol>,
    /// Method labels, in row order.
    pub methods: Vec<String>,
    /// Benchmarks, in column order.
    pub benchmarks: Vec<Benchmark>,
    /// Accuracies.
    pub scores: Vec<Score>,
    /// Every scored example.
    pub records: Vec<ExampleRecord>,
    /// The sandbox's isolation (when code benchmarks ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Isolation>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

impl EvalReport {
    /// Builds the scores from the records, in method × benchmark × protocol order.
    pub fn score(
        records: &[ExampleRecord],
        methods: &[String],
        benchmarks: &[Benchmark],
        protocols: &[Protocol],
    ) -> Vec<Score> {
        let mut out = Vec::new();
        for m in methods {
            for &b in benchmarks {
                for &p in protocols {
                    let (n, correct) = records
                        .iter()
                        .filter(|r| &r.method == m && r.benchmark == b && r.protocol == p)
                        .fold((0, 0), |(n, c), r| (n + 1, c + usize::from(r.correct)));
                    if n > 0 {
                        out.push(Score {
                            method: m.clone(),
                            benchmark: b,
                            protocol: p,
                            n,
                            correct,
                            accuracy: correct as f64 / n as f64,
                        });
                    }
                }
            }
        }
        out
    }

    /// The accuracy of a cell, if it was measured.
    pub fn accuracy(&self, method: &str, benchmark: Benchmark, protocol: Protocol) -> Option<f64> {
        self.scores
            .iter()
            .find(|s| s.method == method && s.benchmark == benchmark && s.protocol == protocol)
            .map(|s| s.accuracy)
    }

    /// The paper's table for one protocol: accuracy in percent, `—` where the protocol does not
    /// apply, and the average over the measured cells of each row.
    pub fn markdown(&self, protocol: Protocol) -> String {
        let mut s = format!("| {protocol} |");
        for b in &self.benchmarks {
            s.push_str(&format!(" {} |", b.title()));
        }
        s.push_str(" Avg. |\n|---|");
        for _ in &self.benchmarks {
            s.push_str("---:|");
        }
        s.push_str("---:|\n");
        for m in &self.methods {
            s.push_str(&format!("| {m} |"));
            let mut sum = 0.0;
            let mut k = 0;
            for &b in &self.benchmarks {
                match self.accuracy(m, b, protocol) {
                    Some(a) => {
                        sum += a;
                        k += 1;
                        s.push_str(&format!(" {:.1} |", 100.0 * a));
                    }
                    None => s.push_str(" — |"),
                }
            }
            if k > 0 {
                s.push_str(&format!(" {:.1} |\n", 100.0 * sum / k as f64));
            } else {
                s.push_str(" — |\n");
            }
        }
        s
    }

    /// Writes `results.json` (everything) and `results.md` (one table per protocol) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json = serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            path: dir.join("results.json").display().to_string(),
            source,
        })?;
        let path = dir.join("results.json");
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))?;
        let md: Vec<String> = self.protocols.iter().map(|&p| self.markdown(p)).collect();
        let path = dir.join("results.md");
        std::fs::write(&path, md.join("\n")).map_err(|e| Error::io(&path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(method: &str, b: Benchmark, p: Protocol, correct: bool) -> ExampleRecord {
        ExampleRecord {
            method: method.into(),
            benchmark: b,
            protocol: p,
            description: None,
            row: 0,
            prompt_tokens: 1,
            reply: None,
            choice_logprobs: None,
            prediction: None,
            gold: "A".into(),
            correct,
            sandbox: None,
        }
    }

    #[test]
    fn table_layout_and_average() {
        use Benchmark::*;
        use Protocol::*;
        let records = vec![
            rec("base", ArcEasy, Loglik, true),
            rec("base", ArcEasy, Loglik, false),
            rec("base", Boolq, Loglik, true),
            rec("T2L", ArcEasy, Loglik, true),
        ];
        let methods = vec!["base".to_string(), "T2L".to_string()];
        let benchmarks = vec![ArcEasy, Boolq, Gsm8k];
        let report = EvalReport {
            model: "m".into(),
            seed: 0,
            limit: None,
            protocols: vec![Loglik],
            scores: EvalReport::score(&records, &methods, &benchmarks, &[Loglik]),
            methods,
            benchmarks,
            records,
            sandbox: None,
            seconds: 0.0,
        };
        let md = report.markdown(Loglik);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| loglik | ArcE | BQ | GSM8K | Avg. |");
        assert_eq!(lines[2], "| base | 50.0 | 100.0 | — | 75.0 |");
        assert_eq!(lines[3], "| T2L | 100.0 | — | — | 100.0 |");
        assert_eq!(report.accuracy("base", ArcEasy, Loglik), Some(0.5));
    }
}
