//! `LlmEmbedder` on the real SmolLM2-135M-Instruct GGUF against transformers
//! (`scripts/golden/smollm2_last_token.py`): token ids, last-token and mean vectors of the final
//! hidden states (the T2L reference's base-LLM embedding), all texts in one padded batch.

use std::path::PathBuf;

use base_llm::ModelBundle;
use burn::backend::Flex;
use text_embed::{LlmEmbedder, LlmEmbedderOptions, Pooling, TextEmbedder, cosine_similarity};

type B = Flex;

fn gguf() -> PathBuf {
    base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF).unwrap_or_else(|e| panic!("{e}"))
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn last_token_and_mean_match_transformers() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_last_token.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rows = fixture["rows"].as_array().unwrap();
    let texts: Vec<&str> = rows.iter().map(|r| r["text"].as_str().unwrap()).collect();

    let bundle = ModelBundle::<B>::load(gguf(), &Default::default()).unwrap();
    let e = LlmEmbedder::new(
        bundle.model,
        bundle.tokenizer,
        "smollm2-135m-instruct-q4_1",
        LlmEmbedderOptions::default(),
    )
    .unwrap();
    assert_eq!(TextEmbedder::<B>::dim(&e), 576);
    let ids = e.encode(&texts).unwrap();
    for (got, row) in ids.iter().zip(rows) {
        let want: Vec<u32> = row["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(got, &want);
    }
    // All texts in one left-padded batch (9, 7 and 18 tokens).
    let last = e.embed(&texts).unwrap();
    let [n, d] = last.dims();
    let last: Vec<f32> = last.into_data().to_vec().unwrap();
    for (i, row) in rows.iter().enumerate() {
        let want = floats(&row["last_token"]);
        let cos = cosine_similarity(&last[i * d..(i + 1) * d], &want);
        eprintln!("text {i}: last-token cosine {cos:.7}");
        assert!(cos >= 0.9999, "text {i}: last-token cosine {cos}");
    }
    assert_eq!(n, rows.len());

    // Mean pooling: a second embedder on a fresh copy of the model.
    let bundle = ModelBundle::<B>::load(gguf(), &Default::default()).unwrap();
    let mean = LlmEmbedder::new(
        bundle.model,
        bundle.tokenizer,
        "smollm2-135m-instruct-q4_1",
        LlmEmbedderOptions {
            pooling: Pooling::Mean,
            ..Default::default()
        },
    )
    .unwrap()
    .embed(&texts)
    .unwrap();
    let mean: Vec<f32> = mean.into_data().to_vec().unwrap();
    for (i, row) in rows.iter().enumerate() {
        let want = floats(&row["mean"]);
        let cos = cosine_similarity(&mean[i * d..(i + 1) * d], &want);
        eprintln!("text {i}: mean cosine {cos:.7}");
        assert!(cos >= 0.9999, "text {i}: mean cosine {cos}");
    }
}
