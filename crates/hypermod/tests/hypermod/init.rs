//! The first generated adapters of a fresh hypernetwork (Bias-HyperInit, reference notes §2.6).

use hypermod::{HyperConfig, HyperModulator, InitMode, Variant};

use crate::common::*;

/// Kolmogorov–Smirnov distance of `xs` from `U(-bound, bound)`.
fn ks_uniform(xs: &[f32], bound: f32) -> f32 {
    let mut s = xs.to_vec();
    s.sort_by(f32::total_cmp);
    let n = s.len() as f32;
    s.iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = ((x + bound) / (2.0 * bound)).clamp(0.0, 1.0);
            (f - i as f32 / n).abs().max((f - (i + 1) as f32 / n).abs())
        })
        .fold(0.0, f32::max)
}

/// Checks that `xs` look like i.i.d. `U(-bound, bound)` draws: range, mean, variance and a KS test
/// at the 1 % level.
fn assert_uniform(xs: &[f32], bound: f32, what: &str) {
    let n = xs.len() as f64;
    assert!(
        xs.iter().all(|x| x.abs() < bound),
        "{what}: value outside ±{bound}"
    );
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    let expected_var = (bound as f64).powi(2) / 3.0;
    let sd = expected_var.sqrt();
    assert!(mean.abs() < 4.0 * sd / n.sqrt(), "{what}: mean {mean}");
    assert!(
        (var / expected_var - 1.0).abs() < 0.1,
        "{what}: variance {var}, expected {expected_var}"
    );
    let ks = ks_uniform(xs, bound);
    assert!(ks < 1.63 / (n as f32).sqrt(), "{what}: KS distance {ks}");
}

#[test]
fn l_variant_starts_as_peft_init_lora() {
    let layout = smollm2_layout();
    let cfg = HyperConfig::new(Variant::L, 64, layout.clone(), lora_for(&layout));
    let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 7).unwrap();
    let adapters = hyper.generate(embeddings(2, 64, 1)).unwrap();
    for (name, w) in adapters.modules() {
        let d_in = layout.module(name).unwrap().d_in;
        // B = 0 exactly, so ΔW = 0.
        assert!(values(&w.b).iter().all(|&x| x == 0.0), "{name}: B ≠ 0");
        let a = values(&w.a);
        // Head weights are zero: the same A0 for every task and layer.
        let per_layer = 8 * d_in;
        for chunk in a.chunks(per_layer) {
            assert_eq!(
                chunk,
                &a[..per_layer],
                "{name}: A differs across tasks/layers"
            );
        }
        assert_uniform(&a[..per_layer], 1.0 / (d_in as f32).sqrt(), name);
    }
    let one = adapters.get(1).unwrap();
    let dw = one.delta_w(4, "v_proj").unwrap();
    assert_eq!(dw.abs().max().into_scalar(), 0.0);
}

#[test]
fn m_variant_init_shares_a0_between_a_and_b() {
    let cfg = tiny(Variant::M, InitMode::BiasHyperInit);
    let r = cfg.rank();
    let hyper = HyperModulator::<B>::new(cfg.clone(), &Default::default(), 3).unwrap();
    let adapters = hyper.generate(embeddings(2, 12, 0)).unwrap();
    for shape in &cfg.layout.modules {
        let w = adapters.module(&shape.name).unwrap();
        let (d_in, d_out) = (shape.d_in, shape.d_out);
        let bound = 1.0 / (d_in as f32).sqrt() / 2f32.sqrt();
        let a = values(&w.a); // [n, L, r, d_in]
        let b = values(&w.b); // [n, L, d_out, r]
        assert!(
            a.iter().chain(&b).all(|x| x.abs() < bound),
            "{}",
            shape.name
        );
        assert!(
            b.iter().any(|&x| x != 0.0),
            "M's B starts non-zero, as in the reference"
        );
        // Row k of the bias view [r, max] feeds A[k, :d_in] and B[:d_out, k].
        for k in 0..r {
            for j in 0..d_in.min(d_out) {
                assert_eq!(a[k * d_in + j], b[j * r + k], "{} k={k} j={j}", shape.name);
            }
        }
        // The d_out > d_in rule: B's extra rows come from the extended A0 and are fresh draws.
        if d_out > d_in {
            let extra: Vec<f32> = (d_in..d_out).map(|j| b[j * r]).collect();
            assert!(extra.iter().all(|&x| x != 0.0 && x.abs() < bound));
        }
    }
}

#[test]
fn s_variant_init_repeats_one_row_per_rank() {
    let cfg = tiny(Variant::S, InitMode::BiasHyperInit);
    let r = cfg.rank();
    let hyper = HyperModulator::<B>::new(cfg.clone(), &Default::default(), 5).unwrap();
    let adapters = hyper.generate(embeddings(1, 12, 0)).unwrap();
    for shape in &cfg.layout.modules {
        let w = adapters.module(&shape.name).unwrap();
        let d_in = shape.d_in;
        let bound = 1.0 / (d_in as f32).sqrt() / (2.0 * r as f32).sqrt();
        let a = values(&w.a);
        let row = &a[..d_in];
        for k in 0..r {
            assert_eq!(
                &a[k * d_in..(k + 1) * d_in],
                row,
                "{}: rank row {k}",
                shape.name
            );
        }
        assert!(row.iter().all(|x| x.abs() < bound && *x != 0.0));
        let b = values(&w.b);
        assert!(b.iter().all(|x| x.abs() < bound));
    }
}

#[test]
fn bias_hyperinit_lengths_and_bounds_for_every_shape() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for (d_in, d_out) in [(64, 64), (64, 16), (16, 64)] {
        let bound = 1.0 / (d_in as f32).sqrt();
        let l = hypermod::bias_hyperinit(Variant::L, 4, d_in, d_out, &mut rng);
        assert_eq!(l.len(), 4 * (d_in + d_out));
        assert!(l[4 * d_in..].iter().all(|&x| x == 0.0));
        assert_uniform(&l[..4 * d_in], bound, "L");
        let m = hypermod::bias_hyperinit(Variant::M, 4, d_in, d_out, &mut rng);
        assert_eq!(m.len(), 4 * d_in.max(d_out));
        assert!(m.iter().all(|x| x.abs() < bound / 2f32.sqrt()));
        let s = hypermod::bias_hyperinit(Variant::S, 4, d_in, d_out, &mut rng);
        assert_eq!(s.len(), d_in.max(d_out));
        assert!(s.iter().all(|x| x.abs() < bound / 8f32.sqrt()));
    }
}

#[test]
fn zero_head_emits_the_offset_and_default_init_depends_on_the_task() {
    let zero =
        HyperModulator::<B>::new(tiny(Variant::L, InitMode::ZeroHead), &Default::default(), 0)
            .unwrap();
    let out = zero.generate(embeddings(2, 12, 0)).unwrap();
    for (_, w) in out.modules() {
        assert!(values(&w.a).iter().chain(&values(&w.b)).all(|&x| x == 0.0));
    }
    let recon =
        HyperModulator::<B>::new(tiny(Variant::L, InitMode::Default), &Default::default(), 0)
            .unwrap();
    assert!(
        !recon.config().head_bias,
        "z-score reconstruction heads have no bias"
    );
    let out = recon.generate(embeddings(2, 12, 0)).unwrap();
    let w = out.module("q_proj").unwrap();
    let a0 = w.a.clone().narrow(0, 0, 1);
    let a1 = w.a.clone().narrow(0, 1, 1);
    assert!(max_abs_diff(&a0, &a1) > 1e-4);
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let cfg = tiny(Variant::M, InitMode::Default);
    let a = hypermod::initial_tensors(&cfg, 1);
    let b = hypermod::initial_tensors(&cfg, 1);
    let c = hypermod::initial_tensors(&cfg, 2);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
