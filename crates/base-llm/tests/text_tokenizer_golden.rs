//! The tokenizer rebuilt from the real SmolLM2-135M-Instruct GGUF against transformers'
//! (`scripts/golden/smollm2_tokenizer.py` → `fixtures/text/smollm2_tokenizer.json`): token ids
//! identical for every string, decodes identical, decode(encode(x)) == x, and the chat template
//! rendered byte for byte the same.

mod text_support;

use base_llm::loading::gguf::GgufFile;
use base_llm::text::{ChatMessage, Tokenizer};
use text_support::{fixture_json, smollm2_gguf, u32s as ids};

fn tokenizer() -> Tokenizer {
    let gguf = GgufFile::open(smollm2_gguf()).expect("GGUF opens");
    Tokenizer::from_gguf(&gguf.metadata).expect("tokenizer rebuilt")
}

#[test]
fn smollm2_tokenizer_matches_transformers() {
    let tok = tokenizer();
    let fx = fixture_json("text/smollm2_tokenizer.json");

    assert_eq!(tok.vocab_size() as u64, fx["vocab_size"].as_u64().unwrap());
    let special = tok.special_tokens();
    assert_eq!(special.bos_token.as_deref(), fx["bos_token"].as_str());
    assert_eq!(special.eos_token.as_deref(), fx["eos_token"].as_str());
    assert_eq!(special.pad_token.as_deref(), fx["pad_token"].as_str());
    assert_eq!(special.unk_token.as_deref(), fx["unk_token"].as_str());
    assert_eq!(
        tok.eos_token_ids(),
        &[fx["eos_token_id"].as_u64().unwrap() as u32]
    );

    let cases = fx["encode"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let with_special = tok.encode(text, true).unwrap();
        let without = tok.encode(text, false).unwrap();
        assert_eq!(with_special, ids(&case["ids"]), "ids of {text:?}");
        assert_eq!(without, ids(&case["ids_no_special"]), "ids of {text:?}");
        // Round trip: byte-level BPE loses nothing (special-token text stays when not skipped).
        assert_eq!(tok.decode(&without, false).unwrap(), text, "round trip");
    }

    for case in fx["decode"].as_array().unwrap() {
        let list = ids(&case["ids"]);
        assert_eq!(
            tok.decode(&list, false).unwrap(),
            case["text"].as_str().unwrap()
        );
        assert_eq!(
            tok.decode(&list, true).unwrap(),
            case["text_skip_special"].as_str().unwrap()
        );
    }
}

#[test]
fn smollm2_chat_template_matches_transformers() {
    let tok = tokenizer();
    let fx = fixture_json("text/smollm2_tokenizer.json");
    let chats = fx["chat"].as_array().unwrap();
    assert!(chats.len() >= 3);
    for chat in chats {
        let messages: Vec<ChatMessage> =
            serde_json::from_value(chat["messages"].clone()).expect("messages");
        let add = chat["add_generation_prompt"].as_bool().unwrap();
        let text = tok.apply_chat_template(&messages, add).unwrap();
        assert_eq!(text, chat["text"].as_str().unwrap());
        assert_eq!(tok.encode(&text, false).unwrap(), ids(&chat["ids"]));
    }
}

#[test]
fn special_tokens_are_whole_and_known() {
    let tok = tokenizer();
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(tok.token_to_id("<|im_end|>"), Some(2));
    assert_eq!(tok.id_to_token(0).as_deref(), Some("<|endoftext|>"));
    assert_eq!(tok.bos_token_id(), Some(1));
    assert_eq!(tok.pad_token_id(), Some(2));
    // No padding: different lengths stay different.
    assert_ne!(
        tok.encode("a", true).unwrap().len(),
        tok.encode("a b c d", true).unwrap().len()
    );
}
