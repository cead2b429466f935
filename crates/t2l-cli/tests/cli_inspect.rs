//! End-to-end tests of `t2l inspect` and the CLI's conventions (exit codes, one-line errors, --json).

use std::path::PathBuf;
use std::process::Command;

fn t2l() -> Command {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lora-core/tests/fixtures")
        .join(name)
}

#[test]
fn inspect_json_on_a_peft_adapter_made_by_python() {
    let out = t2l()
        .args(["inspect", "--json"])
        .arg(fixture("peft_tiny"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "peft_adapter");
    assert_eq!(v["config"]["r"], 4);
    assert_eq!(v["n_layers"], 2);
    assert_eq!(v["scaling"], 2.0);
    let modules = v["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 4);
    let v_proj = modules.iter().find(|m| m["name"] == "v_proj").unwrap();
    assert_eq!(v_proj["a_shape"], serde_json::json!([2, 4, 16]));
    assert_eq!(v_proj["b_shape"], serde_json::json!([2, 8, 4]));
    assert!(v_proj["delta_w_norm"].as_f64().unwrap() > 0.0);
    // parameters: 2 layers × 4 ranks × Σ(d_in + d_out)
    assert_eq!(
        v["num_params"],
        2 * 4 * ((16 + 16) + (16 + 8) + (16 + 32) + (32 + 16))
    );
}

#[test]
fn inspect_text_output() {
    let out = t2l()
        .arg("inspect")
        .arg(fixture("peft_tiny_rslora"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("rsLoRA true"), "{text}");
    assert!(text.contains("scaling 4.0000"), "{text}");
    assert!(text.contains("down_proj"), "{text}");
}

#[test]
fn errors_are_one_line_with_nonzero_exit() {
    for args in [
        vec!["inspect", "/definitely/not/here"],
        vec!["inspect", env!("CARGO_MANIFEST_DIR")],
        vec!["inspect", "x", "--device", "cuda:1"],
    ] {
        let out = t2l().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("t2l: error: "), "{err}");
    }
    // A usage error from clap is non-zero too.
    let out = t2l()
        .args(["inspect", "x", "--device", "tpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn version_and_help_show_examples() {
    let out = t2l().arg("--version").output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("t2l "));
    let out = t2l().args(["inspect", "--help"]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("Examples:"));
}
