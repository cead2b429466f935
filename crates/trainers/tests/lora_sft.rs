//! LoRA SFT end to end on a tiny random Llama and a synthetic suite: the loss falls, the base
//! stays bit-identical, a PEFT adapter comes out, and a resumed run reproduces the metrics.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use trainers::config::{LoraSettings, OptimConfig, RunConfig, ScheduleConfig, SftDataConfig};
use trainers::data::sft_data::{SftData, load_tasks};
use trainers::fit::{FitConfig, fit};
use trainers::lora_sft::{LoraSftConfig, LoraSftObjective, SftLossConfig, train_lora};
use trainers::metrics::read_metrics;
use trainers::model_source::ModelSource;
use trainers::trainable_lora::TrainableLora;

type B = Autodiff<Flex>;

/// The backend's random generator is process-wide: tests that draw dropout/NEFTune noise run one
/// at a time so that each sees only its own draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(root: &std::path::Path, out: &str, steps: usize) -> LoraSftConfig {
    LoraSftConfig {
        model: ModelSource::TinyRandom {
            seed: 3,
            layers: 2,
            hidden: 16,
        },
        lora: LoraSettings {
            r: 4,
            ..Default::default()
        },
        data: SftDataConfig {
            data_dir: Some(root.to_path_buf()),
            tasks: vec!["task0".into(), "task1".into(), "task2".into()],
            tasks_per_batch: 2,
            points_per_task: 2,
            max_len: 64,
            val_fraction: 0.2,
            val_max_per_task: 4,
            ..Default::default()
        },
        loss: SftLossConfig::default(),
        optim: OptimConfig {
            lr: 2e-2,
            ..Default::default()
        },
        schedule: ScheduleConfig {
            warmup_frac: 0.1,
            warmup_steps: None,
        },
        run: RunConfig {
            seed: 7,
            steps,
            out_dir: root.join(out),
            val_every: Some(5),
            checkpoint_every: Some(5),
            progress: false,
            ..Default::default()
        },
    }
}

#[test]
fn loss_falls_and_writes_peft_adapter() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    common::write_suite(dir.path(), 4, 40);
    let cfg = config(dir.path(), "run", 30);
    let report = train_lora::<B>(&cfg, None, &Default::default()).unwrap();
    assert_eq!(report.steps, 30);
    let m = read_metrics(&report.metrics).unwrap();
    let losses: Vec<f64> = m.iter().filter_map(|r| r.loss).collect();
    // Means over 5 steps: single steps are noisy (NEFTune and dropout on a 16-wide model).
    let first = losses[..5].iter().sum::<f64>() / 5.0;
    let last = losses[losses.len() - 5..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    let vals: Vec<f64> = m.iter().filter_map(|r| r.val_loss).collect();
    assert!(vals.last().unwrap() < &vals[0], "val {vals:?}");
    let ad = lora_core::load_peft::<Flex>(&report.adapter_dir, &Default::default()).unwrap();
    assert_eq!(ad.config().r, 4);
    assert_eq!(ad.layout().n_layers, 2);
    assert!(
        ad.module("q_proj")
            .unwrap()
            .b
            .clone()
            .abs()
            .max()
            .into_scalar()
            > 0.0
    );
}

/// Every float parameter of a module, flattened.
struct Collect(Vec<Vec<f32>>);
impl<B: Backend> ModuleVisitor<B> for Collect {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
        self.0.push(p.val().into_data().to_vec::<f32>().unwrap());
    }
}

#[test]
fn frozen_base_is_bit_identical_after_training() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    common::write_suite(dir.path(), 4, 20);
    let cfg = config(dir.path(), "frozen", 6);
    let device = Default::default();
    let (llm, encoder) = cfg.model.load::<B>(&device).unwrap();
    let mut before = Collect(Vec::new());
    llm.visit(&mut before);
    let (tasks, held) = load_tasks(&cfg.data).unwrap();
    let data = SftData::new(tasks, held, encoder, &cfg.data, 7).unwrap();
    let layout = llm.adapter_layout(&cfg.lora.target_modules).unwrap();
    let model = TrainableLora::init(cfg.lora.to_lora_config("tiny").unwrap(), layout, &device, 1);
    let start = Collect(Vec::new());
    let mut start = start;
    model.visit(&mut start);
    let mut obj = LoraSftObjective::new(llm, data, SftLossConfig::default(), 0.05, 1);
    let out = fit(
        &mut obj,
        model,
        FitConfig {
            optim: &cfg.optim,
            schedule: &cfg.schedule,
            run: &cfg.run,
            resume: None,
        },
        &device,
    )
    .unwrap();
    let mut after = Collect(Vec::new());
    obj.llm().visit(&mut after);
    assert_eq!(before.0.len(), after.0.len());
    assert!(before.0 == after.0, "a frozen base weight changed");
    let mut trained = Collect(Vec::new());
    out.model.visit(&mut trained);
    assert!(start.0 != trained.0, "the LoRA did not change");
}

#[test]
fn resume_reproduces_uninterrupted_metrics() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    common::write_suite(dir.path(), 4, 20);
    let device = Default::default();
    let full = config(dir.path(), "full", 12);
    train_lora::<B>(&full, None, &device).unwrap();

    let mut part = config(dir.path(), "part", 12);
    part.run.stop_after_steps = Some(8); // "killed" after step 8; last checkpoint at step 5
    train_lora::<B>(&part, None, &device).unwrap();
    assert_eq!(
        read_metrics(&part.run.out_dir.join("metrics.jsonl"))
            .unwrap()
            .iter()
            .filter(|r| r.loss.is_some())
            .count(),
        8
    );
    part.run.stop_after_steps = None;
    train_lora::<B>(&part, Some(&part.run.out_dir), &device).unwrap();

    let a = read_metrics(&full.run.out_dir.join("metrics.jsonl")).unwrap();
    let b = read_metrics(&part.run.out_dir.join("metrics.jsonl")).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.step, y.step);
        for (u, v) in [
            (x.loss, y.loss),
            (x.lr, y.lr),
            (x.grad_norm, y.grad_norm),
            (x.val_loss, y.val_loss),
        ] {
            match (u, v) {
                (Some(u), Some(v)) => assert!((u - v).abs() <= 1e-6, "step {}: {u} vs {v}", x.step),
                (None, None) => {}
                _ => panic!("step {}: field present in one run only", x.step),
            }
        }
    }
    // Both adapters are the same.
    let pa = lora_core::load_peft::<Flex>(&full.run.out_dir.join("adapter"), &device).unwrap();
    let pb = lora_core::load_peft::<Flex>(&part.run.out_dir.join("adapter"), &device).unwrap();
    let d = (pa.module("v_proj").unwrap().a.clone() - pb.module("v_proj").unwrap().a.clone())
        .abs()
        .max()
        .into_scalar();
    assert!(d <= 1e-6, "{d}");
}

#[test]
fn without_validation_best_checkpoint_is_the_latest_model() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    common::write_suite(dir.path(), 4, 20);
    let mut cfg = config(dir.path(), "noval", 4);
    cfg.run.val_every = None;
    cfg.run.checkpoint_every = Some(2);
    cfg.run.stop_after_steps = Some(2);
    train_lora::<B>(&cfg, None, &Default::default()).unwrap();
    let root = cfg.run.out_dir.join("checkpoints");
    let latest = std::fs::read_to_string(root.join("latest")).unwrap();
    let ckpt = root.join(latest.trim());
    let model = std::fs::read(ckpt.join("model.bin")).unwrap();
    let best = std::fs::read(ckpt.join("best.bin")).unwrap();
    assert!(!model.is_empty());
    assert!(
        model == best,
        "best.bin differs from model.bin in {}",
        ckpt.display()
    );
}
