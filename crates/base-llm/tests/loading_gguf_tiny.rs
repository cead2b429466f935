//! Tiny random Llama / Qwen2 models written as GGUF in llama.cpp's layout (names, reversed dims,
//! q/k rows permuted for llama) load back to exactly the Hugging Face weights and logits.

mod loading_support;

use base_llm::config::Architecture;
use base_llm::loading::gguf::{GgmlType, GgufFile, GgufValue};
use base_llm::loading::load_checkpoint;
use base_llm::{Llama, LlamaConfig};
use burn::backend::Flex;
use loading_support::{logits, tiny_config, tiny_gguf, write_temp};

/// Two rows of four token ids.
const IDS: [i64; 8] = [1, 5, 9, 33, 2, 17, 60, 4];

type B = Flex;

fn check_round_trip(arch: Architecture, tied: bool) {
    let config = tiny_config(arch, tied);
    let (gguf, weights) = tiny_gguf(&config, 7);
    let (_dir, path) = write_temp("tiny.gguf", &gguf.build());

    let ckpt = load_checkpoint(&path).unwrap();
    assert_eq!(ckpt.config, config, "{arch:?}: config from metadata");
    assert_eq!(
        ckpt.weights.tensors.keys().collect::<Vec<_>>(),
        weights.tensors.keys().collect::<Vec<_>>(),
        "{arch:?}: names"
    );
    for (name, t) in &weights.tensors {
        assert_eq!(&ckpt.weights.tensors[name], t, "{arch:?}: {name}");
    }
    let from_gguf = Llama::<B>::load(&path, &Default::default()).unwrap();
    let direct = Llama::<B>::from_weights(config, weights, &Default::default()).unwrap();
    assert_eq!(
        logits(&from_gguf, &IDS, 2),
        logits(&direct, &IDS, 2),
        "{arch:?}: logits"
    );
}

#[test]
fn llama_tied_round_trips_with_unpermuted_qk() {
    check_round_trip(Architecture::Llama, true);
}

#[test]
fn llama_untied_round_trips() {
    check_round_trip(Architecture::Llama, false);
}

#[test]
fn qwen2_with_biases_round_trips_unpermuted() {
    check_round_trip(Architecture::Qwen2, false);
}

#[test]
fn without_unpermuting_the_logits_would_differ() {
    // The permutation is not the identity for these shapes: a model built from the raw GGUF row
    // order gives other logits, so the round trip above can fail.
    let config = tiny_config(Architecture::Llama, true);
    let (gguf, weights) = tiny_gguf(&config, 7);
    let (_dir, path) = write_temp("tiny.gguf", &gguf.build());
    let file = GgufFile::open(&path).unwrap();
    let mut raw = weights.clone();
    for (name, t) in raw.tensors.iter_mut() {
        if name.contains("q_proj") || name.contains("k_proj") {
            let g = base_llm::loading::gguf::names::gguf_name(name).unwrap();
            *t = file.tensor_f32(&g).unwrap();
        }
    }
    let permuted = Llama::<B>::from_weights(config.clone(), raw, &Default::default()).unwrap();
    let direct = Llama::<B>::from_weights(config, weights, &Default::default()).unwrap();
    assert_ne!(logits(&permuted, &IDS, 2), logits(&direct, &IDS, 2));
}

#[test]
fn directory_with_one_gguf_loads_and_metadata_order_is_kept() {
    let config = tiny_config(Architecture::Llama, true);
    let (gguf, _) = tiny_gguf(&config, 3);
    let (dir, path) = write_temp("model.gguf", &gguf.build());
    let ckpt = load_checkpoint(dir.path()).unwrap();
    assert_eq!(ckpt.config, config);
    let file = GgufFile::open(&path).unwrap();
    let keys: Vec<&str> = file.metadata.iter().map(|(k, _)| k).collect();
    let want: Vec<&str> = gguf.metadata.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, want);
    assert!(file.tensors.iter().all(|t| t.ggml_type == GgmlType::F32));
}

#[test]
fn config_defaults_when_optional_keys_are_absent() {
    let config = tiny_config(Architecture::Llama, true);
    let (mut gguf, _) = tiny_gguf(&config, 3);
    for k in [
        "llama.attention.head_count_kv",
        "llama.rope.freq_base",
        "llama.vocab_size",
        "tokenizer.ggml.bos_token_id",
    ] {
        gguf.remove(k);
    }
    // A tokenizer shorter than the (padded) embedding does not set the vocabulary.
    let tokens = (0..10)
        .map(|i| GgufValue::String(format!("t{i}")))
        .collect();
    gguf.metadata
        .push(("tokenizer.ggml.tokens".into(), GgufValue::Array(tokens)));
    let (_dir, path) = write_temp("m.gguf", &gguf.build());
    let c = LlamaConfig::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    assert_eq!(c.num_key_value_heads, c.num_attention_heads);
    assert_eq!(c.rope_theta, 10000.0);
    assert_eq!(c.vocab_size, 64, "from token_embd.weight rows");
    assert_eq!(c.bos_token_id, None);
}

/// llama.cpp's `rope_freqs` divisors for Llama-3 scaling (convert_hf_to_gguf.py, LlamaModel).
fn llama_cpp_rope_factors(
    dim: usize,
    base: f64,
    factor: f64,
    low: f64,
    high: f64,
    old: f64,
) -> Vec<f32> {
    (0..dim / 2)
        .map(|i| {
            let freq = 1.0 / base.powf((2 * i) as f64 / dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let f = if wavelen < old / high {
                1.0
            } else if wavelen > old / low {
                factor
            } else {
                let smooth = (old / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            f as f32
        })
        .collect()
}

#[test]
fn llama3_rope_scaling_is_recovered_from_rope_freqs() {
    let config = LlamaConfig {
        head_dim: 64,
        rope_theta: 500000.0,
        ..tiny_config(Architecture::Llama, true)
    };
    let (mut gguf, weights) = tiny_gguf(&config, 9);
    let factors = llama_cpp_rope_factors(64, 500000.0, 32.0, 1.0, 4.0, 8192.0);
    assert!(factors.contains(&1.0) && factors.contains(&32.0));
    assert!(
        factors.iter().any(|&f| f > 1.0 && f < 32.0),
        "some smoothed divisors"
    );
    gguf.tensors.push(loading_support::RawTensor {
        name: "rope_freqs.weight".into(),
        dims: vec![32],
        type_id: 0,
        data: loading_support::f32_bytes(&factors),
        offset_override: None,
    });
    let (_dir, path) = write_temp("l3.gguf", &gguf.build());
    let ckpt = load_checkpoint(&path).unwrap();
    let want = base_llm::RopeScaling {
        factor: 32.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192,
    };
    assert_eq!(ckpt.config.rope_scaling, Some(want.clone()));
    let scaled = LlamaConfig {
        rope_scaling: Some(want),
        ..config.clone()
    };
    let from_gguf = Llama::<B>::load(&path, &Default::default()).unwrap();
    let direct = Llama::<B>::from_weights(scaled, weights, &Default::default()).unwrap();
    assert_eq!(logits(&from_gguf, &IDS, 2), logits(&direct, &IDS, 2));

    // Divisors that fit no Llama-3 parameters are an error naming the tensor.
    let last = gguf.tensors.len() - 1;
    gguf.tensors[last].data = loading_support::f32_bytes(&[3.0; 32]);
    let (_dir, path) = write_temp("bad.gguf", &gguf.build());
    match load_checkpoint(&path).unwrap_err() {
        base_llm::Error::Load(base_llm::loading::LoadError::ConfigField { field, .. }) => {
            assert_eq!(field, "rope_freqs.weight")
        }
        e => panic!("{e:?}"),
    }
}
