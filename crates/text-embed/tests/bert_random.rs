//! A tiny seeded random BERT assembled with `BertEmbedder::from_parts` (no model files): CLS and
//! mean pooling, padding invariance, seeding, and the length check.

use std::path::Path;

use burn::backend::Flex;
use text_embed::bert::{Activation, BertConfig};
use text_embed::{BertEmbedder, BertModel, Pooling, TextEmbedder, TextTokenizer};

type B = Flex;

mod common;
use common::{WORDS, max_diff, rows, word_tokenizer};

fn config() -> BertConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": WORDS.len(), "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 32, "max_position_embeddings": 32
    }))
    .unwrap()
}

fn tokenizer(max_length: usize) -> TextTokenizer {
    TextTokenizer::new(word_tokenizer(), Path::new("<wordlevel>"), max_length).unwrap()
}

fn embedder(pooling: Pooling, seed: u64) -> BertEmbedder<B> {
    let device = Default::default();
    let model = BertModel::random(&config(), Activation::Gelu, seed, &device).unwrap();
    BertEmbedder::from_parts(model, tokenizer(32), pooling, false, "tiny".into(), &device).unwrap()
}

#[test]
fn cls_and_mean_pooling_are_padding_invariant() {
    let texts = [
        "answer questions about history",
        "math",
        "translate a short text to french",
    ];
    for pooling in [Pooling::Cls, Pooling::Mean] {
        let e = embedder(pooling, 3);
        assert_eq!(TextEmbedder::<B>::dim(&e), 16);
        let batch = rows(e.embed(&texts).unwrap());
        for (i, t) in texts.iter().enumerate() {
            let alone = rows(e.embed(&[t]).unwrap()).remove(0);
            assert!(
                max_diff(&alone, &batch[i]) < 1e-5,
                "{pooling:?} text {i}: {}",
                max_diff(&alone, &batch[i])
            );
        }
    }
    let cls = rows(embedder(Pooling::Cls, 3).embed(&texts[..1]).unwrap());
    let mean = rows(embedder(Pooling::Mean, 3).embed(&texts[..1]).unwrap());
    assert!(
        max_diff(&cls[0], &mean[0]) > 1e-3,
        "CLS and mean should differ"
    );
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let a = rows(embedder(Pooling::Mean, 1).embed(&["solve math"]).unwrap());
    let b = rows(embedder(Pooling::Mean, 1).embed(&["solve math"]).unwrap());
    let c = rows(embedder(Pooling::Mean, 2).embed(&["solve math"]).unwrap());
    assert_eq!(a, b);
    assert!(max_diff(&a[0], &c[0]) > 1e-3);
}

#[test]
fn tokenizer_longer_than_the_positions_is_refused() {
    let device = Default::default();
    let model = BertModel::<B>::random(&config(), Activation::Gelu, 0, &device).unwrap();
    let err = BertEmbedder::from_parts(
        model,
        tokenizer(64),
        Pooling::Mean,
        true,
        "x".into(),
        &device,
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_length 64"), "{err}");
}
