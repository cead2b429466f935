//! `AdapterGenerator` (generic or packed path, chosen once) and the packed path's named
//! precisions.
use hypermod::generator::{AdapterGenerator, GenerationPath};
use hypermod::packed::{HyperPrecision, WeightStorage, cpu_supported};
use hypermod::precision_name::{NamedPrecision, UnknownPrecision};
use hypermod::{Error, HyperModulator, InitMode, Variant};

use crate::common::*;

#[test]
fn precision_names_round_trip_and_unknown_names_list_the_accepted_ones() {
    let mut seen = Vec::new();
    for named in NamedPrecision::ALL {
        assert_eq!(named.to_string().parse::<NamedPrecision>(), Ok(named));
        let p = HyperPrecision::from(named);
        assert!(!seen.contains(&p), "{named} repeats a precision");
        seen.push(p);
    }
    assert_eq!(NamedPrecision::default(), NamedPrecision::F32);
    assert_eq!(NamedPrecision::F32.precision(), HyperPrecision::F32);
    assert_eq!(NamedPrecision::Bf16.precision(), HyperPrecision::BF16);
    assert_eq!(
        NamedPrecision::F16Heads.precision(),
        HyperPrecision {
            heads: WeightStorage::F16,
            trunk: WeightStorage::F32
        }
    );
    let err = "BF16".parse::<NamedPrecision>().unwrap_err();
    assert_eq!(
        err,
        UnknownPrecision {
            name: "BF16".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown precision `BF16` (expected one of f32, f16-heads, bf16, bf16-heads)"
    );
}

#[test]
fn generator_takes_the_path_it_was_given() {
    let device = Default::default();
    let hyper = HyperModulator::<B>::new(tiny(Variant::S, InitMode::Default), &device, 4).unwrap();
    let emb = embeddings(1, 12, 7).reshape([12]);
    let expected = hyper.generate_one(emb.clone()).unwrap();

    let generic = AdapterGenerator::new(hyper.clone());
    assert_eq!(generic.path(), GenerationPath::Generic);
    assert_eq!(generic.path().to_string(), "generic");
    assert!(generic.packed().is_none() && generic.precision().is_none());
    let got = generic.generate_one(emb.clone()).unwrap();
    for (name, w) in expected.modules() {
        let v = got.module(name).unwrap();
        assert_eq!(max_abs_diff(&w.a, &v.a).max(max_abs_diff(&w.b, &v.b)), 0.0);
    }

    let packed = match generic.with_precision(HyperPrecision::F32) {
        Ok(g) => g,
        Err(Error::CpuFeature { feature, .. }) => {
            assert!(!cpu_supported());
            assert_eq!(feature, "avx512f");
            eprintln!("note: no AVX-512F on this CPU; the packed generator is not run");
            return;
        }
        Err(e) => panic!("unexpected error {e}"),
    };
    assert_eq!(packed.path(), GenerationPath::Packed);
    assert_eq!(packed.path().to_string(), "packed");
    assert_eq!(packed.precision(), Some(HyperPrecision::F32));
    let got = packed.generate_one(emb).unwrap();
    let mut d = 0f32;
    for (name, w) in expected.modules() {
        let v = got.module(name).unwrap();
        d = d.max(max_abs_diff(&w.a, &v.a).max(max_abs_diff(&w.b, &v.b)));
    }
    println!("packed f32 generate_one vs generic: max abs diff {d:e}");
    assert!(d <= 1e-5, "{d}");
    // A wrong embedding width is the hypernetwork's typed error on the packed path too.
    let err = packed.generate(embeddings(1, 11, 0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EmbeddingDim {
                expected: 12,
                found: 11
            }
        ),
        "{err}"
    );
    assert_eq!(packed.into_hyper().config(), hyper.config());
}
