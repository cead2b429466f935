//! The model on tiny random configs: caching, padding, adapters (merged, per row), typed errors,
//! generation and scoring.

mod model_support;

use base_llm::{
    Adapters, Architecture, Error, FinishReason, GenerationConfig, KvCache, Llama, LlamaConfig,
    TrainOptions,
};
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use lora_core::{AdapterLayout, BatchedLoraAdapter, LoraAdapter, LoraConfig, ModuleShape};
use model_support::max_diff;

type B = Flex;

const VOCAB: usize = 40;

fn dev() -> burn::tensor::Device<B> {
    Default::default()
}

fn model(config: LlamaConfig) -> Llama<B> {
    Llama::random(config, 7, &dev()).unwrap()
}

fn ids(rows: &[&[u32]]) -> Tensor<B, 2, Int> {
    let s = rows[0].len();
    let data: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.iter().map(|&t| t as i64))
        .collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), s]), &dev())
}

fn mask(rows: &[&[bool]]) -> Tensor<B, 2, Bool> {
    let s = rows[0].len();
    let data: Vec<bool> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), s]), &dev())
}

fn vec<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// An adapter with random (non-zero) A and B, `U(±0.5)`, on `targets`.
fn random_adapter(model: &Llama<B>, targets: &[&str], r: usize, seed: u64) -> LoraAdapter<B> {
    model_support::random_adapter(model, targets, r, seed, |_| 0.5, 0.5)
}

const ALL: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

#[test]
fn forward_shapes_and_frozen_weights() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let logits = m
        .forward(ids(&[&[1, 5, 9], &[3, 4, 2]]), None, Adapters::None)
        .unwrap();
    assert_eq!(logits.dims(), [2, 3, VOCAB]);
    assert!(vec(logits).iter().all(|x| x.is_finite()));
    assert!(!m.embed_tokens.is_require_grad());
    assert!(!m.layers[0].self_attn.q_proj.weight.is_require_grad());
    assert!(!m.norm.weight.is_require_grad());
    // No parameter of the model is trainable.
    assert_eq!(
        burn::module::Module::num_params(&m),
        count_all(&LlamaConfig::tiny(VOCAB))
    );
}

fn count_all(c: &LlamaConfig) -> usize {
    base_llm::model::build::expected_weights(c)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum()
}

fn check_cache_matches_full(config: LlamaConfig) {
    let m = model(config);
    let seq: Vec<u32> = vec![1, 7, 3, 9, 12, 5, 33, 8, 2, 17];
    let full = m.forward(ids(&[&seq]), None, Adapters::None).unwrap();
    let full = vec(full);
    let mut cache = KvCache::new(m.config().num_hidden_layers);
    let prefill = 4;
    let last = m
        .forward_cached(ids(&[&seq[..prefill]]), None, Adapters::None, &mut cache)
        .unwrap();
    let row = |p: usize| &full[p * VOCAB..(p + 1) * VOCAB];
    assert!(max_diff(&vec(last), row(prefill - 1)) < 1e-5);
    for p in prefill..seq.len() {
        let step = m
            .forward_cached(ids(&[&seq[p..p + 1]]), None, Adapters::None, &mut cache)
            .unwrap();
        let d = max_diff(&vec(step), row(p));
        assert!(d < 1e-5, "position {p}: cached vs full differ by {d}");
    }
    assert_eq!(cache.len(), seq.len());
}

#[test]
fn kv_cache_decoding_equals_full_recomputation() {
    check_cache_matches_full(LlamaConfig::tiny(VOCAB));
}

#[test]
fn qwen2_variant_with_bias_and_untied_head() {
    let mut c = LlamaConfig::tiny(VOCAB);
    c.architecture = Architecture::Qwen2;
    c.attention_bias = true;
    c.tie_word_embeddings = false;
    c.num_key_value_heads = 1;
    let m = model(c.clone());
    assert!(m.layers[0].self_attn.q_proj.bias.is_some());
    assert!(m.lm_head.is_some());
    check_cache_matches_full(c);
}

#[test]
fn llama3_rope_scaling_changes_long_range_frequencies_only() {
    let scaling = base_llm::RopeScaling {
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 64,
    };
    let plain = base_llm::model::rope::inverse_frequencies(16, 500000.0, None);
    let scaled = base_llm::model::rope::inverse_frequencies(16, 500000.0, Some(&scaling));
    // Highest frequency (short wavelength) unchanged, lowest divided by the factor.
    assert_eq!(plain[0], scaled[0]);
    assert!((plain[7] / scaled[7] - 8.0).abs() < 1e-9);
    let mut c = LlamaConfig::tiny(VOCAB);
    c.rope_scaling = Some(scaling);
    check_cache_matches_full(c);
}

#[test]
fn left_padding_gives_the_same_last_logits() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let short: &[u32] = &[4, 8, 15, 16];
    let long: &[u32] = &[23, 39, 1, 2, 3, 5, 8];
    let alone_short = vec(m.forward_last(ids(&[short]), None, Adapters::None).unwrap());
    let alone_long = vec(m.forward_last(ids(&[long]), None, Adapters::None).unwrap());
    let padded: Vec<u32> = [0, 0, 0].iter().chain(short).copied().collect();
    let batch = m
        .forward_last(
            ids(&[&padded, long]),
            Some(mask(&[
                &[false, false, false, true, true, true, true],
                &[true; 7],
            ])),
            Adapters::None,
        )
        .unwrap();
    let batch = vec(batch);
    assert!(max_diff(&batch[..VOCAB], &alone_short) < 1e-5);
    assert!(max_diff(&batch[VOCAB..], &alone_long) < 1e-5);

    // Right padding: forward_last picks the last real token.
    let right: Vec<u32> = short.iter().chain(&[0, 0, 0]).copied().collect();
    let batch = m
        .forward_last(
            ids(&[&right, long]),
            Some(mask(&[
                &[true, true, true, true, false, false, false],
                &[true; 7],
            ])),
            Adapters::None,
        )
        .unwrap();
    assert!(max_diff(&vec(batch)[..VOCAB], &alone_short) < 1e-5);
}

#[test]
fn merged_equals_unmerged_and_unmerge_is_exact() {
    let mut m = model(LlamaConfig::tiny(VOCAB));
    let adapter = random_adapter(&m, &ALL, 3, 1);
    let x = ids(&[&[1, 2, 3, 4, 5], &[9, 8, 7, 6, 5]]);
    let base = vec(m.forward(x.clone(), None, Adapters::None).unwrap());
    let unmerged = vec(m
        .forward(x.clone(), None, Adapters::Single(&adapter))
        .unwrap());
    assert!(
        max_diff(&base, &unmerged) > 1e-2,
        "the adapter must change the output"
    );
    let w_before = vec(m.layers[1].mlp.down_proj.weight.val());
    m.merge_adapter(&adapter).unwrap();
    assert!(m.is_merged());
    assert!(matches!(
        m.merge_adapter(&adapter),
        Err(Error::AlreadyMerged)
    ));
    let merged = vec(m.forward(x.clone(), None, Adapters::None).unwrap());
    let d = max_diff(&merged, &unmerged);
    assert!(d < 1e-4, "merged vs unmerged differ by {d}");
    m.unmerge_adapter().unwrap();
    assert!(matches!(m.unmerge_adapter(), Err(Error::NotMerged)));
    assert_eq!(vec(m.layers[1].mlp.down_proj.weight.val()), w_before);
    assert_eq!(vec(m.forward(x, None, Adapters::None).unwrap()), base);
}

#[test]
fn per_row_adapters_equal_each_row_alone() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let a0 = random_adapter(&m, &["q_proj", "v_proj", "down_proj"], 2, 10);
    let a1 = random_adapter(&m, &["q_proj", "v_proj", "down_proj"], 2, 11);
    let batched = BatchedLoraAdapter::stack(&[a0.clone(), a1.clone()]).unwrap();
    let r0: &[u32] = &[3, 1, 4, 1, 5, 9];
    let r1: &[u32] = &[2, 7, 1, 8, 2, 8];
    let both = vec(m
        .forward(ids(&[r0, r1]), None, Adapters::PerRow(&batched))
        .unwrap());
    let alone0 = vec(m.forward(ids(&[r0]), None, Adapters::Single(&a0)).unwrap());
    let alone1 = vec(m.forward(ids(&[r1]), None, Adapters::Single(&a1)).unwrap());
    let half = both.len() / 2;
    assert!(max_diff(&both[..half], &alone0) < 1e-5);
    assert!(max_diff(&both[half..], &alone1) < 1e-5);
    // The two adapters really differ.
    let swapped = vec(m.forward(ids(&[r0]), None, Adapters::Single(&a1)).unwrap());
    assert!(max_diff(&swapped, &alone0) > 1e-3);
    // A batch of one adapter is broadcast over the rows.
    let one = BatchedLoraAdapter::stack(std::slice::from_ref(&a0)).unwrap();
    let bcast = vec(m
        .forward(ids(&[r0, r1]), None, Adapters::PerRow(&one))
        .unwrap());
    assert!(max_diff(&bcast[..half], &alone0) < 1e-5);
    // Per-row adapters through the KV cache.
    let out = m
        .generate(
            &[r0.to_vec(), r1.to_vec()],
            &GenerationConfig::greedy(4),
            Adapters::PerRow(&batched),
            None,
        )
        .unwrap();
    let solo = m
        .generate(
            &[r1.to_vec()],
            &GenerationConfig::greedy(4),
            Adapters::Single(&a1),
            None,
        )
        .unwrap();
    assert_eq!(out.rows[1].tokens, solo.rows[0].tokens);
}

#[test]
fn adapters_that_do_not_fit_are_typed_errors() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let x = ids(&[&[1, 2, 3]]);
    // Wrong number of layers.
    let layout = AdapterLayout::new(
        3,
        vec![ModuleShape {
            name: "q_proj".into(),
            d_in: 16,
            d_out: 16,
        }],
    );
    let wrong_layers = LoraAdapter::<B>::zeros(LoraConfig::new(2, 4.0, ["q_proj"]), layout, &dev());
    assert!(matches!(
        m.forward(x.clone(), None, Adapters::Single(&wrong_layers)),
        Err(Error::AdapterMismatch(_))
    ));
    // Wrong width (v_proj is 16 → 8 here).
    let layout = AdapterLayout::new(
        2,
        vec![ModuleShape {
            name: "v_proj".into(),
            d_in: 16,
            d_out: 16,
        }],
    );
    let wrong_width = LoraAdapter::<B>::zeros(LoraConfig::new(2, 4.0, ["v_proj"]), layout, &dev());
    let err = m
        .forward(x.clone(), None, Adapters::Single(&wrong_width))
        .unwrap_err();
    assert!(
        matches!(err, Error::AdapterMismatch(ref s) if s.contains("v_proj")),
        "{err}"
    );
    let mut m2 = m.clone();
    assert!(matches!(
        m2.merge_adapter(&wrong_width),
        Err(Error::AdapterMismatch(_))
    ));
    assert!(!m2.is_merged());
    // Per-row batch of the wrong size.
    let a = random_adapter(&m, &["q_proj"], 2, 3);
    let three = BatchedLoraAdapter::stack(&[a.clone(), a.clone(), a]).unwrap();
    assert!(matches!(
        m.forward(ids(&[&[1, 2], &[3, 4]]), None, Adapters::PerRow(&three)),
        Err(Error::AdapterMismatch(_))
    ));
    // Bad inputs.
    assert!(matches!(
        m.forward(ids(&[&[1, VOCAB as u32]]), None, Adapters::None),
        Err(Error::Input { .. })
    ));
    let long: Vec<u32> = vec![1; 129];
    assert!(matches!(
        m.forward(ids(&[&long]), None, Adapters::None),
        Err(Error::Input { .. })
    ));
    let mut bad = LlamaConfig::tiny(VOCAB);
    bad.num_key_value_heads = 3;
    assert!(matches!(
        Llama::<B>::random(bad, 0, &dev()),
        Err(Error::Config { .. })
    ));
    let mut w = base_llm::model::build::random_weights(&LlamaConfig::tiny(VOCAB), 0);
    w.tensors.remove("model.layers.1.mlp.up_proj.weight");
    assert!(matches!(
        Llama::<B>::from_weights(LlamaConfig::tiny(VOCAB), w, &dev()),
        Err(Error::MissingWeight(ref n)) if n == "model.layers.1.mlp.up_proj.weight"
    ));
}

#[test]
fn greedy_generation_matches_argmax_of_full_forward() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let prompt = vec![5u32, 6, 7];
    let out = m
        .generate(
            &[prompt.clone(), vec![9, 9]],
            &GenerationConfig::greedy(6),
            Adapters::None,
            None,
        )
        .unwrap();
    let mut seq = prompt.clone();
    for _ in 0..out.rows[0].tokens.len() {
        let last = vec(m.forward_last(ids(&[&seq]), None, Adapters::None).unwrap());
        seq.push(base_llm::sampling::argmax(&last));
    }
    assert_eq!(out.rows[0].tokens, seq[prompt.len()..]);
    assert!(out.prefill_seconds > 0.0 && out.prompt_tokens == 5);

    // Stop on a stop token and on a stop string.
    let first = out.rows[0].tokens[0];
    let cfg = GenerationConfig {
        stop_token_ids: vec![first],
        ..GenerationConfig::greedy(6)
    };
    let stopped = m
        .generate(std::slice::from_ref(&prompt), &cfg, Adapters::None, None)
        .unwrap();
    assert_eq!(stopped.rows[0].tokens, vec![first]);
    assert_eq!(
        stopped.rows[0].finish_reason,
        FinishReason::StopToken(first)
    );
    let decode = |t: &[u32]| t.iter().map(|x| format!("<{x}>")).collect::<String>();
    let cfg = GenerationConfig {
        stop_strings: vec![decode(&out.rows[0].tokens[..2])],
        ..GenerationConfig::greedy(6)
    };
    let stopped = m
        .generate(
            std::slice::from_ref(&prompt),
            &cfg,
            Adapters::None,
            Some(&decode),
        )
        .unwrap();
    assert_eq!(stopped.rows[0].tokens, out.rows[0].tokens[..2]);
    assert!(matches!(
        stopped.rows[0].finish_reason,
        FinishReason::StopString(_)
    ));
}

#[test]
fn sampling_is_seeded() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let cfg = |seed| GenerationConfig {
        temperature: Some(1.5),
        top_p: 0.95,
        seed,
        ..GenerationConfig::greedy(12)
    };
    let p = vec![vec![1u32, 2, 3]];
    let a = m.generate(&p, &cfg(1), Adapters::None, None).unwrap();
    let b = m.generate(&p, &cfg(1), Adapters::None, None).unwrap();
    let c = m.generate(&p, &cfg(2), Adapters::None, None).unwrap();
    assert_eq!(a.rows, b.rows);
    assert_ne!(a.rows[0].tokens, c.rows[0].tokens);
}

#[test]
fn scores_match_log_softmax_of_full_forward() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let pairs = vec![
        (vec![1u32, 4, 9], vec![16u32, 25]),
        (vec![2u32], vec![3u32, 5, 7, 11]),
    ];
    let scores = m.score(&pairs, Adapters::None).unwrap();
    for ((ctx, cont), s) in pairs.iter().zip(&scores) {
        let seq: Vec<u32> = ctx.iter().chain(cont).copied().collect();
        let logp = vec(log_softmax(
            m.forward(ids(&[&seq]), None, Adapters::None).unwrap(),
            2,
        ));
        let expect: Vec<f32> = cont
            .iter()
            .enumerate()
            .map(|(k, &t)| logp[(ctx.len() + k - 1) * VOCAB + t as usize])
            .collect();
        assert!(max_diff(&s.token_logprobs, &expect) < 1e-4);
        let sum: f64 = expect.iter().map(|&x| x as f64).sum();
        assert!((s.sum_logprob - sum).abs() < 1e-3);
    }
    assert!(matches!(
        m.score(&[(vec![], vec![1])], Adapters::None),
        Err(Error::Input { .. })
    ));
}

#[test]
fn training_forward_noise_is_seeded_and_off_by_default() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let a = random_adapter(&m, &["q_proj", "up_proj"], 2, 4);
    let x = ids(&[&[1, 2, 3, 4]]);
    let plain = vec(m.forward(x.clone(), None, Adapters::Single(&a)).unwrap());
    let train = |o: TrainOptions| {
        vec(m
            .forward_train(x.clone(), None, Adapters::Single(&a), o)
            .unwrap())
    };
    assert_eq!(train(TrainOptions::default()), plain);
    let noisy = TrainOptions {
        lora_dropout: 0.3,
        neftune_alpha: Some(5.0),
        seed: Some(3),
    };
    let n1 = train(noisy);
    assert!(max_diff(&n1, &plain) > 1e-3);
    assert_eq!(train(noisy), n1);
}

#[test]
fn causal_lm_loss_equals_cross_entropy_on_targets() {
    let m = model(LlamaConfig::tiny(VOCAB));
    let a = random_adapter(&m, &["v_proj"], 2, 9);
    let rows: [&[u32]; 2] = [&[1, 3, 5, 7, 9, 0], &[2, 4, 6, 8, 10, 12]];
    let am = mask(&[&[true, true, true, true, true, false], &[true; 6]]);
    // Targets: tokens 3..=4 of row 0, 1..=5 of row 1 (column 0 would be ignored).
    let lm = mask(&[
        &[true, false, false, true, true, false],
        &[false, true, true, true, true, true],
    ]);
    let loss = m
        .causal_lm_loss(
            ids(&rows),
            Some(am.clone()),
            lm,
            Adapters::Single(&a),
            TrainOptions::default(),
        )
        .unwrap()
        .into_scalar();
    let logp = vec(log_softmax(
        m.forward(ids(&rows), Some(am), Adapters::Single(&a))
            .unwrap(),
        2,
    ));
    let s = 6;
    let targets = [(0, 3), (0, 4), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)];
    let expect: f32 = -targets
        .iter()
        .map(|&(r, t)| logp[(r * s + t - 1) * VOCAB + rows[r][t] as usize])
        .sum::<f32>()
        / targets.len() as f32;
    assert!((loss - expect).abs() < 1e-5, "{loss} vs {expect}");
    let none = mask(&[&[true, false, false, false, false, false], &[false; 6]]);
    assert!(matches!(
        m.causal_lm_loss(
            ids(&rows),
            None,
            none,
            Adapters::None,
            TrainOptions::default()
        ),
        Err(Error::Input { .. })
    ));
}
