//! GGUF metadata and tensor infos of the real SmolLM2-135M-Instruct file (values as listed in
//! `shared/reference/assets.md` §1.1 and by the `gguf` Python package).

mod loading_support;

use base_llm::loading::LoadError;
use base_llm::loading::gguf::{GgmlType, GgufFile, GgufValue};
use loading_support::smollm2_gguf;

#[test]
fn smollm2_metadata_and_tensor_infos() {
    let g = GgufFile::open(smollm2_gguf()).expect("opens");
    assert_eq!(g.version, 3);
    assert_eq!(g.alignment, 32);
    let md = &g.metadata;
    assert_eq!(md.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(md.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(md.get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(md.get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(md.get_f32("llama.rope.freq_base").unwrap(), 100000.0);
    assert_eq!(
        md.get_f32("llama.attention.layer_norm_rms_epsilon")
            .unwrap(),
        1e-5
    );
    assert_eq!(md.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    let tokens = md.get_string_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(tokens[1], "<|im_start|>");
    assert_eq!(
        md.get_string_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert_eq!(md.get_i32_array("tokenizer.ggml.token_type").unwrap()[0], 3);
    assert_eq!(md.get_u32("tokenizer.ggml.eos_token_id").unwrap(), 2);
    assert!(!md.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    assert!(matches!(
        md.get("general.file_type"),
        Some(GgufValue::U32(3))
    ));
    assert_eq!(md.iter().next().unwrap().0, "general.architecture");

    assert_eq!(g.tensors.len(), 272);
    let embd = g.tensor_info("token_embd.weight").unwrap();
    assert_eq!(embd.ggml_type, GgmlType::Q8_0);
    assert_eq!(embd.dims, vec![576, 49152]);
    assert_eq!(embd.shape(), vec![49152, 576]);
    let q = g.tensor_info("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.ggml_type, GgmlType::Q4_1);
    assert!(g.tensor_info("output.weight").is_none());
}

#[test]
fn typed_accessor_errors_name_key_and_file() {
    let g = GgufFile::open(smollm2_gguf()).unwrap();
    match g.metadata.get_u32("llama.no_such_key") {
        Err(LoadError::MissingKey { key, path }) => {
            assert_eq!(key, "llama.no_such_key");
            assert_eq!(path, smollm2_gguf());
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    match g.metadata.get_u32("general.architecture") {
        Err(e @ LoadError::KeyType { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("general.architecture") && msg.contains("string"),
                "{msg}"
            );
        }
        other => panic!("expected KeyType, got {other:?}"),
    }
    assert!(matches!(
        g.metadata.get_string_array("tokenizer.ggml.token_type"),
        Err(LoadError::KeyType { .. })
    ));
}

/// The preset that random-weight benchmarks use is exactly the config read from the real file.
#[test]
fn smollm2_preset_equals_the_config_read_from_the_gguf() {
    let g = GgufFile::open(smollm2_gguf()).expect("opens");
    let read = base_llm::LlamaConfig::from_gguf(&g).expect("config");
    assert_eq!(read, base_llm::LlamaConfig::smollm2_135m());
}
