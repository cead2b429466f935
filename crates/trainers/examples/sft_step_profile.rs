//! Phase profile of real SFT steps on CPU (flex): where a T2L SFT or LoRA SFT step spends its
//! time (data, adapter generation, base forward, LM head + cross-entropy, backward, optimizer),
//! as wall and process-CPU seconds (`trainers::step_profile`).
//!
//! ```text
//! cargo run -p trainers --example sft_step_profile -- t2l  configs/t2l_sft_smollm2_minilm_m.toml [--steps N] [--first-step K]
//! cargo run -p trainers --example sft_step_profile -- lora crates/trainers/configs/smollm2_oracle_glue_sst2.toml [--steps N]
//! ```
//!
//! `--repeat-batch` trains every step on batch `--first-step` (same shapes each step, for
//! comparisons); `--dump-batch FILE` (T2L) writes that batch (token ids, prompt lengths,
//! conditioning embeddings) as JSON for `scripts/bench/sft_step_reference.py`; `--padded` runs
//! the base model on the whole padded batch (the layout before length grouping) for comparison.
//!
//! The config's model, data (batch shape, `max_len`) and loss are used as they are; validation
//! is switched off, and T2L embeds one description per task (`max_descriptions_per_task = 1`)
//! so that start-up is short. Prints one line per step and phase, then one JSON line per step.
//! `RAYON_NUM_THREADS` sets the thread count.

use std::error::Error;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use trainers::config::load_config;
use trainers::data::batch::HostBatch;
use trainers::data::sft_data::{SftData, load_tasks};
use trainers::lora_sft::{LoraSftConfig, LoraSftObjective};
use trainers::optim::TrainOptimizer;
use trainers::step_profile::{StepProfile, profile_lora_sft_step, profile_t2l_sft_step};
use trainers::t2l_sft::{T2lSftConfig, build_t2l_sft};
use trainers::trainable_lora::TrainableLora;

type B = Autodiff<Flex>;

fn report(kind: &str, step: usize, p: &StepProfile) {
    println!(
        "{kind} step {step}: batch {:?} ({} tokens, {} targets), loss {:.4}, grad norm {:.3}",
        p.shape, p.tokens, p.targets, p.loss, p.grad_norm
    );
    for ph in &p.phases {
        println!(
            "  {:<15} wall {:>8.3} s  cpu {:>8.3} s",
            ph.name, ph.wall_s, ph.cpu_s
        );
    }
    println!(
        "  {:<15} wall {:>8.3} s  cpu {:>8.3} s",
        "total",
        p.wall_s(),
        p.cpu_s()
    );
    println!(
        "{}",
        serde_json::json!({"kind": kind, "step": step, "profile": p})
    );
}

struct Args {
    kind: String,
    config: std::path::PathBuf,
    steps: usize,
    first: usize,
    repeat: bool,
    dump: Option<std::path::PathBuf>,
    padded: bool,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let usage = "usage: sft_step_profile t2l|lora CONFIG [--steps N] [--first-step K] \
                 [--repeat-batch] [--padded] [--dump-batch FILE]";
    let mut it = std::env::args().skip(1);
    let kind = it.next().ok_or(usage)?;
    let config = it.next().ok_or(usage)?.into();
    let mut args = Args {
        kind,
        config,
        steps: 3,
        first: 0,
        repeat: false,
        dump: None,
        padded: false,
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--steps" => args.steps = it.next().ok_or(usage)?.parse()?,
            "--first-step" => args.first = it.next().ok_or(usage)?.parse()?,
            "--repeat-batch" => args.repeat = true,
            "--padded" => args.padded = true,
            "--dump-batch" => args.dump = Some(it.next().ok_or(usage)?.into()),
            _ => return Err(format!("unknown argument `{flag}`\n{usage}").into()),
        }
    }
    Ok(args)
}

/// The batch of `step` as JSON: real tokens and prompt length per row, conditioning rows.
fn batch_json(batch: &HostBatch, emb: Vec<f32>, emb_dim: usize, pad_id: i64) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = (0..batch.batch)
        .map(|r| {
            let row = &batch.ids[r * batch.seq..(r + 1) * batch.seq];
            let len = batch.attention[r * batch.seq..(r + 1) * batch.seq]
                .iter()
                .filter(|a| **a)
                .count();
            let first_target = batch
                .target_positions
                .iter()
                .zip(&batch.target_rows)
                .filter(|(_, row)| **row == r)
                .map(|(p, _)| p - r * batch.seq)
                .min()
                .unwrap_or(len);
            serde_json::json!({"ids": &row[..len], "n_prompt": first_target})
        })
        .collect();
    let emb: Vec<&[f32]> = emb.chunks(emb_dim).collect();
    serde_json::json!({"rows": rows, "seq": batch.seq, "pad_id": pad_id, "emb": emb, "emb_dim": emb_dim})
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let (kind, config, steps, first) = (
        args.kind.as_str(),
        args.config.as_path(),
        args.steps,
        args.first,
    );
    let step_of = |i: usize| if args.repeat { first } else { first + i };
    let device = Default::default();
    let t0 = Instant::now();
    match kind {
        "t2l" => {
            let mut cfg: T2lSftConfig = load_config(config)?;
            cfg.run.val_every = None;
            cfg.data.val_fraction = 0.0;
            cfg.data.val_heldout_tasks.clear();
            cfg.data.max_descriptions_per_task = Some(1);
            let (mut model, objective) = build_t2l_sft::<B>(&cfg, &device)?;
            eprintln!("set-up {:.1} s", t0.elapsed().as_secs_f64());
            let mut optim = TrainOptimizer::new(&cfg.optim);
            if let Some(path) = &args.dump {
                let (rows, batch) = objective.training_rows(first, 0)?;
                let dim = rows.dims()[1];
                let emb = rows.into_data().to_vec::<f32>()?;
                let pad = batch
                    .ids
                    .iter()
                    .zip(&batch.attention)
                    .find(|(_, a)| !**a)
                    .map_or(0, |(id, _)| *id);
                std::fs::write(path, batch_json(&batch, emb, dim, pad).to_string())?;
            }
            for step in (0..steps).map(step_of) {
                let (m, p) = profile_t2l_sft_step(
                    &objective,
                    model,
                    &mut optim,
                    cfg.run.seed,
                    step,
                    cfg.optim.lr,
                    args.padded,
                )?;
                model = m;
                report(kind, step, &p);
            }
        }
        "lora" => {
            let mut cfg: LoraSftConfig = load_config(config)?;
            cfg.data.val_fraction = 0.0;
            cfg.data.val_heldout_tasks.clear();
            let (llm, encoder) = cfg.model.load::<B>(&device)?;
            let (tasks, heldout) = load_tasks(&cfg.data)?;
            let data = SftData::new(tasks, heldout, encoder, &cfg.data, cfg.run.seed)?;
            let layout = llm.adapter_layout(&cfg.lora.target_modules)?;
            let lora = cfg.lora.to_lora_config(&cfg.model.name())?;
            let mut model = TrainableLora::<B>::init(lora, layout, &device, cfg.run.seed);
            let objective = LoraSftObjective::new(
                llm,
                data,
                cfg.loss.clone(),
                cfg.lora.dropout,
                cfg.optim.grad_accum_steps,
            );
            eprintln!("set-up {:.1} s", t0.elapsed().as_secs_f64());
            let mut optim = TrainOptimizer::new(&cfg.optim);
            for step in (0..steps).map(step_of) {
                let (m, p) = profile_lora_sft_step(
                    &objective,
                    model,
                    &mut optim,
                    cfg.run.seed,
                    step,
                    cfg.optim.lr,
                    args.padded,
                )?;
                model = m;
                report(kind, step, &p);
            }
        }
        _ => return Err(format!("unknown trainer `{kind}` (t2l or lora)").into()),
    }
    Ok(())
}
