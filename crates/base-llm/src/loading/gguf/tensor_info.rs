//! [`GgmlType`] (how a tensor's elements are stored) and [`GgufTensorInfo`] (where a tensor is).

/// A ggml tensor type id, with names and block sizes for the types this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType(pub u32);

impl GgmlType {
    /// 32-bit float.
    pub const F32: Self = Self(0);
    /// 16-bit IEEE float.
    pub const F16: Self = Self(1);
    /// 4-bit, 32 weights per block, scale only.
    pub const Q4_0: Self = Self(2);
    /// 4-bit, 32 weights per block, scale and minimum.
    pub const Q4_1: Self = Self(3);
    /// 5-bit, 32 weights per block, scale only.
    pub const Q5_0: Self = Self(6);
    /// 5-bit, 32 weights per block, scale and minimum.
    pub const Q5_1: Self = Self(7);
    /// 8-bit, 32 weights per block, scale only.
    pub const Q8_0: Self = Self(8);
    /// 8-bit, 32 weights per block, scale and sum.
    pub const Q8_1: Self = Self(9);
    /// 2-bit k-quant (256-weight super-blocks).
    pub const Q2_K: Self = Self(10);
    /// 3-bit k-quant.
    pub const Q3_K: Self = Self(11);
    /// 4-bit k-quant.
    pub const Q4_K: Self = Self(12);
    /// 5-bit k-quant.
    pub const Q5_K: Self = Self(13);
    /// 6-bit k-quant.
    pub const Q6_K: Self = Self(14);
    /// 8-bit k-quant.
    pub const Q8_K: Self = Self(15);
    /// 8-bit integer.
    pub const I8: Self = Self(24);
    /// 16-bit integer.
    pub const I16: Self = Self(25);
    /// 32-bit integer.
    pub const I32: Self = Self(26);
    /// 64-bit integer.
    pub const I64: Self = Self(27);
    /// 64-bit float.
    pub const F64: Self = Self(28);
    /// bfloat16.
    pub const BF16: Self = Self(30);

    /// `(weights per block, bytes per block)`, or `None` for a type this crate does not know.
    pub fn block_layout(self) -> Option<(usize, usize)> {
        Some(match self {
            Self::F32 | Self::I32 => (1, 4),
            Self::F16 | Self::BF16 | Self::I16 => (1, 2),
            Self::I8 => (1, 1),
            Self::I64 | Self::F64 => (1, 8),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q8_0 => (32, 34),
            Self::Q8_1 => (32, 36),
            Self::Q2_K => (256, 84),
            Self::Q3_K => (256, 110),
            Self::Q4_K => (256, 144),
            Self::Q5_K => (256, 176),
            Self::Q6_K => (256, 210),
            Self::Q8_K => (256, 292),
            _ => return None,
        })
    }

    /// The ggml name (`"Q4_K"`, `"F16"`, ...), `"unknown"` for other ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q8_1 => "Q8_1",
            Self::Q2_K => "Q2_K",
            Self::Q3_K => "Q3_K",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
            Self::Q8_K => "Q8_K",
            Self::I8 => "I8",
            Self::I16 => "I16",
            Self::I32 => "I32",
            Self::I64 => "I64",
            Self::F64 => "F64",
            Self::BF16 => "BF16",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One tensor's entry in a GGUF file: name, dimensions, type and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// The GGUF tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// GGUF dimensions, innermost first (`[ne0, ne1]` = `[in, out]` for a linear weight).
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Offset of the data relative to the start of the tensor-data section.
    pub offset: u64,
    /// Byte size of the data, when the type is known (checked to lie inside the file).
    pub byte_len: Option<u64>,
}

impl GgufTensorInfo {
    /// Number of elements (product of the dimensions; 1 for a scalar).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The shape in row-major order, outermost first (the reverse of [`Self::dims`]): a linear
    /// weight is `[out, in]` as in PyTorch.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}
