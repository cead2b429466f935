//! The reconstruction objective against training steps, one line per reconstruction run: a
//! table and a PNG plot.

use std::path::Path;

use trainers::{Error, Result};

use crate::compression::recon_variants::ReconOutcome;
use crate::plot::{PlotSpec, Series, line_png};
use crate::results::Table;

/// Rows: every step at which some run was validated; columns: the runs' z-score L1 there
/// (`—` where a run has no point).
pub fn curve_table(recons: &[ReconOutcome]) -> Result<Table> {
    let mut steps: Vec<usize> = recons
        .iter()
        .flat_map(|r| r.curve.iter().map(|p| p.0))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let mut t = Table::new(
        std::iter::once("step".to_string()).chain(recons.iter().map(|r| r.variant.label())),
    )
    .with_caption(
        "Reconstruction objective (z-score L1 over every task, no dropout) against steps; step \
         0 is the untrained hypernetwork, about the library mean (z ≈ 0, loss E|z| ≈ 0.8)",
    );
    for s in steps {
        let line = std::iter::once(s.to_string()).chain(recons.iter().map(|r| {
            r.curve
                .iter()
                .find(|p| p.0 == s)
                .map_or("—".into(), |p| format!("{:.4}", p.1))
        }));
        t.push_row(line)
            .map_err(|e| Error::data("curve table", e.to_string()))?;
    }
    Ok(t)
}

/// Writes the curves as a line plot to `path`.
pub fn curve_png(path: &Path, title: &str, recons: &[ReconOutcome]) -> crate::plot::Result<()> {
    let series: Vec<Series> = recons
        .iter()
        .map(|r| {
            Series::new(
                r.variant.label(),
                r.curve.iter().map(|&(s, v)| (s as f64, v)).collect(),
            )
        })
        .collect();
    line_png(
        path,
        &PlotSpec::new(title, "training step", "z-score L1 (objective)"),
        &series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::recon_variants::{ReconVariant, TaskEncoding};
    use hypermod::Variant;

    fn outcome(encoding: TaskEncoding, curve: Vec<(usize, f64)>) -> ReconOutcome {
        ReconOutcome {
            variant: ReconVariant {
                variant: Variant::M,
                encoding,
            },
            hypermod_dir: "h".into(),
            tasks: vec![],
            mean_l1: 0.0,
            mean_abs_target: 0.0,
            library_mean_l1: 0.0,
            steps: 20,
            train_seconds: 0.0,
            curve,
        }
    }

    #[test]
    fn steps_are_merged_and_missing_points_marked() {
        let recons = [
            outcome(TaskEncoding::OneHot, vec![(0, 0.8), (10, 0.5), (20, 0.2)]),
            outcome(TaskEncoding::Descriptions, vec![(0, 0.8), (20, 0.3)]),
        ];
        let t = curve_table(&recons).unwrap();
        assert_eq!(t.header, ["step", "T2L-M (one-hot)", "T2L-M (desc)"]);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[1], ["10", "0.5000", "—"]);
        assert_eq!(t.rows[2], ["20", "0.2000", "0.3000"]);
    }
}
