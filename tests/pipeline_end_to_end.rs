//! The whole data flow across the crates, on the real models and the shipped checkpoint:
//! text → `text-embed` (MiniLM) → `hypermod` (T2L-M) → `LoraAdapter` → PEFT files (`lora-core`)
//! → `base-llm` (SmolLM2-135M) applying it.
//!
//! Checks, with stated tolerances:
//! - the PEFT round trip keeps every generated factor bit-identical (f32 files);
//! - the generated adapter changes the model's next-token logits (so the pipeline is not a no-op);
//! - applying it unmerged (forward hooks) and merged into the weights gives the same logits
//!   (≤ 1e-3 absolute over the 49,152-entry vocabulary; both are f32);
//! - unmerging restores the base model's logits (≤ 1e-4).
//!
//! Needs `scripts/fetch-assets.sh` (assets found through `T2L_ASSETS` or `<repo>/assets`).

use std::path::PathBuf;

use base_llm::{Adapters, ChatMessage, ModelBundle};
use burn::backend::Flex;
use burn::prelude::*;
use hypermod::HyperModulator;
use hypermod::pipeline::Pipeline;
use lora_core::{LoraAdapter, SaveDtype, load_peft, save_peft};
use text_embed::BertEmbedder;

type B = Flex;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn asset(rel: &str) -> PathBuf {
    base_llm::assets::asset(rel).unwrap_or_else(|e| panic!("{e}"))
}

fn max_abs_diff(a: &Tensor<B, 2>, b: &Tensor<B, 2>) -> f32 {
    (a.clone() - b.clone()).abs().max().into_scalar().to_f32()
}

/// Next-token logits `[1, vocab]` of one chat prompt.
fn next_token_logits(
    bundle: &ModelBundle<B>,
    ids: &[u32],
    adapters: Adapters<'_, B>,
) -> Tensor<B, 2> {
    let device = bundle.model.device();
    let ids: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    let n = ids.len();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, n]), &device);
    bundle.model.forward_last(ids, None, adapters).unwrap()
}

fn assert_same_adapter(a: &LoraAdapter<B>, b: &LoraAdapter<B>) {
    assert_eq!(a.layout(), b.layout());
    assert_eq!(a.config().r, b.config().r);
    for layer in 0..a.layout().n_layers {
        for (name, _) in a.modules() {
            let (a1, b1) = a.factors(layer, name).unwrap();
            let (a2, b2) = b.factors(layer, name).unwrap();
            assert_eq!(a1.into_data(), a2.into_data(), "A of {name} layer {layer}");
            assert_eq!(b1.into_data(), b2.into_data(), "B of {name} layer {layer}");
        }
    }
}

#[test]
fn description_to_adapter_to_model() {
    let device = Default::default();
    let hyper =
        HyperModulator::<B>::open(&repo().join("checkpoints/t2l-smollm2-minilm-m"), &device)
            .expect("the shipped checkpoint loads");
    let bert = BertEmbedder::<B>::load(&asset(base_llm::assets::MINILM_DIR), &device).unwrap();
    let pipeline = Pipeline::new(hyper, bert).unwrap();

    let description = "Answer multiple-choice science questions by picking the correct letter.";
    let adapter = pipeline.adapter(description).unwrap();

    // PEFT round trip through lora-core: the files hold exactly what was generated.
    let dir = tempfile::tempdir().unwrap();
    save_peft(&adapter, dir.path(), SaveDtype::F32).unwrap();
    let reloaded = load_peft::<B>(dir.path(), &device).unwrap();
    assert_same_adapter(&adapter, &reloaded);

    // base-llm applies it.
    let mut bundle =
        ModelBundle::<B>::load(asset(base_llm::assets::SMOLLM2_GGUF), &device).unwrap();
    bundle
        .model
        .check_adapter_layout(reloaded.layout())
        .unwrap();
    let text = bundle
        .tokenizer
        .apply_chat_template(
            &[ChatMessage::user(
                "Which gas do plants take in for photosynthesis?\nA. oxygen\nB. carbon dioxide\n\
                 C. nitrogen\nD. helium",
            )],
            true,
        )
        .unwrap();
    let ids = bundle.tokenizer.encode(&text, false).unwrap();

    let base = next_token_logits(&bundle, &ids, Adapters::None);
    let hooked = next_token_logits(&bundle, &ids, Adapters::Single(&reloaded));
    let effect = max_abs_diff(&base, &hooked);
    eprintln!("max |logit change| from the adapter: {effect}");
    assert!(
        effect > 1e-2,
        "the generated adapter leaves the logits unchanged (max |Δ| = {effect})"
    );

    bundle.model.merge_adapter(&reloaded).unwrap();
    let merged = next_token_logits(&bundle, &ids, Adapters::None);
    let d = max_abs_diff(&hooked, &merged);
    eprintln!("hooked vs merged: {d}");
    assert!(d <= 1e-3, "hooked vs merged logits differ by {d}");

    bundle.model.unmerge_adapter().unwrap();
    let restored = next_token_logits(&bundle, &ids, Adapters::None);
    let d = max_abs_diff(&base, &restored);
    eprintln!("base vs unmerged: {d}");
    assert!(
        d <= 1e-4,
        "unmerge left the logits {d} away from the base model"
    );
}
