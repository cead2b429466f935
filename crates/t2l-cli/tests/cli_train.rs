//! `t2l train`: a two-step LoRA SFT run of a tiny random Llama on two real training tasks
//! (skipped without the data): `--json` reports, nothing on stderr when it is not a terminal,
//! `--seed` overrides the config's seed (same seed → identical adapter bytes, another seed →
//! different ones); and one-line errors for a missing or malformed config.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{one_line_error, t2l};

/// A tiny LoRA SFT config over `data` (the folder holding `tasks/`), written into `dir`.
fn tiny_config(dir: &Path, data: &Path) -> PathBuf {
    let toml = format!(
        r#"[model]
kind = "tiny_random"
seed = 3

[lora]
r = 2

[data]
data_dir = "{}"
tasks = ["basic_arithmetic", "basic_skills_arithmetic"]
tasks_per_batch = 2
points_per_task = 2
max_len = 48
val_fraction = 0.0

[run]
seed = 1
steps = 2
out_dir = "{}"
"#,
        data.display(),
        dir.join("unused").display()
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn train(config: &Path, out: &Path, seed: Option<&str>) -> Value {
    let mut args = vec![
        "train",
        "lora",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    if let Some(s) = seed {
        args.extend(["--seed", s]);
    }
    let out = t2l(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // stderr is a pipe here: no progress bar, no chatter.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn adapter_bytes(report: &Value) -> Vec<u8> {
    let dir = PathBuf::from(report["adapter_dir"].as_str().unwrap());
    std::fs::read(dir.join("adapter_model.safetensors")).unwrap()
}

#[test]
fn train_lora_json_quiet_when_piped_and_seeded() {
    let Ok(data) = trainers::data::tasks::data_root() else {
        return; // task data not on this machine
    };
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path(), &data);
    let a = train(&config, &dir.path().join("a"), Some("5"));
    assert_eq!(a["steps"], 2, "{a}");
    let b = train(&config, &dir.path().join("b"), Some("5"));
    let c = train(&config, &dir.path().join("c"), Some("6"));
    let d = train(&config, &dir.path().join("d"), None);
    assert_eq!(
        adapter_bytes(&a),
        adapter_bytes(&b),
        "same --seed, same adapter"
    );
    assert_ne!(
        adapter_bytes(&a),
        adapter_bytes(&c),
        "--seed changes the run"
    );
    // Without --seed the config's seed (1) is used, not the flag's default (0).
    let e = train(&config, &dir.path().join("e"), Some("1"));
    assert_eq!(adapter_bytes(&d), adapter_bytes(&e));
}

#[test]
fn config_mistakes_are_one_line_errors() {
    let err = one_line_error(&t2l(&[
        "train",
        "lora",
        "--config",
        "/nonexistent/run.toml",
    ]));
    assert!(err.contains("/nonexistent/run.toml"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[run]\nstepz = 3\n").unwrap();
    let err = one_line_error(&t2l(&["train", "lora", "--config", bad.to_str().unwrap()]));
    assert!(err.contains("stepz"), "{err}");
}
