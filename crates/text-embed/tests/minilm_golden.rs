//! all-MiniLM-L6-v2 against sentence-transformers (fixture: `scripts/golden/minilm_embeddings.py`):
//! per-text cosine ≥ 0.9999 (empty string and a 600-word text included), the reference cosine of
//! two sentences to ±0.001, and padding invariance.

use std::path::PathBuf;

use burn::backend::Flex;
use text_embed::{
    BertEmbedder, BertEmbedderOptions, Pooling, TaskEmbedder, TextEmbedder, cosine_similarity,
};

type B = Flex;

mod common;
use common::{max_diff, rows};

fn model_dir() -> PathBuf {
    base_llm::assets::asset(base_llm::assets::MINILM_DIR).unwrap_or_else(|e| panic!("{e}"))
}

struct Golden {
    texts: Vec<String>,
    n_tokens: Vec<usize>,
    cosine_0_1: f64,
    embeddings: Vec<Vec<f32>>,
    cls_embeddings: Vec<Vec<f32>>,
}

fn golden() -> Golden {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_golden.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    Golden {
        texts: strings("texts"),
        n_tokens: v["n_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap() as usize)
            .collect(),
        cosine_0_1: v["cosine_0_1"].as_f64().unwrap(),
        embeddings: matrix(&v["embeddings"]),
        cls_embeddings: matrix(&v["cls_embeddings"]),
    }
}

fn matrix(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn load() -> BertEmbedder<B> {
    BertEmbedder::load(&model_dir(), &Default::default()).expect("loads all-MiniLM-L6-v2")
}

#[test]
fn matches_sentence_transformers_per_text() {
    let g = golden();
    assert!(g.texts.len() >= 5 && g.texts.iter().any(String::is_empty));
    assert!(g.texts.iter().any(|t| t.split_whitespace().count() >= 600));
    let e = load();
    assert_eq!(e.dim(), 384);
    assert_eq!(e.pooling(), Pooling::Mean);
    assert!(e.normalize());
    assert_eq!(e.max_length(), 256);
    let refs: Vec<&str> = g.texts.iter().map(String::as_str).collect();
    // Token counts: no fixed padding to 128, truncation at 256.
    let counts: Vec<usize> = e
        .tokenizer()
        .encode(&refs)
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(counts, g.n_tokens);
    let got = rows(e.embed(&refs).unwrap());
    for (i, (a, b)) in got.iter().zip(&g.embeddings).enumerate() {
        let cos = cosine_similarity(a, b);
        let diff = max_diff(a, b);
        assert!(
            cos >= 0.9999,
            "text {i} ({} tokens): cosine {cos} to the reference (max |Δ| {diff})",
            counts[i]
        );
        assert!(diff < 1e-3, "text {i}: max |Δ| {diff}");
        eprintln!(
            "text {i}: {} tokens, cosine {cos:.7}, max |Δ| {diff:.2e}",
            counts[i]
        );
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        approx::assert_abs_diff_eq!(norm, 1.0, epsilon = 1e-5);
    }
}

#[test]
fn man_eating_sentences_have_the_reference_cosine() {
    let g = golden();
    let e = load();
    let v = rows(
        e.embed(&["A man is eating food.", "A man is eating a piece of bread."])
            .unwrap(),
    );
    let cos = cosine_similarity(&v[0], &v[1]);
    eprintln!("cos = {cos:.6} (sentence-transformers {:.6})", g.cosine_0_1);
    assert!((cos - 0.7553).abs() <= 1e-3, "cosine {cos}");
    assert!(
        (cos - g.cosine_0_1).abs() <= 1e-4,
        "cosine {cos} vs {}",
        g.cosine_0_1
    );
}

#[test]
fn padding_and_batch_composition_do_not_change_embeddings() {
    let g = golden();
    let refs: Vec<&str> = g.texts.iter().map(String::as_str).collect();
    // One batch: every text padded to the 256 tokens of the long one.
    let whole = rows(load().embed(&refs).unwrap());
    // Batches of two (length-sorted): different padding for most texts.
    let pairs = rows(
        BertEmbedder::<B>::load_with(
            &model_dir(),
            &BertEmbedderOptions {
                batch_size: 2,
                ..Default::default()
            },
            &Default::default(),
        )
        .unwrap()
        .embed(&refs)
        .unwrap(),
    );
    let e = load();
    for (i, t) in refs.iter().enumerate() {
        let alone = rows(e.embed(&[t]).unwrap()).remove(0);
        for other in [&whole[i], &pairs[i]] {
            let diff = max_diff(&alone, other);
            assert!(
                diff < 1e-5,
                "text {i}: padding changed the embedding by {diff}"
            );
        }
    }
}

#[test]
fn task_embedding_of_a_description_has_norm_sqrt_dim() {
    let e = TaskEmbedder::new(load());
    assert!(
        e.id().starts_with("t2l(bert:all-minilm-l6-v2@"),
        "{}",
        e.id()
    );
    let v = rows(
        e.embed(&["Solve math word problems", "Solve math word problems.  "])
            .unwrap(),
    );
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    approx::assert_abs_diff_eq!(norm, 384f32.sqrt(), epsilon = 1e-3);
    // Both descriptions become "Solve math word problems." before embedding.
    let diff = max_diff(&v[0], &v[1]);
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn cls_pooling_without_normalisation_matches_sentence_transformers() {
    let g = golden();
    let e = BertEmbedder::<B>::load_with(
        &model_dir(),
        &BertEmbedderOptions {
            pooling: Some(Pooling::Cls),
            normalize: Some(false),
            ..Default::default()
        },
        &Default::default(),
    )
    .unwrap();
    assert!(e.id().ends_with(":cls:max256"), "{}", e.id());
    let refs: Vec<&str> = g.texts[..g.cls_embeddings.len()]
        .iter()
        .map(String::as_str)
        .collect();
    let got = rows(e.embed(&refs).unwrap());
    for (i, (a, b)) in got.iter().zip(&g.cls_embeddings).enumerate() {
        let cos = cosine_similarity(a, b);
        let diff = max_diff(a, b);
        assert!(cos >= 0.9999, "text {i}: cosine {cos}");
        assert!(
            diff < 1e-3,
            "text {i}: max |Δ| {diff} (unnormalised, norm ≈ 7)"
        );
    }
}
