//! Typed errors of `BertEmbedder::load` on unsupported or broken model directories, and the
//! sentence-transformers settings read from a directory.

use std::path::Path;

use burn::backend::Flex;
use text_embed::bert::{BertConfig, SentenceTransformerConfig};
use text_embed::{BertEmbedder, Error, Pooling};

type B = Flex;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const TINY_BERT: &str = r#"{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 10,
  "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
  "max_position_embeddings": 16}"#;

#[test]
fn gte_new_model_is_refused_naming_its_architecture() {
    let dir = tempfile::tempdir().unwrap();
    // The config.json of Alibaba-NLP/gte-large-en-v1.5 (abridged).
    write(
        dir.path(),
        "config.json",
        r#"{"architectures": ["NewModel"], "model_type": "new", "hidden_size": 1024,
            "rope_theta": 160000, "hidden_act": "gelu", "num_hidden_layers": 24}"#,
    );
    let err = BertEmbedder::<B>::load(dir.path(), &Default::default()).unwrap_err();
    match &err {
        Error::UnsupportedArchitecture { architecture, .. } => assert_eq!(architecture, "NewModel"),
        other => panic!("expected UnsupportedArchitecture, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("NewModel") && msg.contains("config.json"),
        "{msg}"
    );
}

#[test]
fn other_architectures_and_bad_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "config.json",
        r#"{"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta"}"#,
    );
    let err = BertConfig::from_file(&dir.path().join("config.json")).unwrap_err();
    assert!(err.to_string().contains("XLMRobertaModel"), "{err}");

    let relative = TINY_BERT.replace('}', r#", "position_embedding_type": "relative_key"}"#);
    write(dir.path(), "config.json", &relative);
    let err = BertConfig::from_file(&dir.path().join("config.json")).unwrap_err();
    assert!(err.to_string().contains("position_embedding_type"), "{err}");

    write(dir.path(), "config.json", "{not json");
    let err = BertConfig::from_file(&dir.path().join("config.json")).unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err}");
}

#[test]
fn missing_files_and_tensors_name_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = BertEmbedder::<B>::load(dir.path(), &Default::default()).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("config.json"),
        "{err}"
    );

    write(dir.path(), "config.json", TINY_BERT);
    // A real tokenizer, and a weights file with one tensor of the wrong shape.
    let minilm = base_llm::assets::asset(base_llm::assets::MINILM_DIR)
        .unwrap_or_else(|e| panic!("{e}"))
        .join("tokenizer.json");
    std::fs::copy(&minilm, dir.path().join("tokenizer.json")).unwrap();
    let data = vec![0u8; 4 * 3 * 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3, 4], &data).unwrap();
    let bytes =
        safetensors::serialize([("embeddings.word_embeddings.weight", view)], None).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    let err = BertEmbedder::<B>::load(dir.path(), &Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Weight { .. }), "{msg}");
    assert!(
        msg.contains("embeddings.word_embeddings.weight") && msg.contains("[3, 4]"),
        "{msg}"
    );
}

#[test]
fn sentence_transformer_files_set_pooling_normalisation_and_length() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "modules.json",
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#,
    );
    write(
        dir.path(),
        "1_Pooling/config.json",
        r#"{"word_embedding_dimension": 4, "pooling_mode_cls_token": true}"#,
    );
    write(
        dir.path(),
        "sentence_bert_config.json",
        r#"{"max_seq_length": 64}"#,
    );
    let st = SentenceTransformerConfig::from_dir(dir.path()).unwrap();
    assert_eq!(st.pooling, Some(Pooling::Cls));
    assert!(!st.normalize);
    assert_eq!(st.max_seq_length, Some(64));

    write(
        dir.path(),
        "1_Pooling/config.json",
        r#"{"pooling_mode_max_tokens": true}"#,
    );
    let err = SentenceTransformerConfig::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("pooling_mode_max_tokens"), "{err}");

    // No sentence-transformers files at all: nothing is set.
    let bare = tempfile::tempdir().unwrap();
    assert_eq!(
        SentenceTransformerConfig::from_dir(bare.path()).unwrap(),
        SentenceTransformerConfig::default()
    );
}
