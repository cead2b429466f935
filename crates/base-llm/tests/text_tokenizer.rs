//! Tokenizers built from small synthetic GGUF tokenizer metadata and from `tokenizer.json` files:
//! special and added tokens, BOS handling, pre-tokenizer families, no padding, typed errors.

mod text_support;

use base_llm::Error;
use base_llm::text::gguf_tokenizer::byte_level_alphabet;
use base_llm::text::{ChatMessage, GgufTokenizerSpec, PreTokenizerFamily, TextError, Tokenizer};
use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

/// A byte-level vocabulary: the 256 byte symbols, a few merges, then control and user tokens.
fn spec() -> GgufTokenizerSpec {
    let alphabet = byte_level_alphabet();
    let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<s>".into(), "</s>".into()];
    let mut token_types = vec![3, 3, 3];
    tokens.extend(alphabet.iter().map(|c| c.to_string()));
    token_types.extend(std::iter::repeat_n(1, 256));
    let merges = vec!["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "1 2"];
    for m in &merges {
        tokens.push(m.replace(' ', ""));
        token_types.push(1);
    }
    tokens.push("<tool>".into());
    token_types.push(4);
    GgufTokenizerSpec {
        model: "gpt2".into(),
        pre: Some("smollm".into()),
        tokens,
        token_types,
        merges: merges.into_iter().map(String::from).collect(),
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        unknown_token_id: Some(0),
        padding_token_id: None,
        add_bos_token: false,
        add_eos_token: false,
        chat_template: Some(
            "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
                .into(),
        ),
    }
}

fn id(tok: &Tokenizer, s: &str) -> u32 {
    tok.token_to_id(s).unwrap_or_else(|| panic!("{s} in vocab"))
}

#[test]
fn bpe_merges_special_and_user_tokens() {
    let tok = Tokenizer::from_gguf_spec(&spec()).unwrap();
    let ids = tok.encode("hello<s>hello wo<tool>", true).unwrap();
    let expected = vec![
        id(&tok, "hello"),
        1,
        id(&tok, "hello"),
        id(&tok, "Ġwo"),
        id(&tok, "<tool>"),
    ];
    assert_eq!(ids, expected);
    // Control tokens vanish when skipped, user-defined ones do not.
    assert_eq!(tok.decode(&ids, true).unwrap(), "hellohello wo<tool>");
    assert_eq!(tok.decode(&ids, false).unwrap(), "hello<s>hello wo<tool>");
    assert_eq!(tok.eos_token_ids(), &[2]);
    assert_eq!(tok.bos_token_id(), Some(1));
    assert_eq!(tok.pad_token_id(), None);
}

#[test]
fn smollm_splits_digits_one_by_one() {
    let tok = Tokenizer::from_gguf_spec(&spec()).unwrap();
    // "1 2" is a merge, but SmolLM's pre-tokenizer isolates every digit first.
    let ids = tok.encode("12", false).unwrap();
    assert_eq!(ids, vec![id(&tok, "1"), id(&tok, "2")]);
    let mut gpt2 = spec();
    gpt2.pre = Some("gpt2".into());
    let tok = Tokenizer::from_gguf_spec(&gpt2).unwrap();
    assert_eq!(tok.encode("12", false).unwrap(), vec![id(&tok, "12")]);
}

#[test]
fn add_bos_and_eos_tokens_when_the_metadata_says_so() {
    let mut s = spec();
    s.add_bos_token = true;
    s.add_eos_token = true;
    let tok = Tokenizer::from_gguf_spec(&s).unwrap();
    let h = id(&tok, "hello");
    assert_eq!(tok.encode("hello", true).unwrap(), vec![1, h, 2]);
    assert_eq!(tok.encode("hello", false).unwrap(), vec![h]);
}

fn splits(family: PreTokenizerFamily, text: &str) -> Vec<String> {
    let mut pre = PreTokenizedString::from(text);
    family
        .pre_tokenizer()
        .unwrap()
        .pre_tokenize(&mut pre)
        .unwrap();
    pre.get_splits(OffsetReferential::Original, OffsetType::Byte)
        .into_iter()
        .map(|(s, _, _)| s.to_string())
        .collect()
}

#[test]
fn pre_tokenizer_families_split_numbers_differently() {
    use PreTokenizerFamily::*;
    assert_eq!(splits(Llama3, "x 12345"), ["x", "Ġ", "123", "45"]);
    assert_eq!(
        splits(Qwen2, "x 12345"),
        ["x", "Ġ", "1", "2", "3", "4", "5"]
    );
    assert_eq!(
        splits(SmolLm, "x 12345"),
        ["x", "Ġ", "1", "2", "3", "4", "5"]
    );
    assert_eq!(splits(Gpt2, "x 12345"), ["x", "Ġ12345"]);
    // Llama 3 keeps a leading non-letter with a word and is case-insensitive on contractions.
    assert_eq!(splits(Llama3, "I'M (ok)"), ["I", "'M", "Ġ(", "ok", ")"]);
    assert_eq!(
        PreTokenizerFamily::from_gguf_name("llama-bpe").unwrap(),
        Llama3
    );
    assert_eq!(PreTokenizerFamily::from_gguf_name("qwen2").unwrap(), Qwen2);
}

#[test]
fn unknown_pre_tokenizer_is_a_typed_error_naming_it() {
    let mut s = spec();
    s.pre = Some("klingon-bpe".into());
    let err = Tokenizer::from_gguf_spec(&s).unwrap_err();
    assert!(
        matches!(&err, Error::Text(TextError::UnsupportedPreTokenizer { pre }) if pre == "klingon-bpe"),
        "{err}"
    );
    assert!(err.to_string().contains("klingon-bpe"));
}

#[test]
fn bad_metadata_is_a_typed_error() {
    let mut s = spec();
    s.model = "llama".into();
    assert!(matches!(
        Tokenizer::from_gguf_spec(&s),
        Err(Error::Text(TextError::UnsupportedModel { .. }))
    ));

    let mut s = spec();
    s.token_types.pop();
    let err = Tokenizer::from_gguf_spec(&s).unwrap_err();
    assert!(
        err.to_string().contains("tokenizer.ggml.token_type"),
        "{err}"
    );

    let mut s = spec();
    s.merges.push("nospace".into());
    let err = Tokenizer::from_gguf_spec(&s).unwrap_err();
    assert!(err.to_string().contains("tokenizer.ggml.merges"), "{err}");

    let mut s = spec();
    s.eos_token_id = Some(100_000);
    let err = Tokenizer::from_gguf_spec(&s).unwrap_err();
    assert!(
        err.to_string().contains("tokenizer.ggml.eos_token_id"),
        "{err}"
    );

    let mut s = spec();
    s.chat_template = Some("{% for %}".into());
    assert!(matches!(
        Tokenizer::from_gguf_spec(&s),
        Err(Error::Text(TextError::ChatTemplate {
            stage: "compile",
            ..
        }))
    ));
}

#[test]
fn hf_dir_round_trip_keeps_ids_template_and_never_pads() {
    let tok = Tokenizer::from_gguf_spec(&spec()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Write the pipeline with fixed padding switched on, as MiniLM ships it.
    let mut json: serde_json::Value =
        serde_json::from_str(&tok.inner().to_string(false).unwrap()).unwrap();
    json["padding"] = serde_json::json!({
        "strategy": {"Fixed": 32}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 0, "pad_type_id": 0, "pad_token": "<|endoftext|>"
    });
    std::fs::write(dir.path().join("tokenizer.json"), json.to_string()).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        serde_json::json!({
            "bos_token": {"content": "<s>", "special": true},
            "eos_token": "</s>",
            "chat_template": [
                {"name": "tool_use", "template": "tools"},
                {"name": "default", "template": "{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let back = Tokenizer::from_hf_dir(dir.path()).unwrap();
    let text = "hello world 12 <tool>";
    assert_eq!(
        back.encode(text, true).unwrap(),
        tok.encode(text, true).unwrap()
    );
    assert!(back.inner().get_padding().is_none());
    assert_eq!(back.eos_token_ids(), &[2]);
    assert_eq!(
        back.apply_chat_template(&[ChatMessage::user("hi")], false)
            .unwrap(),
        "<s>hi</s>"
    );
    // Without a tokenizer_config.json there is no template.
    let lone = Tokenizer::from_tokenizer_json(dir.path().join("tokenizer.json")).unwrap();
    assert!(matches!(
        lone.apply_chat_template(&[ChatMessage::user("hi")], true),
        Err(Error::Text(TextError::NoChatTemplate))
    ));
}

#[test]
fn minilm_tokenizer_json_is_not_padded() {
    let dir = text_support::asset(base_llm::assets::MINILM_DIR);
    let tok = Tokenizer::from_hf_dir(&dir).unwrap();
    // [CLS] hello world [SEP], not 128 ids of padding.
    assert_eq!(
        tok.encode("Hello world", true).unwrap(),
        vec![101, 7592, 2088, 102]
    );
}

#[test]
fn missing_files_are_typed_errors_naming_the_path() {
    let err = Tokenizer::from_hf_dir("/nonexistent/model").unwrap_err();
    assert!(matches!(err, Error::Text(TextError::Io { .. })));
    assert!(
        err.to_string()
            .contains("/nonexistent/model/tokenizer.json")
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), "{not json").unwrap();
    let err = Tokenizer::from_hf_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::Text(TextError::BadFile { .. })),
        "{err}"
    );
}
