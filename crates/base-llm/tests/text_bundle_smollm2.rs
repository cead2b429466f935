//! [`ModelBundle`] end to end on the real SmolLM2-135M-Instruct GGUF: one path gives model and
//! tokenizer; a chat prompt goes through the GGUF's chat template and tokenizer to exactly the ids
//! transformers built, and greedy decoding yields transformers' continuation
//! (`fixtures/model/smollm2_golden.json`, made by `scripts/golden/smollm2_logits.py`).

mod text_support;

use base_llm::loading::CheckpointSource;
use base_llm::{Adapters, Error, FinishReason, GenerationConfig, ModelBundle, Prompt};
use text_support::{fixture_json, smollm2_gguf, u32s};

type B = burn::backend::Flex;

#[test]
fn smollm2_bundle_chat_prompt_and_greedy_continuation_match_transformers() {
    let gguf = smollm2_gguf();
    let fx = fixture_json("model/smollm2_golden.json");
    let chat = fx["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "chat")
        .expect("chat prompt in fixture");

    let bundle = ModelBundle::<B>::load(&gguf, &Default::default()).expect("bundle loads");
    assert_eq!(bundle.source, CheckpointSource::Gguf(gguf.clone()));
    assert_eq!(
        bundle.tokenizer.vocab_size(),
        bundle.model.config().vocab_size
    );

    // The golden chat prompt is the default template with this user message.
    let prompt = Prompt::chat(None, "What is 7 times 8? Answer briefly.");
    let ids = bundle.prompt_ids(&prompt).unwrap();
    assert_eq!(ids, u32s(&chat["input_ids"]));
    let plain = fx["prompts"][0].clone();
    assert_eq!(
        bundle
            .prompt_ids(&Prompt::Text(plain["text"].as_str().unwrap().into()))
            .unwrap(),
        u32s(&plain["input_ids"])
    );

    let want = u32s(&chat["greedy_ids"]);
    let out = bundle
        .complete(
            &prompt,
            &GenerationConfig::greedy(want.len()),
            Adapters::None,
        )
        .unwrap();
    assert_eq!(out.token_ids, want);
    assert_eq!(out.text, chat["greedy_text"].as_str().unwrap());
    assert_eq!(out.finish_reason, FinishReason::MaxTokens);
    assert!(out.tokens_per_second() > 0.0);

    // A stop string ends generation once the decoded text contains it.
    let mut config = GenerationConfig::greedy(want.len());
    config.stop_strings = vec!["56".into()];
    let stopped = bundle.complete(&prompt, &config, Adapters::None).unwrap();
    assert_eq!(stopped.finish_reason, FinishReason::StopString("56".into()));
    assert!(stopped.text.ends_with("56"), "{:?}", stopped.text);
}

#[test]
fn missing_model_path_is_a_typed_error() {
    let err = ModelBundle::<B>::load("/nonexistent/model.gguf", &Default::default()).unwrap_err();
    assert!(matches!(err, Error::Load(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
}
