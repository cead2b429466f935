//! Helpers shared by the integration tests: a tiny word-level tokenizer and tensor read-back.

#![allow(dead_code)] // each test binary uses a subset

use std::collections::HashMap;

use burn::backend::Flex;
use burn::prelude::*;

/// The vocabulary of [`word_tokenizer`]; id = position.
pub const WORDS: &[&str] = &[
    "[UNK]",
    "solve",
    "math",
    "word",
    "problems",
    "answer",
    "questions",
    "about",
    "history",
    "translate",
    "to",
    "french",
    "the",
    "a",
    "short",
    "text",
];

/// A whitespace word-level tokenizer over [`WORDS`] without special tokens.
pub fn word_tokenizer() -> tokenizers::Tokenizer {
    let vocab: HashMap<String, u32> = WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u32))
        .collect();
    let model = tokenizers::models::wordlevel::WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut inner = tokenizers::Tokenizer::new(model);
    inner.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
    inner
}

/// The rows of a `[n, d]` tensor.
pub fn rows(t: Tensor<Flex, 2>) -> Vec<Vec<f32>> {
    let [n, d] = t.dims();
    let v: Vec<f32> = t.into_data().to_vec().unwrap();
    (0..n).map(|i| v[i * d..(i + 1) * d].to_vec()).collect()
}

/// Largest absolute difference of two vectors.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}
