//! f16/bf16 frozen-base matmuls on the flex CPU backend stay within their stated tolerances of
//! f32, in both modes, at SmolLM2's hidden width (k = 576).

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::Distribution;
use t2l_bench::precision::{HalfType, PrecisionMode, frozen_matmul, normalised_max_error};

#[test]
fn half_precision_matmuls_within_tolerance_of_f32() {
    let dev = Default::default();
    Flex::seed(&dev, 1);
    let (m, k, n) = (16, 576, 96);
    let x = Tensor::<Flex, 2>::random([m, k], Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<Flex, 2>::random([k, n], Distribution::Normal(0.0, 0.05), &dev);
    let exact = x.clone().matmul(w.clone());
    for half in HalfType::ALL {
        let w_low = w.clone().cast(half.dtype());
        for mode in [PrecisionMode::StoreOnly, PrecisionMode::Compute] {
            let y = frozen_matmul(x.clone(), w_low.clone(), half, mode);
            assert_eq!(y.dtype(), burn::tensor::DType::F32);
            let err = normalised_max_error(&x, &w, exact.clone(), y);
            let tol = half.tolerance(k);
            // Rounding happened (error > 0) and stays under the bound.
            assert!(
                err > 0.0 && err <= tol,
                "{half}/{mode}: {err:.3e} > {tol:.3e}"
            );
        }
    }
    // bf16 (8-bit mantissa) is coarser than f16 (11-bit).
    assert!(HalfType::Bf16.tolerance(k) > HalfType::F16.tolerance(k));
}
