//! Named tensors and checkpoint directories: round trips and typed mismatch errors.

use hypermod::checkpoint::{ADAPTER_CONFIG_FILE, CONFIG_FILE, WEIGHTS_FILE, write_tensors};
use hypermod::{Error, HyperModulator, InitMode, TensorProblem};
use lora_core::LoraAdapter;

use crate::common::*;

#[test]
fn save_load_round_trip_gives_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default).with_embedder("all-minilm-l6-v2");
        let offset =
            LoraAdapter::<B>::init_like_peft(cfg.lora.clone(), cfg.layout.clone(), &device, 9);
        let hyper = HyperModulator::<B>::new(cfg, &device, 21)
            .unwrap()
            .with_ab_offset(&offset)
            .unwrap();
        let path = dir.path().join(variant.to_string());
        hyper.save(&path).unwrap();
        for f in [WEIGHTS_FILE, CONFIG_FILE, ADAPTER_CONFIG_FILE] {
            assert!(path.join(f).is_file(), "{f}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        let loaded = HyperModulator::<B>::load(&path, &device).unwrap();
        assert_eq!(loaded.config(), hyper.config());
        assert_eq!(loaded.to_tensors(), hyper.to_tensors());
        let emb = embeddings(2, 12, 8);
        let d = adapters_diff(
            &hyper.generate(emb.clone()).unwrap(),
            &loaded.generate(emb).unwrap(),
        );
        assert_eq!(d, 0.0, "{variant}");
    }
}

#[test]
fn loading_names_every_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let hyper = HyperModulator::<B>::new(
        tiny(hypermod::Variant::M, InitMode::BiasHyperInit),
        &device,
        0,
    )
    .unwrap();
    hyper.save(dir.path()).unwrap();
    let mut tensors = hyper.to_tensors();
    tensors.remove("mlp2.mlp.4.bias");
    tensors.insert(
        "heads.v_proj.weight".into(),
        burn::tensor::TensorData::new(vec![0f32; 6], [2, 3]),
    );
    tensors.insert(
        "encoder.codebook".into(),
        burn::tensor::TensorData::new(vec![0f32; 4], [4]),
    );
    write_tensors(&dir.path().join(WEIGHTS_FILE), &tensors).unwrap();
    let err = HyperModulator::<B>::load(dir.path(), &device).unwrap_err();
    let msg = err.to_string();
    let Error::Tensors { problems, .. } = err else {
        panic!("not a tensor mismatch: {msg}");
    };
    assert_eq!(problems.len(), 3, "{msg}");
    assert!(problems.contains(&TensorProblem::Missing {
        name: "mlp2.mlp.4.bias".into(),
        expected: vec![16],
    }));
    assert!(problems.contains(&TensorProblem::Shape {
        name: "heads.v_proj.weight".into(),
        expected: vec![64, 24],
        found: vec![2, 3],
    }));
    assert!(problems.contains(&TensorProblem::Unexpected {
        name: "encoder.codebook".into(),
        found: vec![4],
    }));
    for name in [
        "mlp2.mlp.4.bias",
        "heads.v_proj.weight",
        "encoder.codebook",
        WEIGHTS_FILE,
    ] {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn contradicting_adapter_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let hyper = HyperModulator::<B>::new(tiny(hypermod::Variant::L, InitMode::Default), &device, 0)
        .unwrap();
    hyper.save(dir.path()).unwrap();
    let mut lora = hyper.config().lora.clone();
    lora.r = 16;
    lora.to_json_file(&dir.path().join(ADAPTER_CONFIG_FILE))
        .unwrap();
    let err = HyperModulator::<B>::load(dir.path(), &device).unwrap_err();
    assert!(err.to_string().contains("lora.r"), "{err}");
}

#[test]
fn tensor_names_follow_the_reference_state_dict() {
    let hyper = HyperModulator::<B>::new(
        tiny(hypermod::Variant::S, InitMode::BiasHyperInit).with_z_score(true),
        &Default::default(),
        0,
    )
    .unwrap();
    let tensors = hyper.to_tensors();
    for (name, shape) in [
        ("task_encoder.mlp.0.weight", vec![8, 12]),
        ("task_encoder.mlp.1.bias", vec![8]),
        ("layer_depth_encoder.0.weight", vec![3, 4]),
        ("layer_type_encoder.0.weight", vec![3, 4]),
        ("mixer.1.weight", vec![64, 16]),
        ("mixer.4.weight", vec![16, 64]),
        ("mlp1.mlp.0.weight", vec![16]),
        ("mlp2.mlp.4.bias", vec![16]),
        ("mlp3.4.weight", vec![24, 64]),
        ("heads.up_proj.weight", vec![40, 24]),
        ("heads.up_proj.bias", vec![40]),
        ("out_emb.q_proj.A", vec![16]),
        ("out_emb_norm.weight", vec![16]),
        ("mean_recon_target.A.v_proj", vec![3, 4, 16]),
        ("std_recon_target.B.v_proj", vec![3, 8, 4]),
    ] {
        let t = tensors
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.shape.to_vec(), shape, "{name}");
    }
    assert_eq!(tensors.len(), hypermod::tensor_specs(hyper.config()).len());
}
