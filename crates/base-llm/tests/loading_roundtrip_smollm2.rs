//! The real SmolLM2 GGUF, written out as a Hugging Face directory (f32 `model.safetensors` +
//! `config.json`) and loaded back through the safetensors loader, gives identical logits.

mod loading_support;

use base_llm::loading::load_checkpoint;
use base_llm::loading::safetensors::write_safetensors;
use base_llm::{Adapters, Llama};
use burn::backend::Flex;
use burn::prelude::*;
use loading_support::smollm2_gguf;

type B = Flex;

fn last_logits(model: &Llama<B>) -> Vec<f32> {
    // "The capital of France is" in SmolLM2's vocabulary.
    let ids = [504i64, 3575, 282, 4649, 314];
    let x =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, 5]), &Default::default());
    model
        .forward_last(x, None, Adapters::None)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap()
}

#[test]
fn gguf_to_safetensors_directory_gives_identical_logits() {
    let ckpt = load_checkpoint(smollm2_gguf()).expect("the GGUF loads");
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(&ckpt.weights, dir.path().join("model.safetensors")).unwrap();
    ckpt.config
        .write_hf_config(dir.path().join("config.json"))
        .unwrap();
    let config = ckpt.config.clone();
    let from_gguf =
        Llama::<B>::from_weights(ckpt.config, ckpt.weights, &Default::default()).unwrap();
    let want = last_logits(&from_gguf);
    drop(from_gguf);

    let back = load_checkpoint(dir.path()).unwrap();
    assert_eq!(back.config, config, "config.json round trip");
    let from_st = Llama::<B>::from_weights(back.config, back.weights, &Default::default()).unwrap();
    let got = last_logits(&from_st);
    assert_eq!(got.len(), 49152);
    assert_eq!(got, want, "logits of the two sources differ");
    assert_eq!(
        base_llm::sampling::argmax(&got),
        base_llm::sampling::argmax(&want)
    );
}
