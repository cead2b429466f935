//! Golden test on the real SmolLM2-135M-Instruct against Hugging Face transformers (fixture made by
//! `scripts/golden/smollm2_logits.py`): last-position logits within 1e-3 and identical greedy
//! 12-token continuations for a plain, a code and a chat-formatted prompt.

use std::path::PathBuf;

use base_llm::{Adapters, GenerationConfig, Llama};
use burn::backend::Flex;
use burn::prelude::*;

type B = Flex;

fn fixture() -> serde_json::Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/smollm2_golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The model loaded by `Llama::load` from the real GGUF (Q8_0 embedding, Q4_1 linears,
/// dequantized to f32, q/k un-permuted into the Hugging Face rotate-half order).
fn load() -> Llama<B> {
    let gguf =
        base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF).unwrap_or_else(|e| panic!("{e}"));
    Llama::load(&gguf, &Default::default()).expect("the GGUF loads")
}

fn u32s(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn smollm2_logits_and_greedy_continuations_match_transformers() {
    let fx = fixture();
    let model = load();
    let fixed = u32s(&fx["fixed_ids"]);
    let n_new = fx["new_tokens"].as_u64().unwrap() as usize;
    let prompts = fx["prompts"].as_array().unwrap();
    assert!(prompts.len() >= 3);
    let mut all_prompts = Vec::new();
    for p in prompts {
        let name = p["name"].as_str().unwrap();
        let ids = u32s(&p["input_ids"]);
        let x = Tensor::<B, 2, Int>::from_data(
            TensorData::new(
                ids.iter().map(|&t| t as i64).collect::<Vec<_>>(),
                [1, ids.len()],
            ),
            &Default::default(),
        );
        let logits: Vec<f32> = model
            .forward_last(x, None, Adapters::None)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let argmax = base_llm::sampling::argmax(&logits);
        assert_eq!(
            argmax as u64,
            p["argmax"].as_u64().unwrap(),
            "{name}: argmax"
        );
        let mut worst = 0f32;
        for (id, want) in u32s(&p["top_ids"]).iter().zip(f32s(&p["top_values"])) {
            worst = worst.max((logits[*id as usize] - want).abs());
        }
        for (id, want) in fixed.iter().zip(f32s(&p["fixed_values"])) {
            worst = worst.max((logits[*id as usize] - want).abs());
        }
        println!("{name}: max |Δlogit| = {worst:.2e}");
        assert!(
            worst <= 1e-3,
            "{name}: logits differ from transformers by {worst}"
        );
        all_prompts.push(ids);
    }
    // Greedy continuations, all prompts in one left-padded batch through the KV cache.
    let out = model
        .generate(
            &all_prompts,
            &GenerationConfig::greedy(n_new),
            Adapters::None,
            None,
        )
        .unwrap();
    for (p, row) in prompts.iter().zip(&out.rows) {
        let want = u32s(&p["greedy_ids"]);
        let got: Vec<u32> = row.tokens.iter().copied().take(want.len()).collect();
        assert_eq!(got, want, "{}: greedy continuation", p["name"]);
    }
}
