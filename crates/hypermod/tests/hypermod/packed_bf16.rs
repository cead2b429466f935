//! The packed path's opt-in bf16 compute precision against its f32 default: the same adapters
//! up to bf16 rounding of weights and activations, at a tiny config and at SmolLM2-135M q/v
//! shapes (on AMX tiles where this CPU has them, else on `vdpbf16ps`), or the typed error on
//! CPUs without AVX512-BF16; and the kernel reported.

use burn::prelude::*;
use hypermod::packed::{
    Bf16Kernel, HyperPrecision, PackedHyper, WeightStorage, bf16_kernel, bf16_supported,
    cpu_supported,
};
use hypermod::{Error, HyperConfig, HyperModulator, InitMode, Variant};

use crate::common::*;

/// The benchmark's SmolLM2-135M config: E = 1024, D = 128, H = 512, r = 8, head bias.
fn smollm2(variant: Variant) -> HyperConfig {
    let layout = smollm2_layout();
    let lora = lora_for(&layout);
    HyperConfig::new(variant, 1024, layout, lora)
        .with_latent(128)
        .with_head_in(512)
        .with_init(InitMode::Default)
        .with_head_bias(true)
}

/// Largest |value| over every factor of `a`.
fn largest(a: &lora_core::BatchedLoraAdapter<B>) -> f32 {
    a.modules()
        .map(|(_, w)| {
            let m = |t: &Tensor<B, 4>| t.clone().abs().max().into_scalar();
            m(&w.a).max(m(&w.b))
        })
        .fold(0.0, f32::max)
}

/// `max |bf16 − f32| / largest |f32 value|` of the adapters generated for `emb` with
/// `precision` and with the f32 default (`threads` threads each); `None` (after checking the
/// typed error) where the CPU lacks AVX512-BF16.
fn relative_error(
    hyper: &HyperModulator<B>,
    emb: Tensor<B, 2>,
    precision: HyperPrecision,
    threads: usize,
) -> Option<f32> {
    let packed = match PackedHyper::with_precision(hyper, precision) {
        Ok(p) => p.with_threads(threads),
        Err(Error::CpuFeature { feature, .. }) => {
            // The only way to get no bf16 path: the CPU really lacks the feature.
            let missing = if cpu_supported() {
                "avx512bf16"
            } else {
                "avx512f"
            };
            assert!(!bf16_supported(), "bf16 supported but refused");
            assert_eq!(feature, missing);
            assert!(PackedHyper::with_head_storage(hyper, WeightStorage::Bf16).is_none());
            return None;
        }
        Err(e) => panic!("unexpected error {e}"),
    };
    assert!(
        bf16_supported(),
        "bf16 path built on a CPU without AVX512-BF16"
    );
    let exact = PackedHyper::new(hyper).expect("AVX-512F present");
    let want = hyper.generate_packed(emb.clone(), &exact).unwrap();
    let got = hyper.generate_packed(emb, &packed).unwrap();
    let d = adapters_diff(&got, &want);
    assert!(
        d > 0.0,
        "bf16 path equals the f32 path exactly: not rounding?"
    );
    Some(d / largest(&want))
}

/// bf16 has an 8-bit significand (unit roundoff u = 2⁻⁹ ≈ 2.0e-3); each product of two
/// rounded values is off by ≤ 2u relative, so a GEMM output by ≤ 2u·Σ|x_i·w_i|, which for these
/// random-sign sums is a few u of the output's magnitude; the trunk chains 9 (S: 11) such
/// layers between LayerNorms. Measured (this test, Sapphire-Rapids-class CPU) relative to the
/// largest |value|, tiny config: all bf16 L/M/S 2.63e-3 / 2.58e-3 / 2.28e-3 (1 and 3 threads
/// alike), heads only 1.47e-3 / 1.52e-3 / 1.74e-3. Tolerances ≈ 3× the largest measured:
/// 8e-3 and 5e-3.
#[test]
fn packed_bf16_stays_within_its_rounding_of_f32_tiny() {
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default).with_head_bias(true);
        let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 9).unwrap();
        for (precision, tol, threads) in [
            (HyperPrecision::BF16, 8e-3, 1),
            (HyperPrecision::BF16, 8e-3, 3),
            (
                HyperPrecision {
                    heads: WeightStorage::Bf16,
                    trunk: WeightStorage::F32,
                },
                5e-3,
                2,
            ),
        ] {
            let Some(e) = relative_error(&hyper, embeddings(2, 12, 5), precision, threads) else {
                return;
            };
            eprintln!("tiny {variant} {precision:?} {threads} threads: {e:.2e}");
            assert!(e <= tol, "{variant} {precision:?}: {e} > {tol}");
        }
    }
}

/// As above at the SmolLM2-135M q/v shapes of the benchmark (k = 1024 in the task encoder,
/// 128/512 in the trunk, 512 in the heads), 2 threads. Measured: L/M/S 5.39e-3 / 4.78e-3 /
/// 4.57e-3 of the largest value, on AMX and on `vdpbf16ps` alike (same rounded products, only
/// the f32 summation order differs). Tolerance 1.5e-2 (2.8×).
#[test]
fn packed_bf16_stays_within_its_rounding_of_f32_at_smollm2_shapes() {
    for variant in VARIANTS {
        let hyper = HyperModulator::<B>::new(smollm2(variant), &Default::default(), 3).unwrap();
        let Some(e) = relative_error(&hyper, embeddings(1, 1024, 11), HyperPrecision::BF16, 2)
        else {
            return;
        };
        eprintln!("smollm2 {variant}: {e:.2e}");
        assert!(e <= 1.5e-2, "{variant}: {e}");
    }
}

/// Whether Linux lists every one of `flags` for this CPU (`/proc/cpuinfo`; Linux lists
/// `amx_tile` / `amx_bf16` only when it also supports their register state): an oracle
/// independent of the crate's CPUID reading and permission request. False elsewhere.
fn linux_lists(flags: &[&str]) -> bool {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let listed: Vec<&str> = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    flags.iter().all(|f| listed.contains(f))
}

/// The bf16 kernel is AMX exactly where Linux lists AMX-TILE, AMX-BF16 and AVX512-BF16, the
/// `vdpbf16ps` fallback with AVX512-BF16 alone, none without; a packed hypernetwork reports it
/// when (and only when) one of its parts computes in bf16.
#[test]
fn the_reported_bf16_kernel_is_the_one_this_cpu_runs() {
    let expect = if !bf16_supported() {
        None
    } else if linux_lists(&["amx_tile", "amx_bf16", "avx512_bf16"]) {
        Some(Bf16Kernel::Amx)
    } else {
        Some(Bf16Kernel::Avx512)
    };
    eprintln!("bf16 kernel: {:?}", bf16_kernel());
    assert_eq!(bf16_kernel(), expect);
    if !cpu_supported() {
        return;
    }
    let hyper =
        HyperModulator::<B>::new(tiny(Variant::M, InitMode::Default), &Default::default(), 1)
            .unwrap();
    assert_eq!(PackedHyper::new(&hyper).unwrap().bf16_kernel(), None);
    let heads = HyperPrecision {
        heads: WeightStorage::Bf16,
        trunk: WeightStorage::F32,
    };
    for precision in [HyperPrecision::BF16, heads] {
        match PackedHyper::with_precision(&hyper, precision) {
            Ok(p) => assert_eq!(p.bf16_kernel(), expect),
            Err(Error::CpuFeature { feature, .. }) => {
                assert_eq!((feature, expect), ("avx512bf16", None))
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}
