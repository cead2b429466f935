//! The tokenizer rebuilt from the real SmolLM2-135M-Instruct GGUF against transformers'
//! (`scripts/golden/smollm2_tokenizer.py` → `fixtures/text/smollm2_tokenizer.json`): token ids
//! identical for every string, decodes identical, decode(encode(x)) == x, and the chat template
//! rendered byte for byte the same.

use std::path::PathBuf;

use base_llm::loading::gguf::GgufFile;
use base_llm::text::{ChatMessage, Tokenizer};
use serde_json::Value;

fn gguf_path() -> PathBuf {
    let path = std::env::var_os("T2L_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
        .join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-assets.sh",
        path.display()
    );
    path
}

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text/smollm2_tokenizer.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn tokenizer() -> Tokenizer {
    let gguf = GgufFile::open(gguf_path()).expect("GGUF opens");
    Tokenizer::from_gguf(&gguf.metadata).expect("tokenizer rebuilt")
}

#[test]
fn smollm2_tokenizer_matches_transformers() {
    let tok = tokenizer();
    let fx = fixture();

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
    let fx = fixture();
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
