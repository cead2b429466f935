//! Golden tests against Hugging Face PEFT, both ways (fixtures made by `scripts/golden/peft_lora.py`).

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use lora_core::{
    AdapterLayout, Error, LoraAdapter, LoraConfig, LoraWeights, SaveDtype, load_peft, save_peft,
};

type B = Flex;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join(name)).expect("fixture present");
    serde_json::from_str(&text).unwrap()
}

fn values(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Compares our ΔW with the recorded PEFT ΔW for every recorded (layer, module) pair.
fn check_delta_w(adapter: &LoraAdapter<B>, record: &serde_json::Value) {
    let pairs = record["delta_w"].as_array().unwrap();
    assert!(pairs.len() >= 4);
    for p in pairs {
        let layer = p["layer"].as_u64().unwrap() as usize;
        let module = p["module"].as_str().unwrap();
        let shape: Vec<usize> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let dw = adapter.delta_w(layer, module).unwrap();
        assert_eq!(dw.dims().to_vec(), shape, "{module} layer {layer}");
        let ours = dw.into_data().to_vec::<f32>().unwrap();
        let theirs = values(&p["values"]);
        let max = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max <= 1e-6, "ΔW {module} layer {layer}: max abs diff {max}");
    }
}

#[test]
fn reads_peft_adapters_and_matches_their_delta_w() {
    let golden = read_json("peft_delta_w.json");
    for tag in ["peft_tiny", "peft_tiny_rslora"] {
        let dir = fixtures().join(tag);
        let adapter = load_peft::<B>(&dir, &Default::default()).unwrap();
        let rec = &golden[tag];
        assert!(
            (adapter.scaling() - rec["scaling"].as_f64().unwrap()).abs() < 1e-12,
            "{tag} scaling"
        );
        assert_eq!(adapter.config().use_rslora, tag.ends_with("rslora"));
        // Layout from the tensors equals the layout from the base model's config.json.
        let targets = adapter.layout().module_names();
        let from_cfg =
            AdapterLayout::from_hf_config_file(&dir.join("config.json"), &targets).unwrap();
        assert_eq!(adapter.layout(), &from_cfg);
        assert_eq!(adapter.layout().n_layers, 2);
        let shapes: Vec<_> = adapter
            .layout()
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m.d_in, m.d_out))
            .collect();
        assert!(
            shapes.contains(&("v_proj", 16, 8)) && shapes.contains(&("down_proj", 32, 16)),
            "{shapes:?}"
        );
        check_delta_w(&adapter, rec);
    }
}

/// The adapter lora-core writes for the Rust → PEFT direction: deterministic, non-trivial A and B.
fn rust_adapter() -> LoraAdapter<B> {
    let dev = Default::default();
    let cfg = serde_json::json!({"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 2});
    let targets: Vec<String> = ["q_proj", "v_proj", "gate_proj", "down_proj"]
        .map(String::from)
        .to_vec();
    let layout = AdapterLayout::from_hf_config(&cfg, &targets).unwrap();
    let config = LoraConfig::new(4, 8.0, targets)
        .with_rslora(true)
        .with_dropout(0.05)
        .with_base_model("tiny-llama");
    let mut k = 0f32;
    let mut fill = |shape: [usize; 3]| {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n)
            .map(|_| {
                k += 1.0;
                (k * 0.37).sin() * 0.5
            })
            .collect();
        Tensor::<B, 3>::from_data(TensorData::new(v, shape), &dev)
    };
    let modules = layout
        .modules
        .iter()
        .map(|m| {
            let a = fill([2, 4, m.d_in]);
            let b = fill([2, m.d_out, 4]);
            (m.name.clone(), LoraWeights { a, b })
        })
        .collect();
    LoraAdapter::new(config, layout, modules).unwrap()
}

#[test]
fn peft_loads_what_we_write() {
    let adapter = rust_adapter();
    let committed = fixtures().join("rust_written");
    let fresh = tempfile::tempdir().unwrap();
    save_peft(&adapter, fresh.path(), SaveDtype::F32).unwrap();
    if std::env::var_os("T2L_UPDATE_FIXTURES").is_some() {
        save_peft(&adapter, &committed, SaveDtype::F32).unwrap();
    }
    // The committed fixture (the one PEFT was run on) is exactly what lora-core writes today.
    for f in ["adapter_model.safetensors", "adapter_config.json"] {
        let a = std::fs::read(fresh.path().join(f)).unwrap();
        let b = std::fs::read(committed.join(f)).expect("committed rust_written fixture");
        assert!(
            a == b,
            "{f} differs from the committed fixture: rerun the golden script"
        );
    }
    // PEFT's verdict on it.
    let report = read_json("rust_written_peft_check.json");
    assert_eq!(
        report["missing_lora_keys"],
        serde_json::json!([]),
        "PEFT found missing keys"
    );
    assert_eq!(
        report["unexpected_keys"],
        serde_json::json!([]),
        "PEFT found unexpected keys"
    );
    assert_eq!(report["use_rslora"], serde_json::json!(true));
    assert!((report["scaling"].as_f64().unwrap() - adapter.scaling()).abs() < 1e-9);
    check_delta_w(&adapter, &report);
}

#[test]
fn half_precision_round_trip() {
    let adapter = rust_adapter();
    for (dtype, tol) in [
        (SaveDtype::F32, 0.0),
        (SaveDtype::F16, 1e-3),
        (SaveDtype::BF16, 4e-3),
    ] {
        let dir = tempfile::tempdir().unwrap();
        save_peft(&adapter, dir.path(), dtype).unwrap();
        let back = load_peft::<B>(dir.path(), &Default::default()).unwrap();
        assert_eq!(back.layout(), adapter.layout());
        assert_eq!(back.config(), adapter.config());
        for (name, w) in adapter.modules() {
            let v = back.module(name).unwrap();
            let d = (w.a.clone() - v.a.clone()).abs().max().into_scalar();
            let e = (w.b.clone() - v.b.clone()).abs().max().into_scalar();
            assert!(d <= tol && e <= tol, "{dtype:?} {name}: {d} {e}");
        }
    }
}

fn copy_fixture(tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["adapter_model.safetensors", "adapter_config.json"] {
        std::fs::copy(fixtures().join(tag).join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn malformed_files_give_typed_errors() {
    let dev = Default::default();
    let weights = |d: &tempfile::TempDir| d.path().join("adapter_model.safetensors");

    // Truncated safetensors.
    let d = copy_fixture("peft_tiny");
    let bytes = std::fs::read(weights(&d)).unwrap();
    std::fs::write(weights(&d), &bytes[..bytes.len() / 2]).unwrap();
    let e = load_peft::<B>(d.path(), &dev).unwrap_err();
    assert!(matches!(e, Error::Safetensors { .. }), "{e}");
    assert!(e.to_string().contains("adapter_model.safetensors"), "{e}");

    // Not safetensors at all.
    std::fs::write(weights(&d), b"PK\x03\x04 this is a zip file").unwrap();
    assert!(matches!(
        load_peft::<B>(d.path(), &dev),
        Err(Error::Safetensors { .. })
    ));

    // A missing key: drop one tensor.
    let d = copy_fixture("peft_tiny");
    let bytes = std::fs::read(weights(&d)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let drop = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
    let kept: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != drop)
        .collect();
    let out = safetensors::serialize(kept, None).unwrap();
    std::fs::write(weights(&d), out).unwrap();
    match load_peft::<B>(d.path(), &dev) {
        Err(Error::MissingTensor { tensor, path }) => {
            assert_eq!(tensor, drop);
            assert!(path.ends_with("adapter_model.safetensors"));
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }

    // A wrong shape: rank in the config disagrees with the tensors.
    let d = copy_fixture("peft_tiny");
    let cfg_path = d.path().join("adapter_config.json");
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("\"r\": 4", "\"r\": 3");
    std::fs::write(&cfg_path, cfg).unwrap();
    let e = load_peft::<B>(d.path(), &dev).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("lora_A"), "{e}");

    // Missing directory.
    let e = load_peft::<B>(Path::new("/nonexistent/adapter"), &dev).unwrap_err();
    assert!(
        e.to_string()
            .contains("/nonexistent/adapter/adapter_config.json"),
        "{e}"
    );
}
