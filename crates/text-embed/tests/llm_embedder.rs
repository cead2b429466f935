//! `LlmEmbedder` on a tiny seeded random Llama: last-token and mean pooling equal the model's
//! final hidden states, and padding / batch composition do not change a vector.

use base_llm::text::TemplateTokens;
use base_llm::{Adapters, Llama, LlamaConfig, TrainOptions};
use burn::backend::Flex;
use burn::prelude::*;
use text_embed::{Error, LlmEmbedder, LlmEmbedderOptions, Pooling, TextEmbedder};

type B = Flex;

mod common;
use common::{WORDS, max_diff, rows, word_tokenizer};

fn tokenizer() -> base_llm::Tokenizer {
    base_llm::Tokenizer::new(word_tokenizer(), TemplateTokens::default(), None).unwrap()
}

fn model() -> Llama<B> {
    Llama::random(LlamaConfig::tiny(WORDS.len()), 7, &Default::default()).unwrap()
}

fn embedder(pooling: Pooling, batch_size: usize) -> LlmEmbedder<B> {
    LlmEmbedder::new(
        model(),
        tokenizer(),
        "tiny-random",
        LlmEmbedderOptions {
            pooling,
            batch_size,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Final hidden states `[seq, hidden]` of one unpadded text, straight from the model.
fn hidden_of(text: &str) -> Vec<Vec<f32>> {
    let ids: Vec<i64> = tokenizer()
        .encode(text, true)
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    let n = ids.len();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, n]), &Default::default());
    let h = model()
        .hidden(ids, None, Adapters::None, None, TrainOptions::default())
        .unwrap();
    let d = h.dims()[2];
    rows(h.reshape([n, d]))
}

#[test]
fn last_token_and_mean_pool_the_final_hidden_states() {
    let text = "solve math word problems";
    let h = hidden_of(text);
    let last = rows(embedder(Pooling::LastToken, 16).embed(&[text]).unwrap()).remove(0);
    assert!(max_diff(&last, h.last().unwrap()) < 1e-6);
    let mean = rows(embedder(Pooling::Mean, 16).embed(&[text]).unwrap()).remove(0);
    let expected: Vec<f32> = (0..h[0].len())
        .map(|j| h.iter().map(|r| r[j]).sum::<f32>() / h.len() as f32)
        .collect();
    assert!(max_diff(&mean, &expected) < 1e-5);
    assert!(
        max_diff(&mean, &last) > 1e-3,
        "mean and last-token pooling should differ"
    );
}

#[test]
fn padding_and_batch_composition_do_not_change_vectors() {
    let texts = [
        "answer questions about history",
        "translate a short text to french",
        "math",
        "solve the word problems",
    ];
    for pooling in [Pooling::LastToken, Pooling::Mean] {
        let together = rows(embedder(pooling, 16).embed(&texts).unwrap());
        let pairs = rows(embedder(pooling, 2).embed(&texts).unwrap());
        let e = embedder(pooling, 16);
        for (i, t) in texts.iter().enumerate() {
            let alone = rows(e.embed(&[t]).unwrap()).remove(0);
            assert!(
                max_diff(&alone, &together[i]) < 1e-5,
                "{pooling:?} text {i}: {}",
                max_diff(&alone, &together[i])
            );
            assert!(max_diff(&alone, &pairs[i]) < 1e-5, "{pooling:?} text {i}");
        }
    }
}

#[test]
fn ids_truncation_and_refusals() {
    let e = embedder(Pooling::LastToken, 16);
    assert_eq!(e.id(), "llm:tiny-random:last:max128");
    assert_eq!(TextEmbedder::<B>::dim(&e), 16);
    let short = LlmEmbedder::new(
        model(),
        tokenizer(),
        "tiny-random",
        LlmEmbedderOptions {
            max_length: Some(2),
            pooling: Pooling::Mean,
            normalize: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(short.id(), "llm:tiny-random:mean+l2:max2");
    assert_eq!(
        short.encode(&["solve math word problems"]).unwrap(),
        vec![vec![1, 2]]
    );
    let v = rows(short.embed(&["solve math word problems"]).unwrap()).remove(0);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    approx::assert_abs_diff_eq!(norm, 1.0, epsilon = 1e-5);

    let err = e.embed(&[""]).unwrap_err();
    assert!(
        matches!(err, Error::Input { .. }) && err.to_string().contains("texts[0]"),
        "{err}"
    );
    let err = LlmEmbedder::new(
        model(),
        tokenizer(),
        "x",
        LlmEmbedderOptions {
            pooling: Pooling::Cls,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("CLS"), "{err}");
}
