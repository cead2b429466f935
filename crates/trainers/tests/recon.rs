//! T2L reconstruction: a small hypernetwork reproduces a library of synthetic LoRAs.

use burn::backend::{Autodiff, Flex};
use lora_core::{AdapterLayout, LoraAdapter, LoraConfig, ModuleShape, SaveDtype, save_peft};
use rand::{Rng, SeedableRng, rngs::StdRng};
use trainers::config::{OptimConfig, RunConfig, ScheduleConfig};
use trainers::hyper_settings::HyperSettings;
use trainers::metrics::read_metrics;
use trainers::recon::{ReconConfig, ReconLoss, ReconTarget, train_recon};
use trainers::task_embeddings::EmbeddingSource;

type B = Autodiff<Flex>;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `n` random adapters (2 layers, q 16→16 and v 16→8, rank 2) saved as PEFT directories.
fn library(dir: &std::path::Path, n: usize) -> Vec<ReconTarget> {
    let layout = AdapterLayout::new(
        2,
        vec![
            ModuleShape {
                name: "q_proj".into(),
                d_in: 16,
                d_out: 16,
            },
            ModuleShape {
                name: "v_proj".into(),
                d_in: 16,
                d_out: 8,
            },
        ],
    );
    let cfg = LoraConfig::new(2, 4.0, ["q_proj", "v_proj"]).with_rslora(true);
    let dev = Default::default();
    (0..n)
        .map(|i| {
            let base =
                LoraAdapter::<Flex>::init_like_peft(cfg.clone(), layout.clone(), &dev, i as u64);
            let mut rng = StdRng::seed_from_u64(100 + i as u64);
            let ad = base.map_tensors(|t| {
                let dims = t.dims();
                let v: Vec<f32> = (0..t.shape().num_elements())
                    .map(|_| rng.random_range(-0.2f32..0.2))
                    .collect();
                burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, dims), &dev)
            });
            let p = dir.join(format!("lora{i}"));
            save_peft(&ad, &p, SaveDtype::F32).unwrap();
            ReconTarget {
                name: format!("task{i}"),
                adapter: p,
                descriptions: vec![],
            }
        })
        .collect()
}

fn config(
    dir: &std::path::Path,
    targets: Vec<ReconTarget>,
    loss: ReconLoss,
    steps: usize,
) -> ReconConfig {
    ReconConfig {
        targets,
        data_dir: None,
        embedding: EmbeddingSource::OneHot,
        loss,
        hyper: HyperSettings {
            latent: 32,
            head_in: 32,
            dropout: 0.0,
            ..Default::default()
        },
        tasks_per_batch: 4,
        optim: OptimConfig {
            lr: 1e-2,
            weight_decay: 0.0,
            ..Default::default()
        },
        schedule: ScheduleConfig {
            warmup_frac: 0.05,
            warmup_steps: None,
        },
        run: RunConfig {
            seed: 1,
            steps,
            out_dir: dir.join("run"),
            val_every: Some(100),
            progress: false,
            ..Default::default()
        },
    }
}

#[test]
fn zscore_reconstruction_of_four_loras_reaches_l1_below_1e3() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let targets = library(dir.path(), 4);
    let cfg = config(dir.path(), targets, ReconLoss::ZScore, 400);
    let report = train_recon::<B>(&cfg, None, &Default::default()).unwrap();
    let m = read_metrics(&report.metrics).unwrap();
    let vals: Vec<f64> = m.iter().filter_map(|r| r.val_loss).collect();
    eprintln!("z-score val L1 {vals:?}, recon L1 {}", report.recon_l1);
    assert!(vals[0] > 0.3, "initial z-score L1 {vals:?}");
    assert!(report.best_val.unwrap() < 1e-3, "final z-score L1 {vals:?}");
    // Raw-parameter error of regenerated adapters (targets are U(±0.2)).
    assert!(report.recon_l1 < 1e-3, "recon L1 {}", report.recon_l1);
    // The saved hypernetwork regenerates the adapters with its z-score stacks.
    let hyper =
        hypermod::HyperModulator::<Flex>::load(&report.hypermod_dir, &Default::default()).unwrap();
    assert!(hyper.config().z_score);
}

#[test]
fn delta_w_reconstruction_loss_falls() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let targets = library(dir.path(), 3);
    let cfg = config(
        dir.path(),
        targets,
        ReconLoss::DeltaW { scaling: 100.0 },
        200,
    );
    let report = train_recon::<B>(&cfg, None, &Default::default()).unwrap();
    let m = read_metrics(&report.metrics).unwrap();
    let vals: Vec<f64> = m.iter().filter_map(|r| r.val_loss).collect();
    eprintln!("ΔW val L1 {vals:?}");
    assert!(vals.last().unwrap() < &(0.2 * vals[0]), "ΔW L1 {vals:?}");
}
