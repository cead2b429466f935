//! [`ModelBundle`] from a Hugging Face directory: `config.json`, `model.safetensors`,
//! `tokenizer.json` and `tokenizer_config.json` (chat template, EOS). A tiny random Llama with the
//! 701-token tokenizer of the `tiny_qwen2.gguf` fixture is written out, loaded back through the
//! bundle, and compared with the same model built directly.

mod text_support;

use base_llm::loading::CheckpointSource;
use base_llm::loading::gguf::GgufFile;
use base_llm::loading::safetensors::write_safetensors;
use base_llm::model::build::random_weights;
use base_llm::{
    Adapters, ChatMessage, Error, FinishReason, GenerationConfig, Llama, LlamaConfig, ModelBundle,
    Prompt, Tokenizer,
};
use text_support::fixture_path;

type B = burn::backend::Flex;

const TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[test]
fn bundle_from_hf_directory_matches_the_model_built_directly() {
    let gguf = GgufFile::open(fixture_path("text/tiny_qwen2.gguf")).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf.metadata).unwrap();
    let config = LlamaConfig::tiny(tokenizer.vocab_size());
    let weights = random_weights(&config, 7);

    let dir = tempfile::tempdir().unwrap();
    config
        .write_hf_config(dir.path().join("config.json"))
        .unwrap();
    write_safetensors(&weights, dir.path().join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        tokenizer.inner().to_string(false).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        serde_json::json!({"eos_token": "<|im_end|>", "chat_template": TEMPLATE}).to_string(),
    )
    .unwrap();

    let bundle = ModelBundle::<B>::load(dir.path(), &Default::default()).unwrap();
    assert_eq!(
        bundle.source,
        CheckpointSource::HfDir(dir.path().to_path_buf())
    );
    let text = "def f12(x):\n    return x * 12 + 3";
    assert_eq!(
        bundle.tokenizer.encode(text, true).unwrap(),
        tokenizer.encode(text, true).unwrap()
    );

    // The chat prompt goes through tokenizer_config.json's template.
    let prompt = Prompt::Chat(vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("the quick brown fox"),
    ]);
    let rendered = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nthe quick brown fox<|im_end|>\n<|im_start|>assistant\n";
    let ids = bundle.prompt_ids(&prompt).unwrap();
    assert_eq!(ids, tokenizer.encode(rendered, false).unwrap());

    let gen_config = GenerationConfig::greedy(6);
    let out = bundle
        .complete(&prompt, &gen_config, Adapters::None)
        .unwrap();
    let direct = Llama::<B>::from_weights(config, weights, &Default::default()).unwrap();
    let want = direct
        .generate(
            std::slice::from_ref(&ids),
            &gen_config,
            Adapters::None,
            None,
        )
        .unwrap();
    let want_tokens = &want.rows[0].tokens;
    // The bundle also stops on the tokenizer's EOS (<|im_end|>), which the model config lacks.
    let im_end = bundle.tokenizer.token_to_id("<|im_end|>").unwrap();
    let cut = want_tokens
        .iter()
        .position(|&t| t == im_end)
        .map_or(want_tokens.len(), |i| i + 1);
    assert_eq!(out.token_ids, want_tokens[..cut]);
    assert_eq!(out.prompt_ids, ids);
    if cut < want_tokens.len() {
        assert_eq!(out.finish_reason, FinishReason::StopToken(im_end));
    }
    assert_eq!(
        out.text,
        bundle.tokenizer.decode(&out.token_ids, true).unwrap()
    );
}

#[test]
fn directory_without_tokenizer_is_a_typed_error() {
    let config = LlamaConfig::tiny(64);
    let dir = tempfile::tempdir().unwrap();
    config
        .write_hf_config(dir.path().join("config.json"))
        .unwrap();
    write_safetensors(
        &random_weights(&config, 1),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let err = ModelBundle::<B>::load(dir.path(), &Default::default()).unwrap_err();
    assert!(matches!(err, Error::Text(_)), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}
