//! Description → embedder → hypernetwork → PEFT directory.

use burn::prelude::*;
use hypermod::pipeline::{DESCRIPTION_FILE, Pipeline};
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
