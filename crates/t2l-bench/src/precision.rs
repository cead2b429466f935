//! Reduced precision for the frozen base model's weights: the base model's matmuls
//! `y = x·W` with `W` stored in f16 or bf16, either up-cast to f32 for an f32 product
//! ([`PrecisionMode::StoreOnly`]: half the weight memory, f32 arithmetic) or with `x` down-cast
//! and the product computed in the reduced type ([`PrecisionMode::Compute`]: what pays on GPUs
//! with f16/bf16 tensor cores). The hypernetwork and its optimizer stay in f32 in every mode.
//!
//! burn 0.21 tensors carry their dtype at run time (`Tensor::cast`), and flex computes f16/bf16
//! natively or through f32; backends refuse mixed-dtype matmuls (flex asserts equal dtypes), so a
//! reduced-precision base needs the casts around each product that this module measures. The
//! types and the product are base-llm's ([`base_llm::precision`]), which the frozen base model
//! itself uses (`t2l bench prefill|decode|sft-step --precision f16` times the whole model).

use base_llm::precision::BasePrecision;
pub use base_llm::precision::{HalfType, PrecisionMode};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Serialize;

use crate::ceiling::Ceilings;
use crate::error::{BenchError, sync};
use crate::report::Measurement;
use crate::timing::time_iters;
use crate::work::Work;

/// `x·W` (f32 `x`, `W` in any float dtype) as `mode` prescribes; f32 out
/// ([`BasePrecision::matmul`]).
pub fn frozen_matmul<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 2>,
    half: HalfType,
    mode: PrecisionMode,
) -> Tensor<B, 2> {
    BasePrecision::Half(half, mode).matmul(x, w)
}

/// The largest error of `approx` against `exact` over all outputs `[m, n]`, each normalised by
/// `‖x_i‖·‖w_j‖` (the scale of a dot product's rounding error).
pub fn normalised_max_error<B: Backend>(
    x: &Tensor<B, 2>,
    w: &Tensor<B, 2>,
    exact: Tensor<B, 2>,
    approx: Tensor<B, 2>,
) -> f64 {
    let xn = x.clone().square().sum_dim(1).sqrt(); // [m, 1]
    let wn = w.clone().square().sum_dim(0).sqrt(); // [1, n]
    let scale = xn.matmul(wn);
    ((approx - exact).abs() / scale)
        .max()
        .into_scalar()
        .elem::<f64>()
}

/// One row of the precision benchmark: a product's time and error in one type and mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrecisionResult {
    /// Timing and rates.
    pub measurement: Measurement,
    /// Normalised max error against f32 ([`normalised_max_error`]); 0 for f32 itself.
    pub error: f64,
    /// The stated tolerance ([`HalfType::tolerance`]); 0 for f32.
    pub tolerance: f64,
}

/// Times `[m, k] × [k, n]` in f32 and, for f16 and bf16, in both modes, with the error of each
/// against f32 (`case` names the shape in the report).
#[allow(clippy::too_many_arguments)]
pub fn bench_precision<B: Backend>(
    device: &B::Device,
    case: &str,
    m: usize,
    k: usize,
    n: usize,
    warmup: usize,
    iters: usize,
    ceilings: &Ceilings,
) -> Result<Vec<PrecisionResult>, BenchError> {
    B::seed(device, 0);
    let x = Tensor::<B, 2>::random([m, k], Distribution::Normal(0.0, 1.0), device);
    let w = Tensor::<B, 2>::random([k, n], Distribution::Normal(0.0, 0.05), device);
    let flops = 2.0 * (m * k * n) as f64;
    let io = 4.0 * (m * k + m * n) as f64;
    let exact = x.clone().matmul(w.clone());
    let timing = time_iters(warmup, iters, || {
        let y = x.clone().matmul(w.clone());
        sync::<B>(device, "the f32 matmul")?;
        drop(y);
        Ok::<_, BenchError>(())
    })?;
    let work = Work {
        flops,
        bytes: io + 4.0 * (k * n) as f64,
    };
    let mut out = vec![PrecisionResult {
        measurement: Measurement::new("precision", format!("{case}/f32"), timing, work, ceilings),
        error: 0.0,
        tolerance: 0.0,
    }];
    for half in HalfType::ALL {
        let w_low = w.clone().cast(half.dtype());
        for mode in [PrecisionMode::StoreOnly, PrecisionMode::Compute] {
            let approx = frozen_matmul(x.clone(), w_low.clone(), half, mode);
            let error = normalised_max_error(&x, &w, exact.clone(), approx);
            let timing = time_iters(warmup, iters, || {
                let y = frozen_matmul(x.clone(), w_low.clone(), half, mode);
                sync::<B>(device, "the reduced-precision matmul")?;
                drop(y);
                Ok::<_, BenchError>(())
            })?;
            let work = Work {
                flops,
                bytes: io + 2.0 * (k * n) as f64,
            };
            out.push(PrecisionResult {
                measurement: Measurement::new(
                    "precision",
                    format!("{case}/{half}/{mode}"),
                    timing,
                    work,
                    ceilings,
                ),
                error,
                tolerance: half.tolerance(k),
            });
        }
    }
    Ok(out)
}
