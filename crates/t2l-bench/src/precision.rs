//! Reduced precision for the frozen base model's weights: the base model's matmuls
//! `y = x·W` with `W` stored in f16 or bf16, either up-cast to f32 for an f32 product
//! ([`PrecisionMode::StoreOnly`]: half the weight memory, f32 arithmetic) or with `x` down-cast
//! and the product computed in the reduced type ([`PrecisionMode::Compute`]: what pays on GPUs
//! with f16/bf16 tensor cores). The hypernetwork and its optimizer stay in f32 in every mode.
//!
//! burn 0.21 tensors carry their dtype at run time (`Tensor::cast`), and flex computes f16/bf16
//! natively or through f32; backends refuse mixed-dtype matmuls (flex asserts equal dtypes), so a
//! reduced-precision base needs the casts around each product that this module measures.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use serde::Serialize;

use crate::ceiling::Ceilings;
use crate::error::{BenchError, sync};
use crate::report::Measurement;
use crate::timing::time_iters;
use crate::work::Work;

/// A reduced float type for frozen weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HalfType {
    /// IEEE half: 10-bit mantissa, range ±65504.
    F16,
    /// bfloat16: 7-bit mantissa, f32's range.
    Bf16,
}

impl HalfType {
    /// Both.
    pub const ALL: [Self; 2] = [Self::F16, Self::Bf16];

    /// burn's dtype.
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F16 => FloatDType::F16,
            Self::Bf16 => FloatDType::BF16,
        }
    }

    /// Relative error bound for a dot product of length `k` with this type's inputs rounded
    /// (unit roundoff `u` = 2⁻¹¹ for f16, 2⁻⁸ for bf16): rounding `x` and `W` gives relative
    /// errors ≤ 2u per term; with random signs the errors add like a random walk, so relative
    /// to `‖x‖·‖w‖` the error is ~`2u`; products accumulated in the reduced type add `u·√k`.
    /// Returns `4u + u·√k`, the tolerance the tests assert against `‖x‖·‖w‖`-normalised errors.
    pub fn tolerance(self, k: usize) -> f64 {
        let u = match self {
            Self::F16 => 2f64.powi(-11),
            Self::Bf16 => 2f64.powi(-8),
        };
        4.0 * u + u * (k as f64).sqrt()
    }
}

impl fmt::Display for HalfType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        })
    }
}

impl FromStr for HalfType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            other => Err(format!(
                "unknown half type `{other}` (expected f16 or bf16)"
            )),
        }
    }
}

/// How a reduced-precision weight is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrecisionMode {
    /// Weights stored reduced, up-cast to f32 for each product.
    StoreOnly,
    /// Activations down-cast, product in the reduced type, result up-cast to f32.
    Compute,
}

impl fmt::Display for PrecisionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StoreOnly => "store",
            Self::Compute => "compute",
        })
    }
}

/// `x·W` (f32 `x`, `W` in any float dtype) as `mode` prescribes; f32 out.
pub fn frozen_matmul<B: Backend>(
    x: Tensor<B, 2>,
    w: Tensor<B, 2>,
    half: HalfType,
    mode: PrecisionMode,
) -> Tensor<B, 2> {
    match mode {
        PrecisionMode::StoreOnly => x.matmul(w.cast(FloatDType::F32)),
        PrecisionMode::Compute => x.cast(half.dtype()).matmul(w).cast(FloatDType::F32),
    }
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
