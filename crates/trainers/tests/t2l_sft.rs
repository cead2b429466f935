//! T2L SFT end to end on a tiny random Llama: the loss falls, gradients reach only the
//! hypernetwork, and validation covers a held-out task.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use trainers::config::{LoraSettings, OptimConfig, RunConfig, ScheduleConfig, SftDataConfig};
use trainers::fit::Objective;
use trainers::hyper_settings::HyperSettings;
use trainers::metrics::read_metrics;
use trainers::model_source::ModelSource;
use trainers::t2l_sft::{T2lSftConfig, build_t2l_sft, train_t2l_sft};

type B = Autodiff<Flex>;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config(root: &std::path::Path, steps: usize) -> T2lSftConfig {
    T2lSftConfig {
        model: ModelSource::TinyRandom {
            seed: 2,
            layers: 2,
            hidden: 16,
        },
        lora: LoraSettings {
            r: 2,
            ..Default::default()
        },
        data: SftDataConfig {
            data_dir: Some(root.to_path_buf()),
            tasks: vec!["task0".into(), "task1".into(), "task2".into()],
            tasks_per_batch: 3,
            points_per_task: 2,
            max_len: 64,
            val_fraction: 0.2,
            val_max_per_task: 4,
            val_heldout_tasks: vec!["task3".into()],
            ..Default::default()
        },
        hyper: HyperSettings {
            latent: 16,
            head_in: 16,
            ..Default::default()
        },
        optim: OptimConfig {
            lr: 1e-2,
            ..Default::default()
        },
        schedule: ScheduleConfig {
            warmup_frac: 0.1,
            warmup_steps: None,
        },
        run: RunConfig {
            seed: 3,
            steps,
            out_dir: root.join("run"),
            val_every: Some(10),
            progress: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn t2l_sft_loss_falls_and_saves_hypernetwork() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    common::write_suite(dir.path(), 4, 30);
    let cfg = config(dir.path(), 40);
    let report = train_t2l_sft::<B>(&cfg, None, &Default::default()).unwrap();
    let m = read_metrics(&report.metrics).unwrap();
    let losses: Vec<f64> = m.iter().filter_map(|r| r.loss).collect();
    let first = losses[..3].iter().sum::<f64>() / 3.0;
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    eprintln!(
        "train loss {first:.4} -> {last:.4}; base val {:?}, best val {:?}",
        report.base_val, report.best_val
    );
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    assert!(report.best_val.unwrap() < report.base_val.unwrap());
    let hyper =
        hypermod::HyperModulator::<Flex>::load(&report.hypermod_dir, &Default::default()).unwrap();
    assert_eq!(hyper.config().lora.r, 2);
}

#[test]
fn only_the_hypernetwork_gets_gradients() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    common::write_suite(dir.path(), 4, 10);
    let cfg = config(dir.path(), 1);
    let (hyper, mut obj) = build_t2l_sft::<B>(&cfg, &Default::default()).unwrap();
    let out = obj.loss(&hyper, 0, 0).unwrap();
    let grads = out.loss.clone().backward();
    let for_base = GradientsParams::from_grads(grads, obj.llm());
    assert_eq!(for_base.len(), 0, "the frozen base received gradients");
    let out = obj.loss(&hyper, 0, 0).unwrap();
    let for_hyper = GradientsParams::from_grads(out.loss.backward(), &hyper);
    let mut count = Count(0);
    hyper.visit(&mut count);
    assert!(count.0 > 10);
    assert_eq!(
        for_hyper.len(),
        count.0,
        "some hypernetwork parameter got no gradient"
    );
}

/// Counts parameter tensors.
struct Count(usize);
impl<B: Backend> ModuleVisitor<B> for Count {
    fn visit_float<const D: usize>(&mut self, _p: &Param<Tensor<B, D>>) {
        self.0 += 1;
    }
}

#[test]
fn shipped_configs_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let sft: T2lSftConfig =
        trainers::config::load_config(&dir.join("smollm2_t2l_sft_short.toml")).unwrap();
    assert_eq!(sft.data.val_heldout_tasks.len(), 10);
    assert_eq!(sft.loss.label_smoothing, 0.1);
    let lora: trainers::lora_sft::LoraSftConfig =
        trainers::config::load_config(&dir.join("smollm2_oracle_glue_sst2.toml")).unwrap();
    assert_eq!(lora.data.points_per_task, 8);
}
