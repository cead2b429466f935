//! The named precisions of the packed CPU path (`f32`, `f16-heads`, `bf16`, `bf16-heads`), as
//! a command line or a config file spells them, and the [`HyperPrecision`] each stands for.

use std::fmt;
use std::str::FromStr;

use crate::packed::{HyperPrecision, WeightStorage};

/// A precision of the packed CPU path that has a name: the four that users pick from.
///
/// ```
/// use hypermod::packed::{HyperPrecision, WeightStorage};
/// use hypermod::precision_name::NamedPrecision;
/// let p: NamedPrecision = "bf16-heads".parse().unwrap();
/// assert_eq!(p.to_string(), "bf16-heads");
/// assert_eq!(
///     HyperPrecision::from(p),
///     HyperPrecision { heads: WeightStorage::Bf16, trunk: WeightStorage::F32 }
/// );
/// assert!("f64".parse::<NamedPrecision>().unwrap_err().to_string().contains("f16-heads"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamedPrecision {
    /// f32 everywhere ([`HyperPrecision::F32`]): the default, equal to the generic path up to
    /// summation order.
    #[default]
    F32,
    /// f16 head weights, f32 trunk ([`WeightStorage::F16`] heads).
    F16Heads,
    /// bf16 compute in the heads and the trunk ([`HyperPrecision::BF16`]; AVX512-BF16).
    Bf16,
    /// bf16 compute in the heads only, f32 trunk (AVX512-BF16).
    Bf16Heads,
}

impl NamedPrecision {
    /// Every named precision, in the order help texts list them.
    pub const ALL: [Self; 4] = [Self::F32, Self::F16Heads, Self::Bf16, Self::Bf16Heads];

    /// The name (`f32`, `f16-heads`, `bf16`, `bf16-heads`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16Heads => "f16-heads",
            Self::Bf16 => "bf16",
            Self::Bf16Heads => "bf16-heads",
        }
    }

    /// The storage of each part that this name stands for.
    pub fn precision(self) -> HyperPrecision {
        let heads = |heads| HyperPrecision {
            heads,
            trunk: WeightStorage::F32,
        };
        match self {
            Self::F32 => HyperPrecision::F32,
            Self::F16Heads => heads(WeightStorage::F16),
            Self::Bf16 => HyperPrecision::BF16,
            Self::Bf16Heads => heads(WeightStorage::Bf16),
        }
    }

    /// The accepted names, comma-separated (for help texts and errors).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl From<NamedPrecision> for HyperPrecision {
    fn from(named: NamedPrecision) -> Self {
        named.precision()
    }
}

impl fmt::Display for NamedPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A precision name that is none of [`NamedPrecision::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown precision `{name}` (expected one of {})",
    NamedPrecision::names()
)]
pub struct UnknownPrecision {
    /// The name given.
    pub name: String,
}

impl FromStr for NamedPrecision {
    type Err = UnknownPrecision;
    fn from_str(s: &str) -> Result<Self, UnknownPrecision> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPrecision { name: s.into() })
    }
}
