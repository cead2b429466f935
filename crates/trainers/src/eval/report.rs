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
    /// Total log-probability of each answer label (loglik protocol) or of each choice's text
    /// (cloze protocol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_logprobs: Option<Vec<f64>>,
    /// Characters of each choice's text (cloze protocol; the normaliser of `choice_logprobs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_chars: Option<Vec<usize>>,
    /// Whether the choice with the highest *total* log-probability is correct (cloze protocol,
    /// lm-eval's `acc`; `correct` is the per-character `acc_norm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_sum: Option<bool>,
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
    /// Cloze protocol: the accuracy when choices are compared by total rather than
    /// per-character log-probability (lm-eval's `acc`; `accuracy` is its `acc_norm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_sum: Option<f64>,
}

/// A row's average accuracy over the benchmarks under one protocol, with its standard error
/// ([`EvalReport::mean_with_error`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Average {
    /// The method's label.
    pub method: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Mean over the benchmarks of the per-benchmark accuracy.
    pub mean: f64,
    /// Its standard error.
    pub std_error: f64,
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
    /// A report of `records`, scored with [`Self::score`]. `seed` 0, no `limit`, no `sandbox`
    /// and 0 `seconds`: a run sets its own with struct-update syntax.
    ///
    /// ```
    /// use trainers::eval::{benchmark::Benchmark, protocol::Protocol, report::EvalReport};
    /// let report = EvalReport::from_records(
    ///     "m",
    ///     Vec::new(),
    ///     vec!["base".to_string()],
    ///     vec![Benchmark::ArcEasy],
    ///     vec![Protocol::Loglik],
    /// );
    /// assert!(report.scores.is_empty());
    /// ```
    pub fn from_records(
        model: impl Into<String>,
        records: Vec<ExampleRecord>,
        methods: Vec<String>,
        benchmarks: Vec<Benchmark>,
        protocols: Vec<Protocol>,
    ) -> Self {
        Self {
            model: model.into(),
            seed: 0,
            limit: None,
            scores: Self::score(&records, &methods, &benchmarks, &protocols),
            protocols,
            methods,
            benchmarks,
            records,
            sandbox: None,
            seconds: 0.0,
        }
    }

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
                    let cell: Vec<&ExampleRecord> = records
                        .iter()
                        .filter(|r| &r.method == m && r.benchmark == b && r.protocol == p)
                        .collect();
                    let n = cell.len();
                    if n == 0 {
                        continue;
                    }
                    let correct = cell.iter().filter(|r| r.correct).count();
                    let sums: Vec<bool> = cell.iter().filter_map(|r| r.correct_sum).collect();
                    out.push(Score {
                        method: m.clone(),
                        benchmark: b,
                        protocol: p,
                        n,
                        correct,
                        accuracy: correct as f64 / n as f64,
                        accuracy_sum: (sums.len() == n)
                            .then(|| sums.iter().filter(|&&c| c).count() as f64 / n as f64),
                    });
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

    /// A row's average accuracy over the benchmarks it was scored on under `protocol`, with its
    /// standard error, `None` when nothing was scored.
    ///
    /// The examples are the sampling units: an example's score is its mean correctness over
    /// the row's descriptions (T2L rows: the same example under each description is not an
    /// independent sample), a benchmark's standard error is `√(Σ(xᵢ − x̄)² / n) / √n` over its
    /// `n` examples (for 0/1 scores the binomial `√(p(1−p)/n)`), and the average's is
    /// `√(Σ se_b²) / k` over its `k` benchmarks.
    pub fn mean_with_error(&self, method: &str, protocol: Protocol) -> Option<(f64, f64)> {
        let mut per_benchmark = Vec::new();
        for &b in &self.benchmarks {
            let mut by_row: std::collections::BTreeMap<usize, (usize, usize)> = Default::default();
            for r in self
                .records
                .iter()
                .filter(|r| r.method == method && r.benchmark == b && r.protocol == protocol)
            {
                let e = by_row.entry(r.row).or_default();
                e.0 += usize::from(r.correct);
                e.1 += 1;
            }
            if by_row.is_empty() {
                continue;
            }
            let x: Vec<f64> = by_row.values().map(|&(c, n)| c as f64 / n as f64).collect();
            let n = x.len() as f64;
            let mean = x.iter().sum::<f64>() / n;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            per_benchmark.push((mean, var / n));
        }
        let k = per_benchmark.len() as f64;
        (k > 0.0).then(|| {
            let mean = per_benchmark.iter().map(|p| p.0).sum::<f64>() / k;
            let var = per_benchmark.iter().map(|p| p.1).sum::<f64>();
            (mean, var.sqrt() / k)
        })
    }

    /// [`Self::mean_with_error`] of every row under every protocol of the run (rows and
    /// protocols in order; cells without scores left out).
    pub fn averages(&self) -> Vec<Average> {
        let mut out = Vec::new();
        for m in &self.methods {
            for &p in &self.protocols {
                if let Some((mean, std_error)) = self.mean_with_error(m, p) {
                    out.push(Average {
                        method: m.clone(),
                        protocol: p,
                        mean,
                        std_error,
                    });
                }
            }
        }
        out
    }

    /// The rows' averages over the benchmarks with their standard errors, one column per
    /// protocol: `| 45.0 ± 7.1 |` in percent, `—` where nothing was scored.
    pub fn markdown_averages(&self) -> String {
        let mut s = String::from("| average ± standard error |");
        for p in &self.protocols {
            s.push_str(&format!(" {p} |"));
        }
        s.push_str("\n|---|");
        for _ in &self.protocols {
            s.push_str("---:|");
        }
        s.push('\n');
        let averages = self.averages();
        for m in &self.methods {
            s.push_str(&format!("| {m} |"));
            for &p in &self.protocols {
                match averages.iter().find(|a| &a.method == m && a.protocol == p) {
                    Some(a) => s.push_str(&format!(
                        " {:.1} ± {:.1} |",
                        100.0 * a.mean,
                        100.0 * a.std_error
                    )),
                    None => s.push_str(" — |"),
                }
            }
            s.push('\n');
        }
        s
    }

    /// The paper's table for one protocol: accuracy in percent, `—` where the protocol does not
    /// apply, and the average over the measured cells of each row. For the cloze protocol this
    /// is the per-character (`acc_norm`) accuracy.
    pub fn markdown(&self, protocol: Protocol) -> String {
        self.table(&protocol.to_string(), |m, b| self.accuracy(m, b, protocol))
    }

    /// The cloze protocol's table by total log-probability (lm-eval's `acc`), headed
    /// `cloze (sum)`; `None` when the cloze protocol did not run.
    pub fn markdown_cloze_sum(&self) -> Option<String> {
        self.protocols.contains(&Protocol::Cloze).then(|| {
            self.table("cloze (sum)", |m, b| {
                self.scores
                    .iter()
                    .find(|s| s.method == m && s.benchmark == b && s.protocol == Protocol::Cloze)
                    .and_then(|s| s.accuracy_sum)
            })
        })
    }

    /// Every table of the run: one per protocol, then the cloze `(sum)` table if cloze ran.
    pub fn markdown_tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self.protocols.iter().map(|&p| self.markdown(p)).collect();
        tables.extend(self.markdown_cloze_sum());
        tables
    }

    fn table(&self, title: &str, cell: impl Fn(&str, Benchmark) -> Option<f64>) -> String {
        let mut s = format!("| {title} |");
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
                match cell(m, b) {
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

    /// Writes `results.json` (everything) and `results.md` ([`Self::markdown_tables`]) into
    /// `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json = serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            path: dir.join("results.json").display().to_string(),
            source,
        })?;
        let path = dir.join("results.json");
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))?;
        let md = self.markdown_tables();
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
            choice_chars: None,
            correct_sum: (p == Protocol::Cloze).then_some(!correct),
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
        let report = EvalReport::from_records("m", records, methods, benchmarks, vec![Loglik]);
        let md = report.markdown(Loglik);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| loglik | ArcE | BQ | GSM8K | Avg. |");
        assert_eq!(lines[2], "| base | 50.0 | 100.0 | — | 75.0 |");
        assert_eq!(lines[3], "| T2L | 100.0 | — | — | 100.0 |");
        assert_eq!(report.accuracy("base", ArcEasy, Loglik), Some(0.5));
        assert!(report.markdown_cloze_sum().is_none());
        assert_eq!(report.markdown_tables().len(), 1);
    }

    #[test]
    fn standard_errors_treat_examples_as_units() {
        use Benchmark::*;
        let at = |method: &str, b, row, correct| ExampleRecord {
            row,
            ..rec(method, b, Protocol::Loglik, correct)
        };
        // base: ArcE 1 of 4 rows right, PIQA 2 of 4. "t2l": two descriptions per row; ArcE rows
        // 0 and 1 right under both, row 2 under one (0.5), row 3 under none.
        let mut records = Vec::new();
        for (row, c) in [true, false, false, false].into_iter().enumerate() {
            records.push(at("base", ArcEasy, row, c));
        }
        for (row, c) in [true, true, false, false].into_iter().enumerate() {
            records.push(at("base", Piqa, row, c));
        }
        for (row, cs) in [[true, true], [true, true], [true, false], [false, false]]
            .into_iter()
            .enumerate()
        {
            for c in cs {
                records.push(at("t2l", ArcEasy, row, c));
            }
        }
        let methods = vec!["base".to_string(), "t2l".to_string()];
        let benchmarks = vec![ArcEasy, Piqa];
        let report =
            EvalReport::from_records("m", records, methods, benchmarks, vec![Protocol::Loglik]);
        let (m, se) = report.mean_with_error("base", Protocol::Loglik).unwrap();
        assert!((m - 0.375).abs() < 1e-12);
        // √(0.25·0.75/4 + 0.5·0.5/4) / 2
        let want = ((0.1875f64 + 0.25) / 4.0).sqrt() / 2.0;
        assert!((se - want).abs() < 1e-12, "{se} vs {want}");
        // t2l on ArcE only: scores 1, 1, 0.5, 0 → mean 0.625, var (0.140625·2 + 0.015625 +
        // 0.390625) / 4 = 0.171875, se √(0.171875 / 4).
        let (m, se) = report.mean_with_error("t2l", Protocol::Loglik).unwrap();
        assert!((m - 0.625).abs() < 1e-12);
        assert!((se - (0.171875f64 / 4.0).sqrt()).abs() < 1e-12, "{se}");
        assert!(report.mean_with_error("t2l", Protocol::Cloze).is_none());
        assert!(report.mean_with_error("nobody", Protocol::Loglik).is_none());
        assert_eq!(report.averages().len(), 2);
        let md = report.markdown_averages();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| average ± standard error | loglik |");
        assert_eq!(lines[2], format!("| base | 37.5 ± {:.1} |", 100.0 * want));
        assert_eq!(lines[3], "| t2l | 62.5 ± 20.7 |");
    }

    #[test]
    fn cloze_has_a_sum_table() {
        use Benchmark::*;
        let records = vec![
            rec("base", Piqa, Protocol::Cloze, true),
            rec("base", Piqa, Protocol::Cloze, true),
            rec("base", Piqa, Protocol::Cloze, false),
            rec("base", Piqa, Protocol::Cloze, true),
        ];
        let methods = vec!["base".to_string()];
        let scores = EvalReport::score(&records, &methods, &[Piqa], &[Protocol::Cloze]);
        assert_eq!(scores[0].accuracy, 0.75);
        // `rec` marks the sum criterion as the opposite of the per-character one.
        assert_eq!(scores[0].accuracy_sum, Some(0.25));
        let report =
            EvalReport::from_records("m", records, methods, vec![Piqa], vec![Protocol::Cloze]);
        let tables = report.markdown_tables();
        assert_eq!(tables.len(), 2);
        assert!(tables[0].contains("| cloze | PIQA | Avg. |") && tables[0].contains("| 75.0 |"));
        assert!(tables[1].contains("| cloze (sum) | PIQA |") && tables[1].contains("| 25.0 |"));
    }
}
