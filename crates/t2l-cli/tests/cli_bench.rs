//! `t2l bench`: every workload runs on tiny shapes and reports time, work and the ceilings'
//! fractions in JSON; a real-model prefill on SmolLM2; backends that are not compiled in fail
//! with one line.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn t2l(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap()
}

/// Runs `t2l --json bench KIND --iters 1 --warmup 0 ARGS..` and checks the report's common
/// fields; returns it.
fn bench_json(kind: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json", "bench", kind, "--iters", "1", "--warmup", "0"];
    all.extend_from_slice(args);
    let out = t2l(&all);
    assert!(
        out.status.success(),
        "t2l bench {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&v, kind);
    v
}

/// [`bench_json`] with `--tiny` before EXTRA.
fn tiny_bench(kind: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--tiny"];
    args.extend_from_slice(extra);
    bench_json(kind, &args)
}

fn check_report(v: &Value, kind: &str) {
    assert_eq!(v["bench"], kind);
    assert_eq!(v["device"], "cpu");
    assert!(v["backend"].as_str().unwrap().contains("flex"), "{v}");
    let c = &v["ceilings"];
    assert!(c["gemm_gflops"].as_f64().unwrap() > 0.0, "{c}");
    assert!(c["bandwidth_gbps"].as_f64().unwrap() > 0.0, "{c}");
    let results = v["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["bench"], kind);
        assert_eq!(r["timing"]["iters"], 1);
        let t = r["timing"]["median_s"].as_f64().unwrap();
        assert!(t > 0.0, "{r}");
        let (flops, bytes) = (
            r["work"]["flops"].as_f64().unwrap(),
            r["work"]["bytes"].as_f64().unwrap(),
        );
        assert!(flops > 0.0 && bytes > 0.0, "{r}");
        // The rates and fractions are the work over the time, against this run's ceilings.
        let gflops = r["gflops"].as_f64().unwrap();
        assert!(
            (gflops - flops / t / 1e9).abs() <= 1e-9 * gflops.max(1.0),
            "{r}"
        );
        let frac = r["gemm_fraction"].as_f64().unwrap();
        assert!(
            (frac - gflops / c["gemm_gflops"].as_f64().unwrap()).abs() < 1e-9,
            "{r}"
        );
        assert!(r["bandwidth_fraction"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["times_floor"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
fn generate_reports_l_m_s_at_tiny_shapes() {
    let v = tiny_bench("generate", &[]);
    let cases: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["case"].as_str().unwrap())
        .filter(|c| c.ends_with("/generic"))
        .collect();
    assert_eq!(
        cases,
        ["tiny/L/generic", "tiny/M/generic", "tiny/S/generic"]
    );
    // The packed CPU path is timed next to each generic case where the CPU has AVX-512.
    let packed = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["case"].as_str().unwrap().ends_with("/packed"))
        .count();
    assert!(packed == 0 || packed == 3, "{v}");
}

#[test]
fn prefill_and_decode_on_a_tiny_model() {
    let v = tiny_bench("prefill", &["--prompt-tokens", "8"]);
    let r = &v["results"][0];
    assert_eq!(r["case"], "tiny/8tok");
    assert_eq!(r["items"], serde_json::json!([8.0, "tokens"]));
    let v = tiny_bench("decode", &["--prompt-tokens", "4", "--new-tokens", "3"]);
    assert_eq!(v["results"][0]["case"], "tiny/4+3tok");
}

#[test]
fn sft_and_recon_steps_on_tiny_shapes() {
    let v = tiny_bench(
        "sft-step",
        &["--seq", "16", "--response", "4", "--task-dim", "8"],
    );
    assert_eq!(v["results"][0]["case"], "tiny/M/8tasks×16tok");
    let v = tiny_bench("recon-step", &["--library", "3", "--tasks", "2"]);
    assert_eq!(v["results"][0]["case"], "tiny/L/2tasks");
}

#[test]
fn prefill_decode_and_sft_step_with_a_half_precision_base() {
    let f32_bytes = tiny_bench("prefill", &["--prompt-tokens", "8"])["base_weight_bytes"]
        .as_f64()
        .unwrap();
    let v = tiny_bench("prefill", &["--prompt-tokens", "8", "--precision", "f16"]);
    assert_eq!(v["results"][0]["case"], "tiny/f16/8tok");
    // Everything but the f32 norm gains is stored in 2 bytes.
    let f16_bytes = v["base_weight_bytes"].as_f64().unwrap();
    assert!(f16_bytes < 0.55 * f32_bytes, "{f16_bytes} vs {f32_bytes}");
    let v = tiny_bench(
        "decode",
        &[
            "--prompt-tokens",
            "4",
            "--new-tokens",
            "3",
            "--precision",
            "bf16-store",
        ],
    );
    assert_eq!(v["results"][0]["case"], "tiny/bf16-store/4+3tok");
    let v = tiny_bench(
        "sft-step",
        &[
            "--seq",
            "16",
            "--response",
            "4",
            "--task-dim",
            "8",
            "--precision",
            "bf16",
        ],
    );
    assert_eq!(v["results"][0]["case"], "tiny/bf16/M/8tasks×16tok");
    let out = t2l(&["bench", "prefill", "--tiny", "--precision", "fp8"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown precision `fp8`"), "{err}");
}

#[test]
fn precision_errors_within_their_tolerances() {
    let v = tiny_bench("precision", &[]);
    let rows = v["precision"].as_array().unwrap();
    assert_eq!(rows.len(), 5); // f32 + {f16, bf16} × {store, compute}
    for p in rows.iter().skip(1) {
        let (e, tol) = (
            p["error"].as_f64().unwrap(),
            p["tolerance"].as_f64().unwrap(),
        );
        assert!(e > 0.0 && e <= tol, "{p}");
    }
}

#[test]
fn prefill_on_the_real_smollm2() {
    let gguf = common::smollm2_gguf();
    let out = t2l(&[
        "bench",
        "prefill",
        "--model",
        gguf.to_str().unwrap(),
        "--prompt-tokens",
        "8",
        "--iters",
        "1",
        "--warmup",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ceilings GEMM"), "{text}");
    assert!(text.contains("SmolLM2-135M-Instruct.Q4_1/8tok"), "{text}");
    assert!(
        text.contains("% of GEMM") && text.contains("% of bandwidth"),
        "{text}"
    );
}

/// `--random-weights` stands in for the real file: the same work and weight bytes per prefill,
/// no file needed; naming a file as well is a one-line error.
#[test]
fn random_weights_do_the_work_of_the_real_smollm2() {
    let gguf = common::smollm2_gguf();
    let path = gguf.to_str().unwrap();
    let real = bench_json("prefill", &["--prompt-tokens", "8", "--model", path]);
    let random = bench_json("prefill", &["--prompt-tokens", "8", "--random-weights"]);
    assert_eq!(random["results"][0]["case"], "smollm2-135m-random/8tok");
    assert_eq!(real["results"][0]["work"], random["results"][0]["work"]);
    assert_eq!(real["base_weight_bytes"], random["base_weight_bytes"]);

    let out = t2l(&["bench", "decode", "--random-weights", "--model", path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--random-weights and --model"), "{err}");
}

#[test]
fn bad_parameters_and_missing_backends_are_one_line_errors() {
    let out = t2l(&["bench", "decode", "--tiny", "--prompt-tokens", "200"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("prompt/new tokens"), "{err}");
    for (device, feature) in [("cuda", "cuda"), ("wgpu", "wgpu")] {
        if (feature == "cuda" && cfg!(feature = "cuda"))
            || (feature == "wgpu" && cfg!(feature = "wgpu"))
        {
            continue;
        }
        let out = t2l(&["--device", device, "bench", "generate", "--tiny"]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("needs the `{feature}` feature")),
            "{err}"
        );
    }
}
