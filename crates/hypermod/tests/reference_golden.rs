//! Golden test of the reference import: small reference-format checkpoints (L, M, S; made by
//! `scripts/golden/t2l_reference_checkpoint.py` with random weights and the reference's module
//! names) are imported, and the adapters generated for the recorded task embeddings must equal the
//! A/B the reference maths produced in PyTorch to within 1e-5 (absolute).

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use hypermod::reference::{ImportOptions, ModuleOrderSource, ReferenceCheckpoint};
use hypermod::{HyperModulator, InitMode, Variant};
use serde::Deserialize;

type B = Flex;

/// Largest absolute difference allowed between our A/B and the reference's.
const TOL: f32 = 1e-5;

#[derive(Deserialize)]
struct Expected {
    variant: String,
    n_layers: usize,
    rank: usize,
    modules: Vec<ModuleInfo>,
    module_order: Vec<String>,
    emb_size: usize,
    head_bias: bool,
    embeddings: Vec<Vec<f32>>,
    adapters: Vec<std::collections::BTreeMap<String, Factors>>,
}

#[derive(Deserialize)]
struct ModuleInfo {
    name: String,
    d_in: usize,
    d_out: usize,
}

#[derive(Deserialize)]
struct Factors {
    #[serde(rename = "A")]
    a: Vec<f32>,
    #[serde(rename = "B")]
    b: Vec<f32>,
}

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(case_dir(name).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Generates with the imported hypernetwork (the generic path, or the packed CPU path when
/// `packed`); returns the largest |ours − reference| over every A and B of every embedding, or
/// `None` for the packed path on a CPU without it.
fn worst_diff(hnet: &HyperModulator<B>, exp: &Expected, packed: bool) -> Option<f32> {
    let device = Default::default();
    let n = exp.embeddings.len();
    let flat: Vec<f32> = exp.embeddings.concat();
    let emb = Tensor::<B, 2>::from_data(TensorData::new(flat, [n, exp.emb_size]), &device);
    let batch = if packed {
        let fast = hypermod::packed::PackedHyper::new(hnet)?.with_threads(2);
        hnet.generate_packed(emb, &fast).unwrap()
    } else {
        hnet.generate(emb).unwrap()
    };
    assert_eq!(batch.len(), n);
    let mut worst = 0f32;
    for m in &exp.modules {
        let w = batch.module(&m.name).unwrap();
        assert_eq!(w.a.dims(), [n, exp.n_layers, exp.rank, m.d_in]);
        assert_eq!(w.b.dims(), [n, exp.n_layers, m.d_out, exp.rank]);
        let a = w.a.to_data().to_vec::<f32>().unwrap();
        let b = w.b.to_data().to_vec::<f32>().unwrap();
        let (na, nb) = (a.len() / n, b.len() / n);
        for (i, want) in exp.adapters.iter().enumerate() {
            let want = &want[&m.name];
            worst = worst.max(max_abs_diff(&a[i * na..(i + 1) * na], &want.a));
            worst = worst.max(max_abs_diff(&b[i * nb..(i + 1) * nb], &want.b));
        }
    }
    Some(worst)
}

fn import(name: &str, options: &ImportOptions) -> HyperModulator<B> {
    HyperModulator::<B>::import_reference(&case_dir(name), options, &Default::default()).unwrap()
}

fn check_case(name: &str, variant: Variant) {
    let exp = expected(name);
    assert_eq!(exp.variant, variant.to_string());
    let hnet = import(name, &ImportOptions::default());
    let cfg = hnet.config();
    assert_eq!(cfg.variant, variant);
    assert_eq!(cfg.task_dim, exp.emb_size);
    assert_eq!(cfg.layout.n_layers, exp.n_layers);
    assert_eq!(cfg.rank(), exp.rank);
    assert_eq!(cfg.module_order, exp.module_order);
    assert_eq!(cfg.head_bias, exp.head_bias);
    for m in &exp.modules {
        let s = cfg.layout.module(&m.name).unwrap();
        assert_eq!((s.d_in, s.d_out), (m.d_in, m.d_out), "{}", m.name);
    }
    let worst = worst_diff(&hnet, &exp, false).unwrap();
    println!("{name}: max |A/B − reference| = {worst:.3e}");
    assert!(worst <= TOL, "{name}: max |diff| {worst} > {TOL}");
    match worst_diff(&hnet, &exp, true) {
        Some(worst) => {
            println!("{name} (packed CPU path): max |A/B − reference| = {worst:.3e}");
            assert!(worst <= TOL, "{name} packed: max |diff| {worst} > {TOL}");
        }
        None => assert!(!hypermod::packed::cpu_supported()),
    }
}

#[test]
fn l_variant_with_offset_and_module_order_file_matches_the_reference() {
    check_case("l_sft_offset", Variant::L);
}

#[test]
fn m_variant_with_z_score_stacks_matches_the_reference() {
    check_case("m_recon_zscore", Variant::M);
}

#[test]
fn s_variant_with_head_bias_matches_the_reference() {
    check_case("s_sft", Variant::S);
}

#[test]
fn l_variant_trained_on_delta_w_matches_the_reference() {
    check_case("l_recon_delta_w", Variant::L);
}

#[test]
fn the_generation_path_is_read_from_args_yaml() {
    let opts = ImportOptions::default();
    // L: SFT over a multi-task LoRA → non-zero offset kept, mean/std dropped, no head bias.
    let l = ReferenceCheckpoint::read(&case_dir("l_sft_offset"), &opts).unwrap();
    assert_eq!(l.module_order_source, ModuleOrderSource::ModuleOrderFile);
    assert!(l.config.ab_offset && !l.config.z_score && l.config.delta_w_scaling.is_none());
    assert_eq!(l.config.init, InitMode::ZeroHead);
    assert!(
        l.dropped
            .iter()
            .all(|k| k.starts_with("mean_recon_target.") || k.starts_with("std_recon_target."))
    );
    assert_eq!(l.dropped.len(), 8);
    assert_eq!(
        l.config.embedder.as_deref(),
        Some("Alibaba-NLP/gte-large-en-v1.5")
    );
    assert!(l.config.lora.use_rslora);
    // M: factorised z-score reconstruction → mean/std kept, zero offset dropped.
    let m = ReferenceCheckpoint::read(&case_dir("m_recon_zscore"), &opts).unwrap();
    assert_eq!(m.module_order_source, ModuleOrderSource::AdapterConfig);
    assert!(m.config.z_score && !m.config.ab_offset);
    assert_eq!(m.config.init, InitMode::Default);
    assert!(m.dropped.iter().all(|k| k.starts_with("AB_offset.")));
    // S: plain SFT with Bias-HyperInit heads → nothing but the trunk and heads.
    let s = ReferenceCheckpoint::read(&case_dir("s_sft"), &opts).unwrap();
    assert!(!s.config.z_score && !s.config.ab_offset && s.config.head_bias);
    assert_eq!(s.config.init, InitMode::BiasHyperInit);
    assert_eq!(s.config.module_order, ["v_proj", "q_proj"]);
    assert_eq!(s.dropped.len(), 12);
    // L on ΔW: each factor / √10000, the saved (unused) mean/std and the offset dropped.
    let dw = ReferenceCheckpoint::read(&case_dir("l_recon_delta_w"), &opts).unwrap();
    assert_eq!(dw.config.delta_w_scaling, Some(10000.0));
    assert!(!dw.config.z_score && !dw.config.ab_offset && dw.config.head_bias);
    assert_eq!(dw.dropped.len(), 12);
}

#[test]
fn an_explicit_module_order_overrides_module_order_json() {
    let exp = expected("l_sft_offset");
    // The fixture's module_order.json is [v_proj, q_proj]; forcing adapter_config's order swaps
    // the module-type embedding rows, so the adapters must differ from the reference's.
    let opts = ImportOptions::with_module_order(["q_proj", "v_proj"]);
    let ckpt = ReferenceCheckpoint::read(&case_dir("l_sft_offset"), &opts).unwrap();
    assert_eq!(ckpt.module_order_source, ModuleOrderSource::Explicit);
    let hnet = import("l_sft_offset", &opts);
    assert_eq!(hnet.config().module_order, ["q_proj", "v_proj"]);
    let worst = worst_diff(&hnet, &exp, false).unwrap();
    assert!(
        worst > 1e-2,
        "the module order had no effect (max diff {worst})"
    );
}
