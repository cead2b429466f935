//! How much a T2L row of an evaluation depends on *which* description generated its adapters.
//!
//! A T2L cell of [`EvalReport`] is the mean over a benchmark's descriptions (e.g. its three
//! held-out `eval` descriptions). The paper reports that mean; the spread over descriptions says
//! how much of a difference between rows is description noise. Here: the accuracy of every
//! description (the `i`-th description of each benchmark forms "description `i`"), the average
//! over benchmarks per description, and the mean ± sample standard deviation over descriptions.
//!
//! ```
//! use text_to_lora::description_spread::Spread;
//! let s = Spread::of(&[0.2, 0.4, 0.3]).unwrap();
//! assert!((s.mean - 0.3).abs() < 1e-12 && (s.std - 0.1).abs() < 1e-12);
//! assert_eq!((s.min, s.max, s.n), (0.2, 0.4, 3));
//! ```

use serde::Serialize;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::protocol::Protocol;
use trainers::eval::report::{EvalReport, ExampleRecord};

/// Mean, sample standard deviation (n − 1; 0 for one value), minimum and maximum of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// How many values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Sample standard deviation (0 when `n = 1`).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Spread {
            n,
            mean,
            std: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// `mean ± std` in percent, one decimal (values are fractions).
    pub fn percent(&self) -> String {
        format!("{:.1} ± {:.1}", 100.0 * self.mean, 100.0 * self.std)
    }
}

/// One description's accuracy on one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DescriptionCell {
    /// The benchmark.
    pub benchmark: Benchmark,
    /// The description text.
    pub description: String,
    /// Examples scored.
    pub n: usize,
    /// Fraction correct.
    pub accuracy: f64,
}

/// The `index`-th description of every benchmark, under one method and protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DescriptionScores {
    /// Position of the description in each benchmark's set (0-based).
    pub index: usize,
    /// One cell per benchmark that has a description at this position.
    pub cells: Vec<DescriptionCell>,
    /// Mean accuracy over those benchmarks.
    pub average: f64,
}

/// Per-description accuracies of `method` under `protocol` (empty when the method has no
/// records with descriptions). Descriptions are numbered per benchmark in the order the records
/// first name them (the evaluator's fixed order).
pub fn per_description(
    report: &EvalReport,
    method: &str,
    protocol: Protocol,
) -> Vec<DescriptionScores> {
    let mut out: Vec<DescriptionScores> = Vec::new();
    for &b in &report.benchmarks {
        let rows: Vec<&ExampleRecord> = report
            .records
            .iter()
            .filter(|r| r.method == method && r.benchmark == b && r.protocol == protocol)
            .collect();
        let mut descriptions: Vec<&str> = Vec::new();
        for r in &rows {
            if let Some(d) = r.description.as_deref()
                && !descriptions.contains(&d)
            {
                descriptions.push(d);
            }
        }
        for (index, d) in descriptions.into_iter().enumerate() {
            let (n, correct) = rows
                .iter()
                .filter(|r| r.description.as_deref() == Some(d))
                .fold((0, 0), |(n, c), r| (n + 1, c + usize::from(r.correct)));
            if out.len() <= index {
                out.push(DescriptionScores {
                    index,
                    cells: Vec::new(),
                    average: 0.0,
                });
            }
            out[index].cells.push(DescriptionCell {
                benchmark: b,
                description: d.to_string(),
                n,
                accuracy: correct as f64 / n as f64,
            });
        }
    }
    for s in &mut out {
        s.average = s.cells.iter().map(|c| c.accuracy).sum::<f64>() / s.cells.len() as f64;
    }
    out
}

/// The spread over descriptions of each benchmark's accuracy (in `report.benchmarks` order,
/// `None` where the method has no descriptions there) and of the per-description average.
pub fn spread_by_benchmark(
    report: &EvalReport,
    method: &str,
    protocol: Protocol,
) -> (Vec<Option<Spread>>, Option<Spread>) {
    let scores = per_description(report, method, protocol);
    let per_benchmark = report
        .benchmarks
        .iter()
        .map(|&b| {
            let values: Vec<f64> = scores
                .iter()
                .flat_map(|s| s.cells.iter())
                .filter(|c| c.benchmark == b)
                .map(|c| c.accuracy)
                .collect();
            Spread::of(&values)
        })
        .collect();
    let averages: Vec<f64> = scores.iter().map(|s| s.average).collect();
    (per_benchmark, Spread::of(&averages))
}

/// A markdown table of `methods` under `protocol`: each cell `mean ± std` over descriptions (in
/// percent), the last column the spread of the per-description averages with its range. Methods
/// without descriptions are left out.
pub fn spread_markdown(report: &EvalReport, methods: &[String], protocol: Protocol) -> String {
    let mut s = format!("| {protocol}, mean ± std over descriptions |");
    for b in &report.benchmarks {
        s.push_str(&format!(" {} |", b.title()));
    }
    s.push_str(" Avg. (min–max) |\n|---|");
    s.push_str(&"---:|".repeat(report.benchmarks.len() + 1));
    s.push('\n');
    for m in methods {
        let (cells, avg) = spread_by_benchmark(report, m, protocol);
        let Some(avg) = avg else { continue };
        s.push_str(&format!("| {m} |"));
        for c in cells {
            s.push_str(&format!(" {} |", c.map_or("—".into(), |c| c.percent())));
        }
        s.push_str(&format!(
            " {} ({:.1}–{:.1}) |\n",
            avg.percent(),
            100.0 * avg.min,
            100.0 * avg.max
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(b: Benchmark, d: &str, correct: bool) -> ExampleRecord {
        ExampleRecord {
            method: "T2L".into(),
            benchmark: b,
            protocol: Protocol::Loglik,
            description: Some(d.into()),
            row: 0,
            prompt_tokens: 1,
            reply: None,
            choice_logprobs: None,
            choice_chars: None,
            correct_sum: None,
            prediction: None,
            gold: "A".into(),
            correct,
            sandbox: None,
        }
    }

    #[test]
    fn descriptions_are_grouped_by_position_and_spread() {
        use Benchmark::*;
        // ArcE: d0 2/2, d1 0/2; PIQA: e0 1/2, e1 1/2.
        let records = vec![
            rec(ArcEasy, "d0", true),
            rec(ArcEasy, "d0", true),
            rec(ArcEasy, "d1", false),
            rec(ArcEasy, "d1", false),
            rec(Piqa, "e0", true),
            rec(Piqa, "e0", false),
            rec(Piqa, "e1", false),
            rec(Piqa, "e1", true),
        ];
        let methods = vec!["T2L".to_string(), "base".to_string()];
        let benchmarks = vec![ArcEasy, Piqa];
        let report = EvalReport::from_records(
            "m",
            records,
            methods.clone(),
            benchmarks,
            vec![Protocol::Loglik],
        );
        let per = per_description(&report, "T2L", Protocol::Loglik);
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].cells[0].description, "d0");
        assert_eq!(per[0].cells[1].description, "e0");
        assert_eq!((per[0].average, per[1].average), (0.75, 0.25));

        let (cells, avg) = spread_by_benchmark(&report, "T2L", Protocol::Loglik);
        let arc = cells[0].unwrap();
        assert_eq!((arc.mean, arc.min, arc.max), (0.5, 0.0, 1.0));
        assert!((arc.std - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(cells[1].unwrap().std, 0.0);
        let avg = avg.unwrap();
        assert_eq!((avg.mean, avg.n), (0.5, 2));
        // The cell mean equals the report's accuracy (every description sees the same examples).
        assert_eq!(
            report.accuracy("T2L", ArcEasy, Protocol::Loglik),
            Some(arc.mean)
        );

        let md = spread_markdown(&report, &methods, Protocol::Loglik);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 3, "{md}"); // header, rule, T2L (base has no descriptions)
        assert_eq!(
            lines[2],
            "| T2L | 50.0 ± 70.7 | 50.0 ± 0.0 | 50.0 ± 35.4 (25.0–75.0) |"
        );
        assert!(Spread::of(&[]).is_none());
    }
}
