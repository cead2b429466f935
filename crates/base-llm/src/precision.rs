//! [`BasePrecision`]: the float type the frozen base model's weights are stored in, and how its
//! products use them.
//!
//! burn 0.21 tensors carry their dtype at run time ([`Tensor::cast`]), and backends refuse
//! mixed-dtype products (flex asserts equal dtypes in `matmul`), so a reduced-precision base is a
//! cast around every product with a frozen weight:
//!
//! - [`PrecisionMode::StoreOnly`]: `W` stored in f16/bf16 (half the weight memory), up-cast to f32
//!   for each product, which runs in f32;
//! - [`PrecisionMode::Compute`]: the activation is down-cast, the product runs in the reduced type
//!   (accumulated as the backend does: tensor cores on GPUs), and the result is up-cast to f32.
//!
//! Everything else stays f32 in every mode: RMSNorm, RoPE, softmax and attention, the residual
//! stream, the KV cache, the LoRA path (adapters are f32 and added to the up-cast output), the
//! loss, and any hypernetwork with its optimizer state (f32 master weights). On the CPU backend
//! (flex) reduced precision does not pay (no f16 arithmetic on x86; bf16 goes through f32), so
//! f32 is the default; see `docs/performance.md`.
//!
//! ```
//! use base_llm::precision::{BasePrecision, HalfType, PrecisionMode};
//! let p: BasePrecision = "bf16-store".parse().unwrap();
//! assert_eq!(p, BasePrecision::Half(HalfType::Bf16, PrecisionMode::StoreOnly));
//! assert_eq!(p.to_string(), "bf16-store");
//! assert_eq!("f16".parse::<BasePrecision>().unwrap(), BasePrecision::F16);
//! ```

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::backend::DTypeUsage;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A reduced float type for frozen weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HalfType {
    /// IEEE half: 10-bit mantissa, range ±65504.
    F16,
    /// bfloat16: 7-bit mantissa, f32's range.
    Bf16,
}

impl HalfType {
    /// Both.
    pub const ALL: [Self; 2] = [Self::F16, Self::Bf16];

    /// burn's float dtype.
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F16 => FloatDType::F16,
            Self::Bf16 => FloatDType::BF16,
        }
    }

    /// Unit roundoff `u`: 2⁻¹¹ for f16, 2⁻⁸ for bf16.
    pub fn unit_roundoff(self) -> f64 {
        match self {
            Self::F16 => 2f64.powi(-11),
            Self::Bf16 => 2f64.powi(-8),
        }
    }

    /// Relative error bound for one dot product of length `k` with its inputs rounded to this
    /// type: rounding `x` and `W` gives relative errors ≤ 2u per term; with random signs they add
    /// like a random walk, so relative to `‖x‖·‖w‖` the error is ~`2u`; products accumulated in
    /// the reduced type add `u·√k`. Returns `4u + u·√k`.
    pub fn tolerance(self, k: usize) -> f64 {
        let u = self.unit_roundoff();
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
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            other => Err(format!(
                "unknown half type `{other}` (expected f16 or bf16)"
            )),
        }
    }
}

/// How a reduced-precision frozen weight enters a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionMode {
    /// Weights stored reduced, up-cast to f32 for each product (f32 arithmetic).
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

/// The precision of the frozen base model: its linear weights, token embedding and LM head.
///
/// Chosen when the model is built ([`crate::Llama::from_weights_with`],
/// [`crate::Llama::load_with`], [`crate::ModelBundle::load_with`]). Parsed from and printed as
/// `f32`, `f16`, `bf16` (compute mode) and `f16-store`, `bf16-store` (store-only mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BasePrecision {
    /// Everything in f32 (the default).
    #[default]
    F32,
    /// Frozen weights stored in a reduced type, used as the mode says.
    Half(HalfType, PrecisionMode),
}

impl BasePrecision {
    /// f16 weights, f16 products (what pays on GPUs with f16 tensor cores).
    pub const F16: Self = Self::Half(HalfType::F16, PrecisionMode::Compute);
    /// bf16 weights, bf16 products.
    pub const BF16: Self = Self::Half(HalfType::Bf16, PrecisionMode::Compute);
    /// Every precision, f32 first.
    pub const ALL: [Self; 5] = [
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Half(HalfType::F16, PrecisionMode::StoreOnly),
        Self::Half(HalfType::Bf16, PrecisionMode::StoreOnly),
    ];

    /// The dtype frozen weights are stored in.
    pub fn weight_dtype(self) -> FloatDType {
        match self {
            Self::F32 => FloatDType::F32,
            Self::Half(half, _) => half.dtype(),
        }
    }

    /// The reduced type, if any.
    pub fn half(self) -> Option<HalfType> {
        match self {
            Self::F32 => None,
            Self::Half(half, _) => Some(half),
        }
    }

    /// Bytes per stored frozen weight (4 or 2).
    pub fn bytes_per_weight(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::Half(..) => 2,
        }
    }

    /// Checks that backend `B` can use this precision on `device` (per burn's
    /// [`Backend::dtype_usage`]): storage for [`PrecisionMode::StoreOnly`], storage and
    /// arithmetic for [`PrecisionMode::Compute`]. Errors with [`Error::UnsupportedPrecision`].
    pub fn check<B: Backend>(self, device: &B::Device) -> Result<()> {
        let Self::Half(half, mode) = self else {
            return Ok(());
        };
        let usage = B::dtype_usage(device, half.dtype().into());
        let missing = if !usage.contains(DTypeUsage::Storage) {
            Some("storage")
        } else if mode == PrecisionMode::Compute && !usage.contains(DTypeUsage::Arithmetic) {
            Some("arithmetic")
        } else {
            None
        };
        match missing {
            None => Ok(()),
            Some(what) => Err(Error::UnsupportedPrecision {
                precision: self,
                backend: B::name(device),
                reason: format!("no {half} {what} on this device"),
            }),
        }
    }

    /// A frozen weight as it is stored: cast to [`BasePrecision::weight_dtype`] (a no-op when it
    /// already is).
    pub fn store<B: Backend, const D: usize>(self, w: Tensor<B, D>) -> Tensor<B, D> {
        to_dtype(w, self.weight_dtype())
    }

    /// A stored frozen tensor (or rows of it) back in f32 (a no-op in f32).
    pub fn load<B: Backend, const D: usize>(self, w: Tensor<B, D>) -> Tensor<B, D> {
        to_dtype(w, FloatDType::F32)
    }

    /// `x · w` for an f32 activation `x` and a stored frozen weight `w` (any layout, e.g. a
    /// transposed view); f32 out. In f32 a plain product; in store-only mode `x · f32(w)`; in
    /// compute mode `f32(half(x) · w)`.
    pub fn matmul<B: Backend, const D: usize>(
        self,
        x: Tensor<B, D>,
        w: Tensor<B, D>,
    ) -> Tensor<B, D> {
        match self {
            Self::F32 => x.matmul(to_dtype(w, FloatDType::F32)),
            Self::Half(_, PrecisionMode::StoreOnly) => x.matmul(self.load(w)),
            Self::Half(half, PrecisionMode::Compute) => to_dtype(
                to_dtype(x, half.dtype()).matmul(self.store(w)),
                FloatDType::F32,
            ),
        }
    }
}

/// `t` in `dtype`, without an op when it already is.
fn to_dtype<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: FloatDType) -> Tensor<B, D> {
    if t.dtype() == dtype.into() {
        t
    } else {
        t.cast(dtype)
    }
}

impl fmt::Display for BasePrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::F32 => f.write_str("f32"),
            Self::Half(half, PrecisionMode::Compute) => write!(f, "{half}"),
            Self::Half(half, PrecisionMode::StoreOnly) => write!(f, "{half}-store"),
        }
    }
}

impl FromStr for BasePrecision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let unknown = || {
            format!("unknown precision `{s}` (expected f32, f16, bf16, f16-store or bf16-store)")
        };
        if s == "f32" {
            return Ok(Self::F32);
        }
        let (half, mode) = match s.strip_suffix("-store") {
            Some(h) => (h, PrecisionMode::StoreOnly),
            None => (s, PrecisionMode::Compute),
        };
        half.parse::<HalfType>()
            .map(|h| Self::Half(h, mode))
            .map_err(|_| unknown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_precision_parses_back_from_its_name() {
        for p in BasePrecision::ALL {
            assert_eq!(p.to_string().parse::<BasePrecision>(), Ok(p));
        }
        let err = "fp8".parse::<BasePrecision>().unwrap_err();
        assert!(err.contains("fp8") && err.contains("bf16-store"), "{err}");
        assert!("f32-store".parse::<BasePrecision>().is_err());
    }
}
