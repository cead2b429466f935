//! The `llama-bpe` and `qwen2` pre-tokenizer families against transformers: two tiny GGUFs (a
//! 700-token byte-level BPE written as `tokenizer.ggml.*` metadata) and the ids transformers'
//! `gguf_file=` tokenizer gives for strings with digits, contractions, code, accents, CJK, emoji,
//! whitespace runs, control and user-defined tokens (`scripts/golden/tiny_bpe_tokenizers.py`).

mod text_support;

use base_llm::loading::gguf::GgufFile;
use base_llm::text::Tokenizer;
use text_support::{fixture_json, fixture_path, u32s as ids};

#[test]
fn llama_bpe_and_qwen2_tokenizers_match_transformers() {
    let fx = fixture_json("text/tiny_bpe_tokenizers.json");
    let families = fx["families"].as_array().unwrap();
    assert_eq!(families.len(), 2);
    for family in families {
        let pre = family["pre"].as_str().unwrap();
        let file = GgufFile::open(fixture_path(&format!(
            "text/{}",
            family["gguf"].as_str().unwrap()
        )))
        .unwrap();
        assert_eq!(
            file.metadata.get_str("tokenizer.ggml.pre").unwrap(),
            pre,
            "fixture family"
        );
        let tok = Tokenizer::from_gguf(&file.metadata).unwrap();
        for case in family["encode"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let with = tok.encode(text, true).unwrap();
            let without = tok.encode(text, false).unwrap();
            assert_eq!(with, ids(&case["ids"]), "{pre}: ids of {text:?}");
            assert_eq!(
                without,
                ids(&case["ids_no_special"]),
                "{pre}: ids of {text:?}"
            );
            assert_eq!(
                tok.decode(&without, false).unwrap(),
                text,
                "{pre}: round trip"
            );
        }
    }
}
