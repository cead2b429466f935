//! One benchmark result: time, work, achieved rates and their fractions of the ceilings.

use serde::Serialize;

use crate::ceiling::Ceilings;
use crate::timing::Timing;
use crate::work::Work;

/// A benchmark's result, ready to print or serialise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Benchmark name (`generate`, `prefill`, `decode`, `sft-step`, `recon-step`).
    pub bench: String,
    /// Case within the benchmark (e.g. `mistral-7b/L`).
    pub case: String,
    /// Timing of one run.
    pub timing: Timing,
    /// Work of one run.
    pub work: Work,
    /// Achieved FLOP rate, GFLOP/s (work / median time).
    pub gflops: f64,
    /// Achieved bandwidth, GB/s (bytes / median time).
    pub gbps: f64,
    /// `gflops` / the measured GEMM ceiling.
    pub gemm_fraction: f64,
    /// `gbps` / the measured bandwidth ceiling.
    pub bandwidth_fraction: f64,
    /// CPU backends on a shared machine: [`Self::gemm_fraction`] computed from process CPU
    /// time instead of wall time (FLOPs per CPU-second here over the GEMM ceiling's), which
    /// other jobs on the cores disturb much less. Meaningless on GPUs (the host waits).
    pub gemm_fraction_cpu: f64,
    /// [`Self::bandwidth_fraction`] from process CPU time, likewise.
    pub bandwidth_fraction_cpu: f64,
    /// The roofline floor: `max(flops / GEMM ceiling, bytes / bandwidth ceiling)`, seconds.
    pub floor_s: f64,
    /// `median_s / floor_s`: how far from the floor (1 = at the hardware limit).
    pub times_floor: f64,
    /// Items (tokens, adapters, steps) processed per run, when meaningful.
    pub items: Option<(f64, String)>,
}

impl Measurement {
    /// A result from its timing and work, rated against `ceilings`.
    pub fn new(
        bench: &str,
        case: impl Into<String>,
        timing: Timing,
        work: Work,
        ceilings: &Ceilings,
    ) -> Self {
        let t = timing.median_s;
        let gflops = work.flops / t / 1e9;
        let gbps = work.bytes / t / 1e9;
        let floor_s = (work.flops / (ceilings.gemm_gflops * 1e9))
            .max(work.bytes / (ceilings.bandwidth_gbps * 1e9));
        Self {
            bench: bench.into(),
            case: case.into(),
            timing,
            work,
            gflops,
            gbps,
            gemm_fraction: gflops / ceilings.gemm_gflops,
            bandwidth_fraction: gbps / ceilings.bandwidth_gbps,
            gemm_fraction_cpu: (work.flops / timing.cpu_s) / ceilings.gemm_flops_per_cpu_s(),
            bandwidth_fraction_cpu: (work.bytes / timing.cpu_s) / ceilings.bytes_per_cpu_s(),
            floor_s,
            times_floor: t / floor_s,
            items: None,
        }
    }

    /// Records that one run processes `count` `unit`s (e.g. 128 tokens).
    pub fn with_items(mut self, count: f64, unit: &str) -> Self {
        self.items = Some((count, unit.into()));
        self
    }

    /// Items per second at the median time.
    pub fn items_per_s(&self) -> Option<f64> {
        self.items.as_ref().map(|(n, _)| n / self.timing.median_s)
    }

    /// One human-readable line.
    pub fn line(&self) -> String {
        let rate = match (&self.items, self.items_per_s()) {
            (Some((_, unit)), Some(r)) => format!("  {r:.1} {unit}/s"),
            _ => String::new(),
        };
        format!(
            "{:<10} {:<24} {:>9.3} ms (best {:.3}, cpu {:.3} ms){rate}  {:.3} GFLOP {:.1} GFLOP/s = {:.1}% of GEMM (cpu-time {:.1}%)  {:.3} GB {:.1} GB/s = {:.1}% of bandwidth (cpu-time {:.1}%)  {:.1}x floor",
            self.bench,
            self.case,
            self.timing.median_s * 1e3,
            self.timing.best_s * 1e3,
            self.timing.cpu_s * 1e3,
            self.work.flops / 1e9,
            self.gflops,
            100.0 * self.gemm_fraction,
            100.0 * self.gemm_fraction_cpu,
            self.work.bytes / 1e9,
            self.gbps,
            100.0 * self.bandwidth_fraction,
            100.0 * self.bandwidth_fraction_cpu,
            self.times_floor,
        )
    }
}
