//! Description → embedder → hypernetwork → PEFT directory.

use burn::prelude::*;
use hypermod::generator::GenerationPath;
use hypermod::packed::{HyperPrecision, bf16_kernel, bf16_supported, cpu_supported};
use hypermod::pipeline::{DESCRIPTION_FILE, Pipeline};
use hypermod::precision_name::NamedPrecision;
use hypermod::{Error, HyperModulator, InitMode, Variant};
use text_embed::TextEmbedder;

use crate::common::*;

/// Character statistics of width `dim`: a deterministic toy embedder.
#[derive(Debug)]
struct CharHash(usize);

impl TextEmbedder<B> for CharHash {
    fn embed(&self, texts: &[&str]) -> text_embed::Result<Tensor<B, 2>> {
        let mut data = vec![0f32; texts.len() * self.0];
        for (row, t) in texts.iter().enumerate() {
            for (i, c) in t.chars().enumerate() {
                data[row * self.0 + (c as usize + i) % self.0] += 1.0;
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(data, [texts.len(), self.0]),
            &Default::default(),
        ))
    }
    fn device(&self) -> burn::tensor::Device<B> {
        Default::default()
    }
    fn dim(&self) -> usize {
        self.0
    }
    fn id(&self) -> String {
        format!("char-hash-{}", self.0)
    }
}

#[test]
fn pipeline_applies_t2l_preprocessing_and_writes_a_peft_dir() {
    let device = Default::default();
    let hyper = HyperModulator::<B>::new(tiny(Variant::L, InitMode::Default), &device, 1).unwrap();
    let expected = {
        let raw = CharHash(12).embed(&["Add two numbers."]).unwrap();
        hyper
            .generate(text_embed::normalize_and_scale(raw))
            .unwrap()
    };
    let pipeline = Pipeline::new(hyper, CharHash(12)).unwrap();
    // " Add two numbers " → "Add two numbers." before embedding.
    let got = pipeline.adapters(&[" Add two numbers "]).unwrap();
    assert!(adapters_diff(&got, &expected) <= 1e-6);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let adapter = pipeline.write_peft("Add two numbers", &out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join(DESCRIPTION_FILE)).unwrap(),
        "Add two numbers"
    );
    let loaded = lora_core::load_peft::<B>(&out, &device).unwrap();
    for (name, w) in adapter.modules() {
        let v = loaded.module(name).unwrap();
        assert_eq!(max_abs_diff(&w.a, &v.a), 0.0);
        assert_eq!(max_abs_diff(&w.b, &v.b), 0.0);
    }
}

#[test]
fn pipeline_refuses_an_embedder_of_another_width() {
    let hyper = HyperModulator::<B>::new(
        tiny(Variant::S, InitMode::BiasHyperInit),
        &Default::default(),
        0,
    )
    .unwrap();
    let err = Pipeline::new(hyper, CharHash(7)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EmbeddingDim {
                expected: 12,
                found: 7
            }
        ),
        "{err}"
    );
}

#[test]
fn open_reads_our_checkpoints_and_refuses_other_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let hyper = HyperModulator::<B>::new(tiny(Variant::M, InitMode::Default), &device, 3).unwrap();
    hyper.save(dir.path()).unwrap();
    let opened = HyperModulator::<B>::open(dir.path(), &device).unwrap();
    assert_eq!(opened.config(), hyper.config());
    let empty = tempfile::tempdir().unwrap();
    let err = HyperModulator::<B>::open(empty.path(), &device).unwrap_err();
    assert!(matches!(err, Error::NotACheckpoint { .. }), "{err}");
}

/// A pipeline over a tiny hypernetwork of `variant` with the [`CharHash`] embedder.
fn tiny_pipeline(variant: Variant) -> Pipeline<B, CharHash> {
    let hyper =
        HyperModulator::<B>::new(tiny(variant, InitMode::Default), &Default::default(), 2).unwrap();
    Pipeline::new(hyper, CharHash(12)).unwrap()
}

const DESCRIPTIONS: [&str; 3] = [
    "Add two numbers.",
    "Classify the sentiment of a movie review",
    "Translate English into French.",
];

#[test]
fn pipeline_on_the_packed_f32_path_gives_the_generic_adapters() {
    for variant in VARIANTS {
        let generic = tiny_pipeline(variant);
        assert!(generic.packed().is_none());
        assert_eq!(generic.generator().path(), GenerationPath::Generic);
        let expected = generic.adapters(&DESCRIPTIONS).unwrap();
        let packed = match tiny_pipeline(variant).with_precision(HyperPrecision::F32) {
            Ok(p) => p,
            Err(Error::CpuFeature { feature, .. }) => {
                assert!(!cpu_supported(), "AVX-512F present but refused");
                assert_eq!(feature, "avx512f");
                eprintln!("note: no AVX-512F on this CPU; the packed pipeline is not run");
                return;
            }
            Err(e) => panic!("unexpected error {e}"),
        };
        assert!(packed.packed().is_some());
        assert_eq!(packed.generator().path(), GenerationPath::Packed);
        assert_eq!(packed.generator().precision(), Some(HyperPrecision::F32));
        assert_eq!(packed.packed().unwrap().bf16_kernel(), None);
        let got = packed.adapters(&DESCRIPTIONS).unwrap();
        let d = adapters_diff(&got, &expected);
        println!("{variant}: packed f32 vs generic pipeline, max abs diff {d:e}");
        assert!(d <= 1e-5, "{variant}: {d}");
        // adapter() and write_peft() go the same way.
        let one = packed.adapter(DESCRIPTIONS[1]).unwrap();
        let want = expected.get(1).unwrap();
        for (name, w) in one.modules() {
            let v = want.module(name).unwrap();
            assert!(max_abs_diff(&w.a, &v.a).max(max_abs_diff(&w.b, &v.b)) <= 1e-5);
        }
    }
}

/// Largest |value| over every factor of `a`.
fn largest_value(a: &lora_core::BatchedLoraAdapter<B>) -> f32 {
    a.modules()
        .flat_map(|(_, w)| values(&w.a).into_iter().chain(values(&w.b)))
        .fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn pipeline_in_bf16_differs_from_f32_within_bf16_rounding() {
    if !bf16_supported() {
        eprintln!("note: no AVX512-BF16 on this CPU; checking the typed error only");
        let err = tiny_pipeline(Variant::M)
            .with_precision(HyperPrecision::BF16)
            .unwrap_err();
        assert!(matches!(err, Error::CpuFeature { .. }), "{err}");
        return;
    }
    for variant in VARIANTS {
        let expected = tiny_pipeline(variant).adapters(&DESCRIPTIONS).unwrap();
        for named in [NamedPrecision::Bf16, NamedPrecision::Bf16Heads] {
            let pipeline = tiny_pipeline(variant)
                .with_precision(named.precision())
                .unwrap();
            assert_eq!(pipeline.packed().unwrap().bf16_kernel(), bf16_kernel());
            let got = pipeline.adapters(&DESCRIPTIONS).unwrap();
            let (d, scale) = (adapters_diff(&got, &expected), largest_value(&expected));
            println!(
                "{variant} {named}: max abs diff {d:e}, largest |value| {scale:e}, ratio {:e}",
                d / scale
            );
            assert!(d > 0.0, "{variant} {named}: bf16 equals f32 exactly");
            assert!(d <= 1.5e-2 * scale, "{variant} {named}: {d} vs {scale}");
        }
    }
}
