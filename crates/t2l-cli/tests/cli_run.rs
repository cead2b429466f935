//! End-to-end tests of `t2l run` on the real SmolLM2-135M-Instruct GGUF: greedy chat continuation
//! equal to transformers' (`base-llm/tests/fixtures/model/smollm2_golden.json`), plain text, and
//! one-line errors with a non-zero exit.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn t2l() -> Command {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
}

fn gguf() -> PathBuf {
    let path = std::env::var_os("T2L_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
        .join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-assets.sh",
        path.display()
    );
    path
}

fn golden_chat() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../base-llm/tests/fixtures/model/smollm2_golden.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fx["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "chat")
        .unwrap()
        .clone()
}

#[test]
fn run_chat_greedy_json_matches_transformers() {
    let chat = golden_chat();
    let out = t2l()
        .args([
            "run",
            "--json",
            "--chat",
            "--greedy",
            "--max-new-tokens",
            "8",
        ])
        .arg("--model")
        .arg(gguf())
        .args(["--prompt", "What is 7 times 8? Answer briefly."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: Vec<Value> = chat["greedy_ids"].as_array().unwrap()[..8].to_vec();
    assert_eq!(v["token_ids"].as_array().unwrap(), &want);
    assert_eq!(v["text"], "7 * 8 = 56");
    assert_eq!(
        v["prompt_tokens"].as_u64().unwrap() as usize,
        chat["input_ids"].as_array().unwrap().len()
    );
    assert_eq!(v["finish_reason"], "max_new_tokens");
    assert!(v["tokens_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_plain_text_prints_the_continuation() {
    let out = t2l()
        .args(["run", "--quiet", "--greedy", "--max-new-tokens", "3"])
        .arg("--model")
        .arg(gguf())
        .args(["--prompt", "The capital of France is"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // transformers' greedy ids 7042, 30, 198 decode to " Paris.\n"; println adds one newline.
    assert_eq!(String::from_utf8_lossy(&out.stdout), " Paris.\n\n");
    assert!(out.stderr.is_empty(), "--quiet prints nothing on stderr");
}

#[test]
fn run_missing_model_is_one_line_error() {
    let out = t2l()
        .args([
            "run",
            "--model",
            "/nonexistent/model.gguf",
            "--prompt",
            "hi",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("t2l: error: "), "{err}");
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn run_rejects_bad_arguments() {
    // An adapter that is not a PEFT directory.
    let dir = tempfile::tempdir().unwrap();
    let out = t2l()
        .arg("run")
        .arg("--model")
        .arg(gguf())
        .args(["--prompt", "hi", "--adapter"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a PEFT adapter directory"), "{err}");

    // A non-positive temperature.
    let out = t2l()
        .arg("run")
        .arg("--model")
        .arg(gguf())
        .args(["--prompt", "hi", "--temperature", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--temperature"));

    // --greedy and --temperature together (clap).
    let out = t2l()
        .args([
            "run",
            "--model",
            "m.gguf",
            "--prompt",
            "hi",
            "--greedy",
            "--temperature",
            "0.5",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// A PEFT adapter for SmolLM2-135M (30 layers, q_proj 576→576, v_proj 576→192, r = 4): PEFT's
/// initialisation (B = 0, a no-op) or, with `strong`, random A and B large enough to change the
/// continuation.
fn smollm2_adapter(dir: &std::path::Path, strong: bool) {
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use lora_core::{AdapterLayout, LoraAdapter, LoraConfig, LoraWeights, ModuleShape, save_peft};
    type B = burn::backend::Flex;
    let device = Default::default();
    let shape = |name: &str, d_out| ModuleShape {
        name: name.into(),
        d_in: 576,
        d_out,
    };
    let layout = AdapterLayout::new(30, vec![shape("q_proj", 576), shape("v_proj", 192)]);
    let config = LoraConfig::new(4, 8.0, ["q_proj", "v_proj"]);
    let adapter = if strong {
        let modules = layout
            .modules
            .iter()
            .map(|m| {
                let normal = Distribution::Normal(0.0, 0.5);
                let a = Tensor::<B, 3>::random([30, 4, m.d_in], normal, &device);
                let b = Tensor::<B, 3>::random([30, m.d_out, 4], normal, &device);
                (m.name.clone(), LoraWeights { a, b })
            })
            .collect();
        LoraAdapter::new(config, layout, modules).unwrap()
    } else {
        LoraAdapter::<B>::init_like_peft(config, layout, &device, 0)
    };
    save_peft(&adapter, dir, Default::default()).unwrap();
}

fn greedy_ids(adapter: Option<&std::path::Path>) -> Value {
    let mut cmd = t2l();
    cmd.args([
        "run",
        "--json",
        "--chat",
        "--greedy",
        "--max-new-tokens",
        "8",
    ])
    .arg("--model")
    .arg(gguf())
    .args(["--prompt", "What is 7 times 8? Answer briefly."]);
    if let Some(dir) = adapter {
        cmd.arg("--adapter").arg(dir);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["token_ids"].clone()
}

#[test]
fn run_with_a_peft_adapter_merges_it() {
    let base: Vec<Value> = golden_chat()["greedy_ids"].as_array().unwrap()[..8].to_vec();
    let noop = tempfile::tempdir().unwrap();
    smollm2_adapter(noop.path(), false);
    assert_eq!(greedy_ids(Some(noop.path())).as_array().unwrap(), &base);
    let strong = tempfile::tempdir().unwrap();
    smollm2_adapter(strong.path(), true);
    assert_ne!(greedy_ids(Some(strong.path())).as_array().unwrap(), &base);
}

#[test]
fn run_with_an_adapter_of_another_model_fails_cleanly() {
    let tiny =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../lora-core/tests/fixtures/peft_tiny");
    let out = t2l()
        .arg("run")
        .arg("--model")
        .arg(gguf())
        .args(["--prompt", "hi", "--max-new-tokens", "1", "--adapter"])
        .arg(tiny)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("adapter"), "{err}");
}
