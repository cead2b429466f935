//! End-to-end tests of `t2l run` on the real SmolLM2-135M-Instruct GGUF: greedy chat continuation
//! equal to transformers' (`base-llm/tests/fixtures/model/smollm2_golden.json`), also with a bf16
//! base (`--precision bf16`), plain text, adapters merged in, and one-line errors with a non-zero
//! exit.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The golden chat prompt's user message (default system prompt of the template).
const CHAT_PROMPT: &str = "What is 7 times 8? Answer briefly.";

mod common;
use common::{minilm, smollm2_gguf as gguf};

/// `t2l run --model <model> ARGS...`.
fn t2l_run<S: AsRef<OsStr>>(model: &Path, args: impl IntoIterator<Item = S>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
        .arg("run")
        .arg("--model")
        .arg(model)
        .args(args)
        .output()
        .unwrap()
}

/// Runs on the real GGUF and expects success.
fn run_ok<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    let out = t2l_run(&gguf(), args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Expects a failure reported as one `t2l: error: ...` line on stderr; returns that line.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("t2l: error: "), "{err}");
    err
}

/// Token ids of `--json --chat --greedy --max-new-tokens 8` on the golden prompt, plus `extra`.
fn chat_greedy_json<S: AsRef<OsStr>>(extra: impl IntoIterator<Item = S>) -> Value {
    let mut args: Vec<std::ffi::OsString> = [
        "--json",
        "--chat",
        "--greedy",
        "--max-new-tokens",
        "8",
        "--prompt",
        CHAT_PROMPT,
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.extend(extra.into_iter().map(|a| a.as_ref().to_os_string()));
    serde_json::from_slice(&run_ok(args).stdout).unwrap()
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

fn golden_first_8() -> Vec<Value> {
    golden_chat()["greedy_ids"].as_array().unwrap()[..8].to_vec()
}

#[test]
fn run_chat_greedy_json_matches_transformers() {
    let v = chat_greedy_json::<&str>([]);
    assert_eq!(v["token_ids"].as_array().unwrap(), &golden_first_8());
    assert_eq!(v["text"], "7 * 8 = 56");
    assert_eq!(
        v["prompt_tokens"].as_u64().unwrap() as usize,
        golden_chat()["input_ids"].as_array().unwrap().len()
    );
    assert_eq!(v["finish_reason"], "max_new_tokens");
    assert!(v["tokens_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_with_a_bf16_base_gives_the_same_greedy_tokens() {
    let v = chat_greedy_json(["--precision", "bf16"]);
    assert_eq!(v["token_ids"].as_array().unwrap(), &golden_first_8());
}

#[test]
fn run_plain_text_prints_the_continuation() {
    let out = run_ok([
        "--quiet",
        "--greedy",
        "--max-new-tokens",
        "3",
        "--prompt",
        "The capital of France is",
    ]);
    // transformers' greedy ids 7042, 30, 198 decode to " Paris.\n"; println adds one newline.
    assert_eq!(String::from_utf8_lossy(&out.stdout), " Paris.\n\n");
    assert!(out.stderr.is_empty(), "--quiet prints nothing on stderr");
}

#[test]
fn run_missing_model_is_one_line_error() {
    let out = t2l_run(Path::new("/nonexistent/model.gguf"), ["--prompt", "hi"]);
    let err = one_line_error(&out);
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");
}

#[test]
fn run_rejects_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--prompt".into(), "hi".into(), "--adapter".into()];
    args.push(dir.path().as_os_str().to_os_string());
    let err = one_line_error(&t2l_run(&gguf(), args));
    assert!(err.contains("not a PEFT adapter directory"), "{err}");

    let err = one_line_error(&t2l_run(&gguf(), ["--prompt", "hi", "--temperature", "0"]));
    assert!(err.contains("--temperature"), "{err}");

    // --greedy and --temperature together: clap refuses before anything is loaded.
    let out = t2l_run(
        Path::new("m.gguf"),
        ["--prompt", "hi", "--greedy", "--temperature", "0.5"],
    );
    assert!(!out.status.success());
}

/// A PEFT adapter for SmolLM2-135M (30 layers, q_proj 576→576, v_proj 576→192, r = 4): PEFT's
/// initialisation (B = 0, a no-op) or, with `strong`, random A and B large enough to change the
/// continuation.
fn smollm2_adapter(dir: &Path, strong: bool) {
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

#[test]
fn run_with_a_peft_adapter_merges_it() {
    let noop = tempfile::tempdir().unwrap();
    smollm2_adapter(noop.path(), false);
    let v = chat_greedy_json([OsStr::new("--adapter"), noop.path().as_os_str()]);
    assert_eq!(v["token_ids"].as_array().unwrap(), &golden_first_8());

    let strong = tempfile::tempdir().unwrap();
    smollm2_adapter(strong.path(), true);
    let v = chat_greedy_json([OsStr::new("--adapter"), strong.path().as_os_str()]);
    assert_ne!(v["token_ids"].as_array().unwrap(), &golden_first_8());
}

#[test]
fn run_with_an_adapter_of_another_model_fails_cleanly() {
    let tiny =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../lora-core/tests/fixtures/peft_tiny");
    let mut args = vec![
        "--prompt".into(),
        "hi".into(),
        "--max-new-tokens".into(),
        "1".into(),
        "--adapter".into(),
    ];
    args.push(tiny.into_os_string());
    let err = one_line_error(&t2l_run(&gguf(), args));
    assert!(err.contains("adapter does not fit the model"), "{err}");
    // A T2L checkpoint made for another model (3 layers): refused before generating anything.
    let ckpt = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hypermod/tests/fixtures/reference/s_sft");
    let mut args = vec!["--prompt".into(), "hi".into(), "--t2l".into()];
    args.push(ckpt.into_os_string());
    args.extend(["--description".into(), "a task".into()]);
    let err = one_line_error(&t2l_run(&gguf(), args));
    assert!(err.contains("adapter does not fit the model"), "{err}");
}

/// The T2L checkpoint shipped in `checkpoints/` and the embedder it was trained with.
fn shipped_t2l() -> (PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    (root.join("checkpoints/t2l-smollm2-minilm-m"), minilm())
}

#[test]
fn run_with_t2l_compare_shows_base_and_the_generated_adapter() {
    let (ckpt, embedder) = shipped_t2l();
    let description = "Answer grade-school arithmetic questions with the number only.";
    // The same adapter through `t2l generate` then `--adapter`.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_t2l"))
        .args(["generate", "--checkpoint"])
        .arg(&ckpt)
        .arg("--embedder")
        .arg(&embedder)
        .args(["--description", description, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let via_peft = chat_greedy_json([OsStr::new("--adapter"), dir.path().as_os_str()]);

    let both = chat_greedy_json([
        OsStr::new("--t2l"),
        ckpt.as_os_str(),
        OsStr::new("--embedder"),
        embedder.as_os_str(),
        OsStr::new("--description"),
        OsStr::new(description),
        OsStr::new("--compare"),
    ]);
    assert_eq!(
        both["base"]["token_ids"],
        chat_greedy_json::<&str>([])["token_ids"]
    );
    assert_eq!(both["adapted"]["token_ids"], via_peft["token_ids"]);
    assert_ne!(both["adapted"]["token_ids"], both["base"]["token_ids"]);

    let err = one_line_error(&t2l_run(&gguf(), ["--prompt", "hi", "--compare"]));
    assert!(err.contains("--compare needs an adapter"), "{err}");
}
