//! The LoRA path as a batched tensor op, shared by every crate that injects adapters.

use burn::prelude::*;

/// Per-row LoRA update: `((x · aᵀ) · bᵀ) · scaling`.
///
/// Shapes: `x [n, s, d_in]`, `a [n, r, d_in]`, `b [n, d_out, r]` → `[n, s, d_out]`. Row `i` of the
/// batch uses its own `a[i]`, `b[i]`; `a`/`b` with `n = 1` apply one adapter to every row.
/// Never forms `ΔW`: the cost is `O(n·s·r·(d_in + d_out))`.
///
/// ```
/// use burn::backend::Flex;
/// use burn::prelude::*;
/// let dev = Default::default();
/// let x = Tensor::<Flex, 3>::ones([2, 3, 4], &dev);
/// let a = Tensor::<Flex, 3>::ones([2, 1, 4], &dev);
/// let b = Tensor::<Flex, 3>::ones([2, 5, 1], &dev);
/// let y = lora_core::lora_delta(x, a, b, 0.5);
/// assert_eq!(y.dims(), [2, 3, 5]);
/// assert_eq!(y.into_data().to_vec::<f32>().unwrap()[0], 2.0);
/// ```
pub fn lora_delta<B: Backend>(
    x: Tensor<B, 3>,
    a: Tensor<B, 3>,
    b: Tensor<B, 3>,
    scaling: f64,
) -> Tensor<B, 3> {
    let [n, s, d_in] = x.dims();
    let [na, r, _] = a.dims();
    let [_, d_out, _] = b.dims();
    if na == 1 && n != 1 {
        // One adapter for the whole batch: a single GEMM over all rows.
        let a = a.squeeze_dim::<2>(0);
        let b = b.squeeze_dim::<2>(0);
        return x
            .reshape([n * s, d_in])
            .matmul(a.transpose())
            .matmul(b.transpose())
            .mul_scalar(scaling)
            .reshape([n, s, d_out]);
    }
    debug_assert_eq!(r, b.dims()[2]);
    x.matmul(a.swap_dims(1, 2))
        .matmul(b.swap_dims(1, 2))
        .mul_scalar(scaling)
}
