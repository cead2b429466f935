//! Benchmark accuracy of one condition (the base model or a PEFT adapter) on one benchmark,
//! through the trainers' [`Evaluator`], cached in the work directory so that reruns and other
//! experiments reuse the cells they share (the base model and the oracles).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use base_llm::{Llama, ModelBundle};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lora_core::load_peft;
use lora_core::peft::weights_path;
use serde::{Deserialize, Serialize};
use trainers::data::chat::ChatEncoder;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::codec::EvalCodec;
use trainers::eval::protocol::Protocol;
use trainers::eval::runner::{EvalOptions, Evaluator, Method};
use trainers::{Error, Result};

use crate::compression::cache::cached;
use crate::results::{Report, Table, percent};

/// The accuracy of a condition on a benchmark under one protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellScore {
    /// The protocol.
    pub protocol: Protocol,
    /// Examples scored.
    pub n: usize,
    /// Correct answers.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
}

/// The scores of one condition on one benchmark (every protocol that applies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The benchmark.
    pub benchmark: Benchmark,
    /// Scores per protocol.
    pub scores: Vec<CellScore>,
    /// Evaluation wall time in seconds (of the run that made it).
    pub seconds: f64,
}

impl CellScore {
    /// The binomial standard error of the accuracy, `√(p(1−p)/n)` (0 when nothing was scored).
    pub fn std_error(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        (self.accuracy * (1.0 - self.accuracy) / self.n as f64).sqrt()
    }
}

impl Cell {
    /// The score under `protocol`, if measured.
    pub fn score(&self, protocol: Protocol) -> Option<&CellScore> {
        self.scores.iter().find(|s| s.protocol == protocol)
    }

    /// The accuracy under `protocol`, if measured.
    pub fn accuracy(&self, protocol: Protocol) -> Option<f64> {
        self.score(protocol).map(|s| s.accuracy)
    }
}

/// What is evaluated in a cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Condition {
    /// The base model, zero-shot.
    Base,
    /// A PEFT adapter directory, merged.
    Adapter(PathBuf),
}

/// The base model with its tokenizer, evaluating cells.
pub struct CellEvaluator<'a, B: Backend> {
    /// The frozen base model.
    pub model: &'a mut Llama<B>,
    /// Its tokenizer and chat template.
    pub codec: &'a dyn EvalCodec,
    /// The folder holding `benchmarks/` and `tasks/`.
    pub data_root: PathBuf,
    /// Protocols, example limit, seed, batch size.
    pub options: EvalOptions,
    /// Where cells are cached (`DIR/BENCHMARK/KEY/`).
    pub cache_dir: PathBuf,
    /// Draw a progress bar per cell.
    pub progress: bool,
}

/// The cache spec of a cell: the adapter by its weights' content (none: the base model), the benchmark and the
/// options that change numbers.
#[derive(Serialize)]
struct CellSpec {
    adapter_hash: Option<String>,
    benchmark: Benchmark,
    protocols: Vec<Protocol>,
    limit: Option<usize>,
    seed: u64,
    max_new_tokens: usize,
}

impl<B: Backend> CellEvaluator<'_, B> {
    /// Scores `condition` on `benchmark` (or reads the cached cell). `label` names it on the
    /// progress bar.
    pub fn cell(
        &mut self,
        label: &str,
        condition: &Condition,
        benchmark: Benchmark,
    ) -> Result<Cell> {
        let adapter_hash = match condition {
            Condition::Base => None,
            Condition::Adapter(dir) => Some(content_hash(&weights_path(dir))?),
        };
        let key = match (&condition, &adapter_hash) {
            (Condition::Adapter(_), Some(h)) => format!("adapter-{h}"),
            _ => "base".to_string(),
        };
        let spec = CellSpec {
            adapter_hash: adapter_hash.clone(),
            benchmark,
            protocols: self.options.protocols.clone(),
            limit: self.options.limit,
            seed: self.options.seed,
            max_new_tokens: self.options.max_new_tokens,
        };
        let dir = self.cache_dir.join(benchmark.name()).join(key);
        let (cell, _) = cached(&dir, &spec, |_| self.run(label, condition, benchmark))?;
        Ok(cell)
    }

    fn run(&mut self, label: &str, condition: &Condition, benchmark: Benchmark) -> Result<Cell> {
        let device = self.model.device();
        let adapter = match condition {
            Condition::Base => None,
            Condition::Adapter(dir) => Some(load_peft::<B>(dir, &device)?),
        };
        let method = match &adapter {
            None => Method::Base,
            Some(a) => Method::Adapter {
                name: label.to_string(),
                adapter: a,
            },
        };
        let method_label = method.label();
        let bar = if self.progress {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} examples  eta {eta}  {msg}",
                )
                .expect("valid template"),
            );
            bar.set_message(format!("{label} on {}", benchmark.name()));
            bar
        } else {
            ProgressBar::hidden()
        };
        let report = Evaluator::new(
            self.model,
            self.codec,
            self.data_root.clone(),
            self.options.clone(),
        )
        .with_progress(bar.clone())
        .run("base", &[benchmark], &[method])?;
        bar.finish_and_clear();
        let scores = report
            .scores
            .iter()
            .filter(|s| s.method == method_label)
            .map(|s| CellScore {
                protocol: s.protocol,
                n: s.n,
                correct: s.correct,
                accuracy: s.accuracy,
            })
            .collect();
        Ok(Cell {
            benchmark,
            scores,
            seconds: report.seconds,
        })
    }
}

/// A stable-within-a-build hash of a file's bytes, as 16 hex digits.
pub(crate) fn content_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Ok(format!("{:016x}", h.finish()))
}

/// A table row: its label and, per benchmark (in column order), the condition evaluated there.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionRow {
    /// The row label (e.g. `oracle LoRA`, `T2L-M (one-hot)`).
    pub label: String,
    /// One condition per benchmark.
    pub conditions: Vec<Condition>,
}

/// The cells of `rows` × `benchmarks`, row by row.
pub fn evaluate_rows<B: Backend>(
    evaluator: &mut CellEvaluator<'_, B>,
    rows: &[ConditionRow],
    benchmarks: &[Benchmark],
) -> Result<Vec<Vec<Cell>>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        check_row_width(row, benchmarks.len())?;
    }
    for row in rows {
        let mut cells = Vec::with_capacity(benchmarks.len());
        for (condition, &b) in row.conditions.iter().zip(benchmarks) {
            cells.push(evaluator.cell(&row.label, condition, b)?);
        }
        out.push(cells);
    }
    Ok(out)
}

/// Refuses a row whose conditions do not match the benchmark columns one to one.
fn check_row_width(row: &ConditionRow, n_benchmarks: usize) -> Result<()> {
    if row.conditions.len() != n_benchmarks {
        return Err(Error::config(
            "rows",
            format!(
                "row `{}` has {} conditions for {} benchmarks",
                row.label,
                row.conditions.len(),
                n_benchmarks
            ),
        ));
    }
    Ok(())
}

/// The mean of the measured accuracies of `cells` under `protocol` (`None` if none was).
pub fn mean_accuracy(cells: &[Cell], protocol: Protocol) -> Option<f64> {
    mean_with_error(cells, protocol).map(|(mean, _)| mean)
}

/// The mean of the measured accuracies of `cells` under `protocol` and its standard error
/// (the cells' binomial errors combined as independent: `√Σse²/k`); `None` if none was measured.
pub fn mean_with_error(cells: &[Cell], protocol: Protocol) -> Option<(f64, f64)> {
    let v: Vec<&CellScore> = cells.iter().filter_map(|c| c.score(protocol)).collect();
    let k = v.len() as f64;
    (!v.is_empty()).then(|| {
        let mean = v.iter().map(|s| s.accuracy).sum::<f64>() / k;
        let var = v.iter().map(|s| s.std_error().powi(2)).sum::<f64>();
        (mean, var.sqrt() / k)
    })
}

/// `45.0 ± 7.0`: an accuracy and its standard error in percent.
pub fn percent_with_error(accuracy: f64, std_error: f64) -> String {
    format!("{} ± {:.1}", percent(accuracy), 100.0 * std_error)
}

/// The paper's table for one protocol: rows × benchmarks in percent and the row average, each
/// with its standard error.
pub fn accuracy_table(
    protocol: Protocol,
    labels: &[String],
    cells: &[Vec<Cell>],
    benchmarks: &[Benchmark],
) -> Result<Table> {
    let mut header = vec![protocol.name().to_string()];
    header.extend(benchmarks.iter().map(|b| b.title().to_string()));
    header.push("Avg.".into());
    let mut table = Table::new(header);
    for (label, row) in labels.iter().zip(cells) {
        let mut line = vec![label.clone()];
        line.extend(row.iter().map(|c| {
            c.score(protocol).map_or("—".into(), |s| {
                percent_with_error(s.accuracy, s.std_error())
            })
        }));
        line.push(
            mean_with_error(row, protocol)
                .map_or("—".into(), |(m, se)| percent_with_error(m, se)),
        );
        table
            .push_row(line)
            .map_err(|e| Error::data("accuracy table", e.to_string()))?;
    }
    Ok(table)
}

/// `report` with one [`accuracy_table`] per protocol appended.
pub fn with_accuracy_tables(
    mut report: Report,
    protocols: &[Protocol],
    labels: &[String],
    cells: &[Vec<Cell>],
    benchmarks: &[Benchmark],
) -> Result<Report> {
    for &p in protocols {
        report = report.table(
            accuracy_table(p, labels, cells, benchmarks)?
                .with_caption(format!("Benchmark accuracy, {p} protocol")),
        );
    }
    Ok(report)
}

/// Loads the base model for evaluation with its chat-template codec.
pub fn open_base<B: Backend>(path: &Path, device: &B::Device) -> Result<(Llama<B>, ChatEncoder)> {
    let bundle = ModelBundle::<B>::load(path, device)?;
    Ok((bundle.model, ChatEncoder::new(bundle.tokenizer)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(benchmark: Benchmark, generate: f64, loglik: Option<f64>) -> Cell {
        let score = |protocol, accuracy: f64| CellScore {
            protocol,
            n: 10,
            correct: (accuracy * 10.0).round() as usize,
            accuracy,
        };
        let mut scores = vec![score(Protocol::Generate, generate)];
        scores.extend(loglik.map(|a| score(Protocol::Loglik, a)));
        Cell {
            benchmark,
            scores,
            seconds: 1.0,
        }
    }

    #[test]
    fn table_rows_average_the_measured_cells() {
        let benchmarks = [Benchmark::ArcEasy, Benchmark::Piqa];
        let cells = vec![vec![
            cell(Benchmark::ArcEasy, 0.2, Some(0.5)),
            cell(Benchmark::Piqa, 0.6, None),
        ]];
        assert_eq!(mean_accuracy(&cells[0], Protocol::Generate), Some(0.4));
        assert_eq!(mean_accuracy(&cells[0], Protocol::Loglik), Some(0.5));
        let t = accuracy_table(Protocol::Loglik, &["oracle".into()], &cells, &benchmarks).unwrap();
        assert_eq!(t.header.len(), 4);
        assert_eq!(t.rows[0], ["oracle", "50.0 ± 15.8", "—", "50.0 ± 15.8"]);
        let (m, se) = mean_with_error(&cells[0], Protocol::Generate).unwrap();
        assert!((m - 0.4).abs() < 1e-12);
        // √(0.2·0.8/10 + 0.6·0.4/10) / 2
        assert!((se - 0.1).abs() < 1e-12, "{se}");
        let err = evaluate_rows_width_error();
        assert!(err.contains("row `x`"), "{err}");
    }

    /// A row with the wrong number of conditions is refused before any model is touched.
    fn evaluate_rows_width_error() -> String {
        let row = ConditionRow {
            label: "x".into(),
            conditions: vec![Condition::Base],
        };
        check_row_width(&row, 2).unwrap_err().to_string()
    }
}
