//! End-to-end tests of `t2l generate` and `t2l inspect` on hypernetwork checkpoints, with small
//! random checkpoints made here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::backend::Flex;
use burn::prelude::*;
use hypermod::{HyperConfig, HyperModulator, InitMode, Variant};
use lora_core::{AdapterLayout, LoraConfig, ModuleShape};

type B = Flex;

fn t2l() -> Command {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

mod common;
use common::{minilm, one_line_error};

/// A small random checkpoint (SmolLM2-like q/v widths shrunk, 4 layers, r = 4) with task width
/// `task_dim`, saved in `dir`.
fn checkpoint(
    dir: &Path,
    variant: Variant,
    task_dim: usize,
    embedder: Option<&str>,
) -> HyperModulator<B> {
    let shape = |name: &str, d_in, d_out| ModuleShape {
        name: name.into(),
        d_in,
        d_out,
    };
    let layout = AdapterLayout::new(4, vec![shape("q_proj", 32, 32), shape("v_proj", 32, 16)]);
    let lora = LoraConfig::new(4, 8.0, ["q_proj", "v_proj"])
        .with_rslora(true)
        .with_base_model("HuggingFaceTB/SmolLM2-135M-Instruct");
    let mut cfg = HyperConfig::new(variant, task_dim, layout, lora)
        .with_latent(16)
        .with_head_in(32)
        .with_init(InitMode::Default);
    if let Some(e) = embedder {
        cfg = cfg.with_embedder(e);
    }
    let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 5).unwrap();
    hyper.save(dir).unwrap();
    hyper
}

fn assert_same_adapter(dir: &Path, expected: &lora_core::LoraAdapter<B>) {
    let got = lora_core::load_peft::<B>(dir, &Default::default()).unwrap();
    for (name, w) in expected.modules() {
        let v = got.module(name).unwrap();
        let d = (w.a.clone() - v.a.clone())
            .abs()
            .max()
            .into_scalar()
            .max((w.b.clone() - v.b.clone()).abs().max().into_scalar());
        assert!(d <= 1e-6, "{name}: {d}");
    }
}

#[test]
fn generate_from_a_json_embedding_writes_a_peft_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let hyper = checkpoint(&ckpt, Variant::M, 12, None);
    let values: Vec<f32> = (0..12).map(|i| (i as f32 - 5.5) / 4.0).collect();
    let emb = tmp.path().join("phi.json");
    std::fs::write(&emb, serde_json::to_string(&values).unwrap()).unwrap();
    let out_dir = tmp.path().join("adapter");
    let rep = generate_json(&ckpt, &emb, &out_dir, &[]);
    assert_eq!(rep["variant"], "M");
    assert_eq!(rep["num_params"], 4 * 4 * (64 + 48));
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["use_rslora"], true);
    assert_eq!(
        config["base_model_name_or_path"],
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    );
    // Fed exactly as given: the same adapter as the library's for the raw vector.
    let expected = hyper
        .generate_one(Tensor::from_data(
            TensorData::new(values, [12]),
            &Default::default(),
        ))
        .unwrap();
    assert_same_adapter(&out_dir, &expected);
}

#[test]
fn generate_refuses_an_embedding_of_the_wrong_size() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    checkpoint(&ckpt, Variant::L, 12, None);
    let emb = tmp.path().join("phi.json");
    std::fs::write(&emb, "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]").unwrap();
    let out = generate_with(&ckpt, &emb, &tmp.path().join("a"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("11") && err.contains("12"), "{err}");
    assert!(!tmp.path().join("a").exists(), "nothing written on error");
}

#[test]
fn generate_refuses_a_directory_that_is_no_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = t2l()
        .args(["generate", "--description", "x", "--checkpoint"])
        .arg(tmp.path())
        .arg("--out")
        .arg(tmp.path().join("a"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a hypernetwork checkpoint"));
}

#[test]
fn generate_from_a_description_with_minilm() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let minilm = minilm();
    let hyper = checkpoint(&ckpt, Variant::S, 384, Some(minilm.to_str().unwrap()));
    let out_dir = tmp.path().join("adapter");
    let description = "Solve grade-school math word problems";
    let out = t2l()
        .args(["generate", "--checkpoint"])
        .arg(&ckpt)
        .args(["--description", description, "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("task_desc.txt")).unwrap(),
        description
    );
    let bert = text_embed::BertEmbedder::<B>::load(&minilm, &Default::default()).unwrap();
    let expected = hypermod::pipeline::Pipeline::new(hyper, bert)
        .unwrap()
        .adapter(description)
        .unwrap();
    assert_same_adapter(&out_dir, &expected);
}

#[test]
fn inspect_json_reports_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let hyper = checkpoint(tmp.path(), Variant::S, 12, Some("all-minilm-l6-v2"));
    let out = t2l()
        .args(["inspect", "--json"])
        .arg(tmp.path())
        .output()
        .unwrap();
    ok(&out);
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["kind"], "hypermod_checkpoint");
    assert_eq!(rep["variant"], "S");
    assert_eq!(rep["task_dim"], 12);
    assert_eq!(rep["latent"], 16);
    assert_eq!(rep["head_in"], 32);
    assert_eq!(rep["n_layers"], 4);
    assert_eq!(rep["embedder"], "all-minilm-l6-v2");
    assert_eq!(
        rep["trainable_params"].as_u64().unwrap() as usize,
        burn::module::Module::num_params(&hyper)
    );
    assert_eq!(rep["modules"][1]["head_out"], 32);
    let text = t2l().arg("inspect").arg(tmp.path()).output().unwrap();
    ok(&text);
    assert!(String::from_utf8_lossy(&text.stdout).contains("trainable parameters"));
}

/// A reference-format checkpoint (PyTorch `hypermod.pt`) made by
/// `scripts/golden/t2l_reference_checkpoint.py`, with the A/B the reference maths produced.
fn reference_case(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hypermod/tests/fixtures/reference")
        .join(name)
}

#[test]
fn generate_and_inspect_accept_a_reference_checkpoint() {
    let case = reference_case("s_sft");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let emb = tmp.path().join("phi.json");
    std::fs::write(&emb, expected["embeddings"][0].to_string()).unwrap();
    let out_dir = tmp.path().join("adapter");
    ok(&generate_with(&case, &emb, &out_dir, &[]));
    let adapter = lora_core::load_peft::<B>(&out_dir, &Default::default()).unwrap();
    for module in ["q_proj", "v_proj"] {
        let want: Vec<f32> =
            serde_json::from_value(expected["adapters"][0][module]["A"].clone()).unwrap();
        let got = adapter
            .module(module)
            .unwrap()
            .a
            .to_data()
            .to_vec::<f32>()
            .unwrap();
        let d = got
            .iter()
            .zip(&want)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert_eq!(got.len(), want.len());
        assert!(d <= 1e-5, "{module}: {d}");
    }
    let rep = t2l()
        .args(["inspect", "--json"])
        .arg(&case)
        .output()
        .unwrap();
    ok(&rep);
    let rep: serde_json::Value = serde_json::from_slice(&rep.stdout).unwrap();
    assert_eq!(rep["kind"], "reference_checkpoint");
    assert_eq!(rep["variant"], "S");
    assert_eq!(rep["module_order"], serde_json::json!(["v_proj", "q_proj"]));
}

/// Runs `t2l generate` on `ckpt` for the embedding file `emb` into `out_dir`, with `extra`
/// flags.
fn generate_with(ckpt: &Path, emb: &Path, out_dir: &Path, extra: &[&str]) -> Output {
    t2l()
        .args(["generate", "--checkpoint"])
        .arg(ckpt)
        .arg("--embedding")
        .arg(emb)
        .arg("--out")
        .arg(out_dir)
        .args(extra)
        .output()
        .unwrap()
}

/// [`generate_with`] and `--json`; returns the JSON report.
fn generate_json(ckpt: &Path, emb: &Path, out_dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = generate_with(ckpt, emb, out_dir, &[&["--json"], extra].concat());
    ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(max |a − b|, largest |a|)` over every factor of the adapters in two PEFT directories.
fn dir_diff(a: &Path, b: &Path) -> (f32, f32) {
    let device = Default::default();
    let (a, b) = (
        lora_core::load_peft::<B>(a, &device).unwrap(),
        lora_core::load_peft::<B>(b, &device).unwrap(),
    );
    let mut diff = 0f32;
    let mut largest = 0f32;
    for (name, w) in a.modules() {
        let v = b.module(name).unwrap();
        for (x, y) in [(&w.a, &v.a), (&w.b, &v.b)] {
            diff = diff.max((x.clone() - y.clone()).abs().max().into_scalar());
            largest = largest.max(x.clone().abs().max().into_scalar());
        }
    }
    (diff, largest)
}

/// A tiny M checkpoint (task width 12) and a JSON embedding for it, in `tmp`.
fn tiny_case(tmp: &Path) -> (PathBuf, PathBuf) {
    let ckpt = tmp.join("ckpt");
    checkpoint(&ckpt, Variant::M, 12, None);
    let values: Vec<f32> = (0..12).map(|i| ((i * 7 % 12) as f32 - 5.5) / 3.0).collect();
    let emb = tmp.join("phi.json");
    std::fs::write(&emb, serde_json::to_string(&values).unwrap()).unwrap();
    (ckpt, emb)
}

#[test]
fn generate_on_the_packed_f32_path_equals_the_generic_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, emb) = tiny_case(tmp.path());
    let (packed_dir, generic_dir) = (tmp.path().join("packed"), tmp.path().join("generic"));
    let packed_flags = ["--precision", "f32", "--kernel", "packed"];
    if !hypermod::packed::cpu_supported() {
        eprintln!("note: no AVX-512F on this CPU; checking the error line only");
        let err = one_line_error(&generate_with(&ckpt, &emb, &packed_dir, &packed_flags));
        assert!(err.contains("avx512f"), "{err}");
        return;
    }
    let packed = generate_json(&ckpt, &emb, &packed_dir, &packed_flags);
    let generic = generate_json(&ckpt, &emb, &generic_dir, &["--kernel", "generic"]);
    assert_eq!(packed["path"], "packed");
    assert_eq!(packed["precision"], "f32");
    assert!(packed.get("bf16_kernel").is_none(), "{packed}");
    assert_eq!(generic["path"], "generic");
    assert_eq!(generic["precision"], "f32");
    // The default (--kernel auto) in f32: the generic path.
    let default = generate_json(&ckpt, &emb, &tmp.path().join("default"), &[]);
    assert_eq!(default["path"], "generic");
    let (d, largest) = dir_diff(&packed_dir, &generic_dir);
    println!("--kernel packed vs generic (f32): max abs diff {d:e} (largest |value| {largest:e})");
    assert!(largest > 0.0);
    assert!(d <= 1e-5, "{d}");
}

#[test]
fn generate_in_bf16_writes_a_close_adapter_and_reports_its_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, emb) = tiny_case(tmp.path());
    let (bf16_dir, f32_dir) = (tmp.path().join("bf16"), tmp.path().join("f32"));
    if !hypermod::packed::bf16_supported() {
        eprintln!("note: no AVX512-BF16 on this CPU; checking the error line only");
        let out = generate_with(&ckpt, &emb, &bf16_dir, &["--precision", "bf16"]);
        let err = one_line_error(&out);
        assert!(err.contains("avx512"), "{err}");
        return;
    }
    let rep = generate_json(&ckpt, &emb, &bf16_dir, &["--precision", "bf16"]);
    generate_json(&ckpt, &emb, &f32_dir, &["--kernel", "generic"]);
    assert_eq!(rep["path"], "packed");
    assert_eq!(rep["precision"], "bf16");
    let kernel = match hypermod::packed::bf16_kernel().unwrap() {
        hypermod::packed::Bf16Kernel::Amx => "amx",
        hypermod::packed::Bf16Kernel::Avx512 => "avx512",
    };
    assert_eq!(rep["bf16_kernel"], kernel);
    let (d, largest) = dir_diff(&f32_dir, &bf16_dir);
    println!(
        "--precision bf16 vs f32: max abs diff {d:e}, largest |value| {largest:e}, ratio {:e}",
        d / largest
    );
    assert!(d > 0.0, "bf16 wrote the f32 adapter exactly");
    assert!(d <= 1.5e-2 * largest, "{d} vs {largest}");
    // The text output says the path in one line.
    let heads_dir = tmp.path().join("heads");
    let text = generate_with(&ckpt, &emb, &heads_dir, &["--precision", "bf16-heads"]);
    ok(&text);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(&format!("packed path, bf16-heads ({kernel} kernel)")),
        "{stdout}"
    );
}

#[test]
fn generate_refuses_precisions_it_cannot_run_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, emb) = tiny_case(tmp.path());
    let out_dir = tmp.path().join("a");
    let run = |extra: &[&str]| generate_with(&ckpt, &emb, &out_dir, extra);
    let err = one_line_error(&run(&["--precision", "fp8"]));
    assert!(err.contains("`fp8`"), "{err}");
    for name in ["f32", "f16-heads", "bf16", "bf16-heads"] {
        assert!(err.contains(name), "{err}");
    }
    let err = one_line_error(&run(&["--precision", "bf16", "--kernel", "generic"]));
    assert!(err.contains("--kernel generic"), "{err}");
    // Checked before the device is opened: the same line with or without a GPU build.
    for flags in [["--precision", "f16-heads"], ["--kernel", "packed"]] {
        let err = one_line_error(&run(&[&flags[..], &["--device", "wgpu"]].concat()));
        assert!(
            err.contains("--device wgpu") && err.contains("--device cpu"),
            "{err}"
        );
    }
    assert!(!out_dir.exists(), "nothing written on error");
}
