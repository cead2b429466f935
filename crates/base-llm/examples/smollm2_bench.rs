//! Prefill and decode throughput of SmolLM2-135M-Instruct on the flex CPU backend, and peak RSS.
//!
//! Same protocol as `scripts/bench/smollm2_bench.py` (the transformers reference): the chat prompt
//! of the golden fixture cycled to `--prompt-tokens` ids, then greedy decoding of `--new-tokens`
//! tokens through the KV cache, batch 1, best of `--repeats` after one warm-up run.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p base-llm --example smollm2_bench -- \
//!     [--prompt-tokens 128] [--new-tokens 64]
//! ```
//!
//! The model is read with [`Llama::load`] from the GGUF in `assets/` (dequantized to f32);
//! `load_seconds` is the whole load (parse, dequantize, un-permute, upload).

use std::path::PathBuf;
use std::time::Instant;

use base_llm::{Adapters, KvCache, Llama};
use burn::backend::Flex;
use burn::prelude::*;

type B = Flex;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set size of this process in MiB (`VmHWM`).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt_tokens = arg("--prompt-tokens", 128);
    let new_tokens = arg("--new-tokens", 64);
    let repeats = arg("--repeats", 3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let gguf = base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF)?;
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("crates/base-llm/tests/fixtures/model/smollm2_golden.json"),
    )?)?;
    let base: Vec<i64> = fixture["prompts"][2]["input_ids"]
        .as_array()
        .ok_or("fixture without prompts")?
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    let ids: Vec<i64> = (0..prompt_tokens).map(|i| base[i % base.len()]).collect();

    let device = Default::default();
    let t = Instant::now();
    let model = Llama::<B>::load(&gguf, &device)?;
    let load_s = t.elapsed().as_secs_f64();

    let (mut best_prefill, mut best_decode) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..repeats + 1 {
        let mut cache = KvCache::new(model.config().num_hidden_layers);
        let x = Tensor::<B, 2, Int>::from_data(
            TensorData::new(ids.clone(), [1, prompt_tokens]),
            &device,
        );
        let t0 = Instant::now();
        let logits = model.forward_cached(x, None, Adapters::None, &mut cache)?;
        let mut next = logits
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()?[0];
        let t1 = Instant::now();
        for _ in 0..new_tokens - 1 {
            let x = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![next], [1, 1]), &device);
            let logits = model.forward_cached(x, None, Adapters::None, &mut cache)?;
            next = logits
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()?[0];
        }
        let t2 = Instant::now();
        best_prefill = best_prefill.min((t1 - t0).as_secs_f64());
        best_decode = best_decode.min((t2 - t1).as_secs_f64());
    }
    let result = serde_json::json!({
        "impl": "base-llm (burn 0.21 flex, f32)",
        "threads": std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into()),
        "load_seconds": load_s,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "prefill_tok_per_s": prompt_tokens as f64 / best_prefill,
        "decode_tok_per_s": (new_tokens - 1) as f64 / best_decode,
        "peak_rss_mb": peak_rss_mib(),
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
