//! How close the regenerated (T2L) adapters come to the oracles they compress, per scoring
//! protocol: each row's mean accuracy over the benchmarks and its difference to the base model
//! and to the oracle row, with standard errors, and a one-line verdict per row ("T2L ≈ oracle"
//! holds when the difference is within two standard errors).
//!
//! The differences' errors treat the two rows as independent samples (`√(se₁² + se₂²)`); the
//! rows are scored on the same examples, so this is conservative.

use serde::Serialize;
use trainers::eval::protocol::Protocol;
use trainers::{Error, Result};

use crate::compression::cell_eval::{Cell, mean_with_error, percent_with_error};
use crate::results::Table;

/// A difference of two mean accuracies with its standard error (fractions, not percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    /// `row − reference`.
    pub delta: f64,
    /// `√(se_row² + se_reference²)`.
    pub std_error: f64,
}

impl Difference {
    /// The difference of two `(mean, se)` pairs.
    pub fn between(row: (f64, f64), reference: (f64, f64)) -> Self {
        Self {
            delta: row.0 - reference.0,
            std_error: row.1.hypot(reference.1),
        }
    }

    /// Whether `|delta| ≤ 2·se` (no difference detectable at this sample size).
    pub fn within_two_se(&self) -> bool {
        self.delta.abs() <= 2.0 * self.std_error
    }

    /// `+3.0 ± 4.1` in percentage points.
    pub fn points(&self) -> String {
        format!("{:+.1} ± {:.1}", 100.0 * self.delta, 100.0 * self.std_error)
    }
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowComparison {
    /// The scoring protocol.
    pub protocol: Protocol,
    /// The row label.
    pub label: String,
    /// Mean accuracy over the benchmarks and its standard error.
    pub mean: (f64, f64),
    /// Against the base model row.
    pub vs_base: Difference,
    /// Against the oracle row.
    pub vs_oracle: Difference,
}

/// Compares every row of `cells` under `protocol` with the rows at `base` and `oracle`.
pub fn compare_rows(
    protocol: Protocol,
    labels: &[String],
    cells: &[Vec<Cell>],
    base: usize,
    oracle: usize,
) -> Result<Vec<RowComparison>> {
    let mean = |i: usize| -> Result<(f64, f64)> {
        cells
            .get(i)
            .and_then(|row| mean_with_error(row, protocol))
            .ok_or_else(|| {
                Error::data(
                    "oracle comparison",
                    format!("row {i} has no {protocol} scores"),
                )
            })
    };
    let (base_mean, oracle_mean) = (mean(base)?, mean(oracle)?);
    labels
        .iter()
        .enumerate()
        .take(cells.len())
        .map(|(i, label)| {
            let m = mean(i)?;
            Ok(RowComparison {
                protocol,
                label: label.clone(),
                mean: m,
                vs_base: Difference::between(m, base_mean),
                vs_oracle: Difference::between(m, oracle_mean),
            })
        })
        .collect()
}

/// The comparison as a table: mean ± se, Δ vs base, Δ vs oracle, and whether the row is
/// within 2 se of the oracle.
pub fn comparison_table(protocol: Protocol, rows: &[RowComparison]) -> Result<Table> {
    let mut t = Table::new([
        "row",
        "mean acc. %",
        "Δ vs base (points)",
        "Δ vs oracle (points)",
        "≈ oracle (|Δ| ≤ 2 se)",
    ])
    .with_caption(format!(
        "{protocol} protocol: mean over the benchmarks, differences with standard errors \
         (independent-sample errors; conservative, the rows share their examples)"
    ));
    for r in rows {
        t.push_row([
            r.label.clone(),
            percent_with_error(r.mean.0, r.mean.1),
            r.vs_base.points(),
            r.vs_oracle.points(),
            if r.vs_oracle.within_two_se() {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        ])
        .map_err(|e| Error::data("comparison table", e.to_string()))?;
    }
    Ok(t)
}

/// A plain-words verdict from the comparison rows: whether the oracle row beats the base
/// model (by more than 2 se) and, for every other row but the base, whether it is within 2 se
/// of the oracle.
pub fn verdict(rows: &[RowComparison], base: usize, oracle: usize) -> String {
    let Some(o) = rows.get(oracle) else {
        return String::new();
    };
    let protocol = o.protocol;
    let oracle_gain = if o.vs_base.delta > 2.0 * o.vs_base.std_error {
        "the oracles beat the base model"
    } else if o.vs_base.delta < -2.0 * o.vs_base.std_error {
        "the oracles are worse than the base model"
    } else {
        "the oracles do not differ detectably from the base model"
    };
    let mut text = format!(
        "**Verdict ({protocol} protocol, computed from the cells below):** {oracle_gain} \
         ({} points over the benchmarks' mean).",
        o.vs_base.points()
    );
    for (i, r) in rows.iter().enumerate() {
        if i == base || i == oracle {
            continue;
        }
        let same = if r.vs_oracle.within_two_se() {
            "within 2 se of the oracles (T2L ≈ oracle holds at this sample size)"
        } else if r.vs_oracle.delta > 0.0 {
            "above the oracles by more than 2 se"
        } else {
            "below the oracles by more than 2 se (T2L ≈ oracle does not hold)"
        };
        text.push_str(&format!(
            " {}: {} vs oracle, {same}; {} vs base.",
            r.label,
            r.vs_oracle.points(),
            r.vs_base.points()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::cell_eval::CellScore;
    use trainers::eval::benchmark::Benchmark;

    fn row(correct: &[usize]) -> Vec<Cell> {
        [Benchmark::ArcEasy, Benchmark::Piqa]
            .iter()
            .zip(correct)
            .map(|(&benchmark, &c)| Cell {
                benchmark,
                scores: vec![CellScore {
                    protocol: Protocol::Loglik,
                    n: 100,
                    correct: c,
                    accuracy: c as f64 / 100.0,
                }],
                seconds: 0.0,
            })
            .collect()
    }

    #[test]
    fn differences_carry_combined_errors_and_the_verdict_follows_them() {
        let labels: Vec<String> = ["base", "oracle", "t2l close", "t2l far"]
            .map(String::from)
            .to_vec();
        let cells = vec![
            row(&[20, 40]),
            row(&[50, 60]),
            row(&[48, 58]),
            row(&[20, 42]),
        ];
        let rows = compare_rows(Protocol::Loglik, &labels, &cells, 0, 1).unwrap();
        assert_eq!(rows.len(), 4);
        assert!((rows[1].vs_base.delta - 0.25).abs() < 1e-12);
        // se of a two-benchmark mean: √(0.5·0.5/100 + 0.6·0.4/100) / 2.
        let se_oracle = (0.0025f64 + 0.0024).sqrt() / 2.0;
        assert!((rows[1].mean.1 - se_oracle).abs() < 1e-12);
        assert!(rows[2].vs_oracle.within_two_se());
        assert!(!rows[3].vs_oracle.within_two_se());
        let v = verdict(&rows, 0, 1);
        assert!(v.contains("the oracles beat the base model"), "{v}");
        assert!(v.contains("t2l close: -2.0"), "{v}");
        assert!(v.contains("does not hold"), "{v}");
        let t = comparison_table(Protocol::Loglik, &rows).unwrap();
        assert_eq!(t.rows[2][4], "yes");
        assert_eq!(t.rows[3][4], "no");
    }

    #[test]
    fn a_row_without_scores_is_an_error_naming_it() {
        let labels = vec!["base".to_string(), "oracle".to_string()];
        let cells = vec![row(&[20, 40]), vec![]];
        let err = compare_rows(Protocol::Loglik, &labels, &cells, 0, 1).unwrap_err();
        assert!(err.to_string().contains("row 1"), "{err}");
    }
}
