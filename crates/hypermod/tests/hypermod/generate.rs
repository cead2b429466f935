//! Generation: shapes, batch = per-row, module order, embedding width, stacks.

use burn::prelude::*;
use hypermod::{Error, HyperModulator, InitMode, Variant};
use lora_core::{LoraAdapter, LoraConfig};

use crate::common::*;

#[test]
fn batch_equals_per_row_for_every_variant() {
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default);
        let hyper = HyperModulator::<B>::new(cfg.clone(), &Default::default(), 11).unwrap();
        let emb = embeddings(3, 12, 4);
        let batch = hyper.generate(emb.clone()).unwrap();
        assert_eq!(batch.len(), 3);
        for shape in &cfg.layout.modules {
            let w = batch.module(&shape.name).unwrap();
            assert_eq!(w.a.dims(), [3, 3, 4, shape.d_in]);
            assert_eq!(w.b.dims(), [3, 3, shape.d_out, 4]);
        }
        for i in 0..3 {
            let row = emb.clone().narrow(0, i, 1).squeeze_dim::<1>(0);
            let single = hyper.generate_one(row).unwrap();
            let from_batch = batch.get(i).unwrap();
            for (name, w) in single.modules() {
                let v = from_batch.module(name).unwrap();
                assert!(
                    max_abs_diff(&w.a, &v.a) <= 1e-5,
                    "{variant} row {i} {name} A"
                );
                assert!(
                    max_abs_diff(&w.b, &v.b) <= 1e-5,
                    "{variant} row {i} {name} B"
                );
            }
        }
        let each = hyper.generate_each(emb).unwrap();
        assert_eq!(each.len(), 3);
    }
}

#[test]
fn tasks_layers_and_modules_get_different_adapters() {
    let hyper =
        HyperModulator::<B>::new(tiny(Variant::L, InitMode::Default), &Default::default(), 2)
            .unwrap();
    let out = hyper.generate(embeddings(2, 12, 9)).unwrap();
    let a = out.module("q_proj").unwrap().a.clone();
    let layer = |t: usize, l: usize| a.clone().narrow(0, t, 1).narrow(1, l, 1);
    assert!(
        max_abs_diff(&layer(0, 0), &layer(0, 1)) > 1e-5,
        "layers differ"
    );
    assert!(
        max_abs_diff(&layer(0, 0), &layer(1, 0)) > 1e-5,
        "tasks differ"
    );
}

#[test]
fn module_order_selects_the_type_embedding_row() {
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default);
        let device = Default::default();
        let tensors = hypermod::initial_tensors(&cfg, 3);
        let hyper =
            HyperModulator::<B>::from_tensors(cfg.clone(), tensors.clone(), &device, "t").unwrap();
        // The same weights with the module order [v, q, up] and table rows 0/1 swapped.
        let mut swapped = tensors;
        let table = swapped.get_mut("layer_type_encoder.0.weight").unwrap();
        let mut v = table.clone().to_vec::<f32>().unwrap();
        let w = v.len() / 3;
        let (first, rest) = v.split_at_mut(w);
        first.swap_with_slice(&mut rest[..w]);
        *table = TensorData::new(v, [3, w]);
        let cfg2 = cfg.with_module_order(vec!["v_proj".into(), "q_proj".into(), "up_proj".into()]);
        let other = HyperModulator::<B>::from_tensors(cfg2, swapped, &device, "t").unwrap();
        let emb = embeddings(2, 12, 1);
        let d = adapters_diff(
            &hyper.generate(emb.clone()).unwrap(),
            &other.generate(emb).unwrap(),
        );
        assert!(d <= 1e-6, "{variant}: {d}");
    }
}

#[test]
fn wrong_embedding_width_names_both_sizes() {
    let hyper = HyperModulator::<B>::new(
        tiny(Variant::S, InitMode::BiasHyperInit),
        &Default::default(),
        0,
    )
    .unwrap();
    let err = hyper.generate(embeddings(1, 10, 0)).unwrap_err();
    assert!(matches!(
        err,
        Error::EmbeddingDim {
            expected: 12,
            found: 10
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("12") && msg.contains("10"), "{msg}");
}

#[test]
fn z_score_and_offset_stacks_transform_the_prediction() {
    let cfg = tiny(Variant::M, InitMode::Default);
    let device = Default::default();
    let hyper = HyperModulator::<B>::new(cfg.clone(), &device, 4).unwrap();
    let mean = LoraAdapter::<B>::init_like_peft(cfg.lora.clone(), cfg.layout.clone(), &device, 1)
        .map_tensors(|t| t + 0.5);
    let std = LoraAdapter::<B>::init_like_peft(cfg.lora.clone(), cfg.layout.clone(), &device, 2)
        .map_tensors(|t| t.abs() + 2.0);
    let offset = LoraAdapter::<B>::init_like_peft(cfg.lora.clone(), cfg.layout.clone(), &device, 3)
        .map_tensors(|t| t - 0.25);
    let hyper = hyper
        .with_z_score(&mean, &std)
        .unwrap()
        .with_ab_offset(&offset)
        .unwrap();
    assert!(hyper.config().z_score && hyper.config().ab_offset);
    let emb = embeddings(2, 12, 3);
    let raw = hyper
        .predict(emb.clone(), hypermod::Mode::Inference)
        .unwrap();
    let out = hyper.generate(emb).unwrap();
    for (name, w) in out.modules() {
        let r = raw.module(name).unwrap();
        let (m, s, o) = (
            mean.module(name).unwrap(),
            std.module(name).unwrap(),
            offset.module(name).unwrap(),
        );
        let expect_a = r.a.clone() * (s.a.clone().unsqueeze_dim::<4>(0) + 1e-10)
            + m.a.clone().unsqueeze_dim(0)
            + o.a.clone().unsqueeze_dim(0);
        let expect_b = r.b.clone() * (s.b.clone().unsqueeze_dim::<4>(0) + 1e-10)
            + m.b.clone().unsqueeze_dim(0)
            + o.b.clone().unsqueeze_dim(0);
        assert!(max_abs_diff(&w.a, &expect_a) <= 1e-6, "{name}");
        assert!(max_abs_diff(&w.b, &expect_b) <= 1e-6, "{name}");
    }
    // A stack of another layout is refused, naming the field.
    let other = LoraAdapter::<B>::zeros(
        cfg.lora.clone(),
        lora_core::AdapterLayout::new(1, cfg.layout.modules.clone()),
        &device,
    );
    let err = hyper.with_ab_offset(&other).unwrap_err();
    assert!(err.to_string().contains("ab_offset"), "{err}");
}

#[test]
fn delta_w_scaling_divides_each_factor() {
    let cfg = tiny(Variant::L, InitMode::Default).with_delta_w_scaling(Some(10_000.0));
    let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 4).unwrap();
    let emb = embeddings(1, 12, 3);
    let raw = hyper
        .predict(emb.clone(), hypermod::Mode::Inference)
        .unwrap();
    let out = hyper.generate(emb).unwrap();
    for (name, w) in out.modules() {
        let r = raw.module(name).unwrap();
        assert!(max_abs_diff(&w.a, &(r.a.clone() / 100.0)) <= 1e-7);
        assert!(max_abs_diff(&w.b, &(r.b.clone() / 100.0)) <= 1e-7);
    }
}

#[test]
fn invalid_configs_are_refused_with_the_field() {
    let cases = [
        (
            tiny(Variant::L, InitMode::Default).with_latent(18),
            "latent",
        ),
        (
            tiny(Variant::L, InitMode::Default).with_dropout(1.5),
            "dropout",
        ),
        (
            tiny(Variant::L, InitMode::Default).with_module_order(vec!["q_proj".into()]),
            "module_order",
        ),
        (
            tiny(Variant::L, InitMode::BiasHyperInit).with_head_bias(false),
            "head_bias",
        ),
    ];
    for (cfg, field) in cases {
        let err = HyperModulator::<B>::new(cfg, &Default::default(), 0).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn packed_cpu_path_equals_the_generic_path() {
    let supported = hypermod::packed::cpu_supported();
    // Rank 8 besides the tiny config's 4: S then stores B's rank rows transposed in the
    // kernel (`Epilogue::RankColumns`), other ranks through the transpose pass.
    for (variant, rank) in VARIANTS.into_iter().flat_map(|v| [(v, 4), (v, 8)]) {
        for threads in [1, 3] {
            let mut cfg = tiny(variant, InitMode::Default).with_head_bias(true);
            cfg.lora = LoraConfig::new(rank, 2.0 * rank as f64, cfg.layout.module_names());
            let device = Default::default();
            let offset =
                LoraAdapter::<B>::init_like_peft(cfg.lora.clone(), cfg.layout.clone(), &device, 6);
            let hyper = HyperModulator::<B>::new(cfg, &device, 8)
                .unwrap()
                .with_ab_offset(&offset)
                .unwrap();
            let Some(packed) = hypermod::packed::PackedHyper::new(&hyper) else {
                assert!(!supported, "AVX-512F present but no packed heads");
                return;
            };
            let packed = packed.with_threads(threads);
            // Later calls reuse the first's (larger) buffers, holding stale values. 11 tasks:
            // S's 264 A rows at rank 8 run as two row chunks on one thread.
            for (tasks, salt) in [(11, 5), (3, 2), (2, 7)] {
                let emb = embeddings(tasks, 12, salt);
                let fast = hyper.generate_packed(emb.clone(), &packed).unwrap();
                let slow = hyper.generate(emb).unwrap();
                let d = adapters_diff(&fast, &slow);
                assert!(
                    d <= 1e-5,
                    "{variant} r {rank} ({threads} threads, {tasks} tasks): {d}"
                );
            }
        }
    }
}

/// The timed packed generation returns the same adapters as the untimed one, and its phases
/// add up to no more than the wall time around the call, the heads taking some of it.
#[test]
fn packed_timings_split_the_wall_time_of_the_same_generation() {
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default).with_head_bias(true);
        let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 4).unwrap();
        let Some(packed) = hypermod::packed::PackedHyper::new(&hyper) else {
            assert!(!hypermod::packed::cpu_supported());
            return;
        };
        let emb = embeddings(3, 12, 1);
        let plain = hyper.generate_packed(emb.clone(), &packed).unwrap();
        let wall = std::time::Instant::now();
        let (timed, t) = hyper.generate_packed_timed(emb, &packed).unwrap();
        let wall = wall.elapsed();
        assert_eq!(adapters_diff(&timed, &plain), 0.0, "{variant}");
        assert!(t.heads > std::time::Duration::ZERO, "{variant}: {t:?}");
        assert!(t.total() <= wall, "{variant}: {t:?} > {wall:?}");
        assert_eq!(t.total(), t.trunk + t.heads + t.finish);
    }
}

/// Opt-in f16 head weights: the adapters move by the weights' f16 rounding only (relative
/// 2⁻¹¹ per weight, accumulation in f32): within 1e-3 of the largest value of the f32 packed
/// path, and not identical to it (the weights really are stored reduced).
#[test]
fn packed_f16_heads_stay_within_their_rounding_of_f32() {
    use hypermod::packed::{PackedHyper, WeightStorage};
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default).with_head_bias(true);
        let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 9).unwrap();
        let (Some(f32_heads), Some(f16_heads)) = (
            PackedHyper::new(&hyper),
            PackedHyper::with_head_storage(&hyper, WeightStorage::F16),
        ) else {
            assert!(!hypermod::packed::cpu_supported());
            return;
        };
        let emb = embeddings(2, 12, 5);
        let exact = hyper.generate_packed(emb.clone(), &f32_heads).unwrap();
        let reduced = hyper.generate_packed(emb, &f16_heads).unwrap();
        let largest = exact
            .modules()
            .map(|(_, w)| {
                let m = |t: &Tensor<B, 4>| t.clone().abs().max().into_scalar();
                m(&w.a).max(m(&w.b))
            })
            .fold(0.0, f32::max);
        let d = adapters_diff(&reduced, &exact);
        assert!(
            d > 0.0 && d <= 1e-3 * largest,
            "{variant}: max |f16 − f32| = {d}, largest value {largest}"
        );
    }
}
