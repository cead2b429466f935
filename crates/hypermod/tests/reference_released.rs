//! Import of a full-size reference checkpoint directory (a released T2L model, or one written by
//! the reference's training scripts), when one is available: set `T2L_REFERENCE_DIR` to the
//! directory (holding `hypermod.pt`, `args.yaml`, `adapter_config.json`) and run
//! `cargo test -p hypermod --release --test reference_released -- --ignored --nocapture`.
//! Ignored by default: no such checkpoint is shipped (they are hundreds of MB).
//!
//! Checks that every tensor maps (no missing/unexpected key), that one adapter per embedding is
//! generated with the checkpoint's shapes and finite values, and prints how long reading, building
//! and generating took. When `DIR/expected_f32/` exists (written by
//! `scripts/golden/t2l_reference_dump.py DIR`: the reference maths in PyTorch on the same two
//! embeddings), every A and B must also match it to within 1e-4 (absolute; full-size sums are long).

use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use hypermod::HyperModulator;
use hypermod::reference::{ImportOptions, ReferenceCheckpoint};

type B = Flex;

#[test]
#[ignore = "needs a full-size reference checkpoint directory in T2L_REFERENCE_DIR"]
fn a_full_size_reference_checkpoint_imports_and_generates() {
    let dir = PathBuf::from(
        std::env::var("T2L_REFERENCE_DIR")
            .expect("set T2L_REFERENCE_DIR to a reference checkpoint directory"),
    );
    let device = Default::default();
    let t0 = Instant::now();
    let ckpt = ReferenceCheckpoint::read(&dir, &ImportOptions::default()).unwrap();
    let read_s = t0.elapsed().as_secs_f64();
    let cfg = ckpt.config.clone();
    println!(
        "{}: variant {}, E {}, D {}, H {}, {} layers, modules {:?}, order {:?} ({:?}), {} trainable parameters; dropped {} unused stack tensors",
        dir.display(),
        cfg.variant,
        cfg.task_dim,
        cfg.latent,
        cfg.head_in,
        cfg.layout.n_layers,
        cfg.layout.modules,
        cfg.module_order,
        ckpt.module_order_source,
        cfg.num_trainable_params(),
        ckpt.dropped.len()
    );
    let t1 = Instant::now();
    let hnet: HyperModulator<B> = ckpt.into_modulator(&device, "hypermod.pt").unwrap();
    let build_s = t1.elapsed().as_secs_f64();

    // Two task embeddings as the reference makes them: unit norm times sqrt(E).
    let e = cfg.task_dim;
    let raw: Vec<f32> = (0..2 * e)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5)
        .collect();
    let mut rows = Vec::with_capacity(2 * e);
    for row in raw.chunks(e) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        rows.extend(row.iter().map(|x| x / norm * (e as f32).sqrt()));
    }
    let emb = Tensor::<B, 2>::from_data(TensorData::new(rows, [2, e]), &device);
    let t2 = Instant::now();
    let batch = hnet.generate(emb).unwrap();
    let mut outputs = Vec::new();
    for m in &cfg.layout.modules {
        let w = batch.module(&m.name).unwrap();
        assert_eq!(w.a.dims(), [2, cfg.layout.n_layers, cfg.rank(), m.d_in]);
        assert_eq!(w.b.dims(), [2, cfg.layout.n_layers, m.d_out, cfg.rank()]);
        for (f, t) in [('A', &w.a), ('B', &w.b)] {
            let v = t.to_data().to_vec::<f32>().unwrap();
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{}.{f}: non-finite output",
                m.name
            );
            outputs.push((format!("{}.{f}", m.name), v));
        }
    }
    let gen_s = t2.elapsed().as_secs_f64();
    let values: usize = outputs.iter().map(|(_, v)| v.len()).sum();
    println!(
        "read {read_s:.2} s, build {build_s:.2} s, generate 2 adapters ({values} values) {gen_s:.3} s"
    );

    let expected_dir = dir.join("expected_f32");
    if !expected_dir.is_dir() {
        println!(
            "no {} (scripts/golden/t2l_reference_dump.py): values not compared",
            expected_dir.display()
        );
        return;
    }
    for (name, ours) in &outputs {
        let bytes = std::fs::read(expected_dir.join(format!("{name}.f32"))).unwrap();
        let theirs: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(theirs.len(), ours.len(), "{name}");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let scale = theirs.iter().map(|x| x.abs()).fold(0f32, f32::max);
        println!("{name}: max |ours − reference| = {worst:.3e} (max |value| {scale:.3e})");
        assert!(worst <= 1e-4, "{name}: max |diff| {worst}");
    }
}
