//! Evaluates a base model, optionally with a PEFT adapter, on rows of a suite task: greedy
//! exact-match accuracy (case, surrounding space and final punctuation ignored) and the mean
//! per-sample SFT loss of the gold answers.
//!
//! ```text
//! cargo run --release -p trainers --example task_eval -- MODEL TASK SPLIT N [ADAPTER_DIR]
//! cargo run --release -p trainers --example task_eval -- \
//!     assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf glue_sst2 test 100 runs/oracle_sst2/adapter
//! ```

use std::path::PathBuf;
use std::time::Instant;

use base_llm::{Adapters, GenerationConfig, ModelBundle, Prompt, TrainOptions};
use burn::backend::Flex;
use trainers::data::batch::{Weighting, collate};
use trainers::data::chat::ChatEncoder;
use trainers::data::encode::{PairEncoder, encode_example};
use trainers::data::tasks::{Split, TaskSuite};
use trainers::loss::sft_loss;

type B = Flex;

fn normalise(s: &str) -> String {
    s.trim()
        .trim_end_matches(['.', '!', '?'])
        .trim()
        .to_lowercase()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: task_eval MODEL TASK train|test N [ADAPTER_DIR]");
        std::process::exit(2);
    }
    let device = Default::default();
    let bundle = ModelBundle::<B>::load(&args[1], &device)?;
    let split = if args[3] == "train" {
        Split::Train
    } else {
        Split::Test
    };
    let n: usize = args[4].parse()?;
    let adapter = args
        .get(5)
        .map(|d| lora_core::load_peft::<B>(&PathBuf::from(d), &device))
        .transpose()?;
    let adapters = match &adapter {
        Some(a) => Adapters::Single(a),
        None => Adapters::None,
    };
    let suite = TaskSuite::locate()?;
    let rows = suite.load(&args[2], split)?;
    let rows = &rows[..n.min(rows.len())];
    let encoder = ChatEncoder::new(bundle.tokenizer.clone())?;
    let t0 = Instant::now();
    let (mut correct, mut loss_sum) = (0usize, 0.0f64);
    for ex in rows {
        let prompt = Prompt::chat(Some(""), &ex.input);
        let out = bundle.complete(&prompt, &GenerationConfig::greedy(16), adapters)?;
        if normalise(&out.text) == normalise(&ex.output) {
            correct += 1;
        }
        let sample = encode_example(&encoder, ex, 512)?;
        let batch = collate(&[sample], encoder.pad_id(), 8, Weighting::PerSample);
        let loss = sft_loss(
            &bundle.model,
            &batch,
            adapters,
            TrainOptions::default(),
            0.0,
        )?;
        loss_sum += loss.into_scalar() as f64;
    }
    println!(
        "{{\"task\": \"{}\", \"split\": \"{}\", \"rows\": {}, \"adapter\": {}, \"accuracy\": {:.4}, \"loss\": {:.4}, \"seconds\": {:.1}}}",
        args[2],
        args[3],
        rows.len(),
        args.get(5)
            .map_or("null".to_string(), |a| format!("\"{a}\"")),
        correct as f64 / rows.len() as f64,
        loss_sum / rows.len() as f64,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
