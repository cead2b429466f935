//! Hugging Face safetensors loading (single file, sharded index, F16/BF16 conversion) and
//! `config.json` both ways, on tiny random models; malformed inputs give typed errors.

mod loading_support;

use std::collections::HashMap;
use std::path::Path;

use base_llm::config::Architecture;
use base_llm::loading::safetensors::{read_hf_dir, read_safetensors, write_safetensors};
use base_llm::loading::{LoadError, load_checkpoint};
use base_llm::model::build::random_weights;
use base_llm::{Error, Llama, LlamaConfig, RopeScaling, WeightMap};
use burn::backend::Flex;
use loading_support::{logits, tiny_config};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::json;

type B = Flex;

fn load_err(e: Error) -> LoadError {
    match e {
        Error::Load(l) => l,
        other => panic!("expected a load error, got {other:?}"),
    }
}

fn hf_dir(config: &LlamaConfig, weights: &WeightMap) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(weights, dir.path().join("model.safetensors")).unwrap();
    config
        .write_hf_config(dir.path().join("config.json"))
        .unwrap();
    dir
}

#[test]
fn single_file_directory_round_trips() {
    for arch in [Architecture::Llama, Architecture::Qwen2] {
        let config = tiny_config(arch, arch == Architecture::Llama);
        let weights = random_weights(&config, 11);
        let dir = hf_dir(&config, &weights);
        let ckpt = load_checkpoint(dir.path()).unwrap();
        assert_eq!(ckpt.config, config);
        assert_eq!(ckpt.weights.tensors, weights.tensors);
        let by_file = load_checkpoint(dir.path().join("model.safetensors")).unwrap();
        assert_eq!(
            by_file.weights.tensors, weights.tensors,
            "a file names its directory"
        );
        let loaded = Llama::<B>::load(dir.path(), &Default::default()).unwrap();
        let direct = Llama::<B>::from_weights(config, weights, &Default::default()).unwrap();
        assert_eq!(
            logits(&loaded, &[3, 1, 4, 1, 5, 9], 1),
            logits(&direct, &[3, 1, 4, 1, 5, 9], 1),
            "{arch:?}"
        );
    }
}

#[test]
fn sharded_directory_reads_every_shard() {
    let config = tiny_config(Architecture::Llama, false);
    let weights = random_weights(&config, 5);
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (WeightMap::default(), WeightMap::default());
    let mut index = serde_json::Map::new();
    for (i, (name, t)) in weights.tensors.iter().enumerate() {
        let (shard, file) = if i % 2 == 0 {
            (&mut a, "model-00001-of-00002.safetensors")
        } else {
            (&mut b, "model-00002-of-00002.safetensors")
        };
        shard.tensors.insert(name.clone(), t.clone());
        index.insert(name.clone(), json!(file));
    }
    write_safetensors(&a, dir.path().join("model-00001-of-00002.safetensors")).unwrap();
    write_safetensors(&b, dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let index_path = dir.path().join("model.safetensors.index.json");
    std::fs::write(
        &index_path,
        json!({"metadata": {"total_size": 0}, "weight_map": index}).to_string(),
    )
    .unwrap();
    config
        .write_hf_config(dir.path().join("config.json"))
        .unwrap();
    assert_eq!(read_hf_dir(dir.path()).unwrap().tensors, weights.tensors);
    assert!(Llama::<B>::load(dir.path(), &Default::default()).is_ok());

    // The index names a tensor its shard does not hold.
    index.insert(
        "model.extra.weight".into(),
        json!("model-00001-of-00002.safetensors"),
    );
    std::fs::write(&index_path, json!({"weight_map": index}).to_string()).unwrap();
    assert!(matches!(
        load_err(read_hf_dir(dir.path()).unwrap_err()),
        LoadError::MissingTensor { tensor, .. } if tensor == "model.extra.weight"
    ));
    // A shard path that leaves the directory.
    std::fs::write(
        &index_path,
        json!({"weight_map": {"a": "../x.safetensors"}}).to_string(),
    )
    .unwrap();
    assert!(matches!(
        load_err(read_hf_dir(dir.path()).unwrap_err()),
        LoadError::Malformed { .. }
    ));
    std::fs::write(&index_path, "{not json").unwrap();
    assert!(matches!(
        load_err(read_hf_dir(dir.path()).unwrap_err()),
        LoadError::Json { .. }
    ));
}

fn write_views(path: &Path, views: Vec<(&str, TensorView<'_>)>) {
    safetensors::tensor::serialize_to_file(views, None::<HashMap<String, String>>, path).unwrap();
}

#[test]
fn f16_and_bf16_become_f32_and_other_dtypes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let vals = [1.5f32, -2.25, 0.0, 65504.0];
    let f16: Vec<u8> = vals
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = vals
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    write_views(
        &path,
        vec![
            ("h", TensorView::new(Dtype::F16, vec![2, 2], &f16).unwrap()),
            ("b", TensorView::new(Dtype::BF16, vec![4], &bf16).unwrap()),
        ],
    );
    let m = read_safetensors(&path).unwrap();
    assert_eq!(m.tensors["h"].data, vals);
    assert_eq!(m.tensors["h"].shape, vec![2, 2]);
    assert_eq!(m.tensors["b"].data, vec![1.5, -2.25, 0.0, 65536.0]);

    let ints = [0u8; 16];
    write_views(
        &path,
        vec![(
            "position_ids",
            TensorView::new(Dtype::I64, vec![2], &ints).unwrap(),
        )],
    );
    assert!(matches!(
        load_err(read_safetensors(&path).unwrap_err()),
        LoadError::UnsupportedDtype { tensor, dtype, .. } if tensor == "position_ids" && dtype == "I64"
    ));
    std::fs::write(&path, b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}").unwrap();
    assert!(matches!(
        load_err(read_safetensors(&path).unwrap_err()),
        LoadError::Safetensors { .. }
    ));
}

#[test]
fn hf_config_round_trips_and_reports_bad_fields() {
    let mut config = tiny_config(Architecture::Llama, false);
    config.rope_scaling = Some(RopeScaling {
        factor: 32.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192,
    });
    config.eos_token_ids = vec![2, 3];
    let p = Path::new("config.json");
    assert_eq!(
        LlamaConfig::from_hf_config(&config.to_hf_config(), p).unwrap(),
        config
    );

    let base = config.to_hf_config();
    for field in [
        "hidden_size",
        "vocab_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
    ] {
        let mut j = base.clone();
        j.as_object_mut().unwrap().remove(field);
        match load_err(LlamaConfig::from_hf_config(&j, p).unwrap_err()) {
            LoadError::ConfigField {
                field: f, reason, ..
            } => {
                assert_eq!((f.as_str(), reason.as_str()), (field, "missing"))
            }
            e => panic!("{field}: {e:?}"),
        }
    }
    let mut j = base.clone();
    j["hidden_size"] = json!("wide");
    assert!(matches!(
        load_err(LlamaConfig::from_hf_config(&j, p).unwrap_err()),
        LoadError::ConfigField { field, .. } if field == "hidden_size"
    ));
    let mut j = base.clone();
    j["rope_scaling"] = json!({"rope_type": "yarn", "factor": 4.0});
    assert!(matches!(
        load_err(LlamaConfig::from_hf_config(&j, p).unwrap_err()),
        LoadError::ConfigField { field, .. } if field == "rope_scaling"
    ));
    let mut j = base.clone();
    j["model_type"] = json!("gpt2");
    assert!(matches!(
        load_err(LlamaConfig::from_hf_config(&j, p).unwrap_err()),
        LoadError::UnsupportedArchitecture { arch, .. } if arch == "gpt2"
    ));
    // Inconsistent values are the model's config errors.
    let mut j = base.clone();
    j["num_key_value_heads"] = json!(3);
    assert!(matches!(
        LlamaConfig::from_hf_config(&j, p).unwrap_err(),
        Error::Config {
            field: "num_key_value_heads",
            ..
        }
    ));
}

#[test]
fn directories_that_are_not_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_err(load_checkpoint(dir.path()).unwrap_err()),
        LoadError::NotACheckpoint { .. }
    ));
    let config = tiny_config(Architecture::Llama, true);
    config
        .write_hf_config(dir.path().join("config.json"))
        .unwrap();
    assert!(matches!(
        load_err(load_checkpoint(dir.path()).unwrap_err()),
        LoadError::NotACheckpoint { .. }
    ));
    assert!(matches!(
        load_err(load_checkpoint(dir.path().join("nothing.gguf")).unwrap_err()),
        LoadError::NotACheckpoint { .. }
    ));
    let lone = tempfile::tempdir().unwrap();
    write_safetensors(
        &random_weights(&config, 1),
        lone.path().join("model.safetensors"),
    )
    .unwrap();
    assert!(matches!(
        load_err(load_checkpoint(lone.path().join("model.safetensors")).unwrap_err()),
        LoadError::NotACheckpoint { .. }
    ));
    // A weight missing from the file is the model's error, naming it.
    let mut weights = random_weights(&config, 1);
    weights
        .tensors
        .remove("model.layers.1.mlp.down_proj.weight");
    write_safetensors(&weights, dir.path().join("model.safetensors")).unwrap();
    assert!(matches!(
        Llama::<B>::load(dir.path(), &Default::default()).unwrap_err(),
        Error::MissingWeight(n) if n == "model.layers.1.mlp.down_proj.weight"
    ));
}
