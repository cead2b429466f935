//! Both protocols and every condition on a tiny random Llama (byte-level tokens): the same run
//! twice gives identical records, adapters change the numbers and leave the base untouched,
//! T2L rows average over every description of their set (skipped without the benchmark data).

use burn::backend::Flex;
use lora_core::{LoraAdapter, LoraConfig};
use trainers::data::encode::ByteEncoder;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::descriptions::DescriptionSet;
use trainers::eval::protocol::Protocol;
use trainers::eval::report::EvalReport;
use trainers::eval::runner::{EvalOptions, Evaluator, Method};
use trainers::model_source::ModelSource;

type B = Flex;

fn tiny_model() -> base_llm::Llama<B> {
    let src = ModelSource::TinyRandom {
        seed: 3,
        layers: 2,
        hidden: 16,
    };
    src.load::<B>(&Default::default()).unwrap().0
}

fn adapter(model: &base_llm::Llama<B>, seed: u64) -> LoraAdapter<B> {
    let targets = vec!["q_proj".to_string(), "v_proj".to_string()];
    let layout = model.adapter_layout(&targets).unwrap();
    LoraAdapter::init_like_peft(
        LoraConfig::new(2, 16.0, targets),
        layout,
        &Default::default(),
        seed,
    )
    .map_tensors(|t| t.add_scalar(0.3))
}

fn options() -> EvalOptions {
    EvalOptions {
        protocols: vec![Protocol::Generate, Protocol::Loglik],
        limit: Some(3),
        seed: 5,
        batch_size: 2,
        max_new_tokens: 4,
        max_new_tokens_long: 6,
        ..EvalOptions::default()
    }
}

const BENCHMARKS: [Benchmark; 3] = [Benchmark::ArcEasy, Benchmark::Winogrande, Benchmark::Gsm8k];

fn run(model: &mut base_llm::Llama<B>, methods: &[Method<'_, B>]) -> EvalReport {
    let root = trainers::data::tasks::data_root().unwrap();
    Evaluator::new(model, &ByteEncoder, root, options())
        .run("tiny", &BENCHMARKS, methods)
        .unwrap()
}

#[test]
fn conditions_and_protocols_are_deterministic() {
    if trainers::data::tasks::data_root().is_err() {
        return;
    }
    let mut model = tiny_model();
    let peft = adapter(&model, 1);
    let gen_adapter = |d: &str| -> trainers::Result<LoraAdapter<B>> {
        Ok(adapter(&tiny_model(), d.len() as u64))
    };
    let methods = || {
        vec![
            Method::Base,
            Method::TaskDescription,
            Method::KShot(1),
            Method::Adapter {
                name: "random".into(),
                adapter: &peft,
            },
            Method::T2l {
                set: DescriptionSet::Random,
                generate: &gen_adapter,
            },
        ]
    };
    let a = run(&mut model, &methods());
    let b = run(&mut model, &methods());
    assert_eq!(a.records, b.records, "two runs differ");
    assert_eq!(a.scores, b.scores);

    // Loglik is skipped for GSM8K; every other cell has 3 examples, T2L ones 3 × 3 descriptions.
    for s in &a.scores {
        let per_desc = if s.method.starts_with("T2L") { 3 } else { 1 };
        assert_eq!(s.n, 3 * per_desc, "{s:?}");
        assert!(s.protocol == Protocol::Generate || s.benchmark != Benchmark::Gsm8k);
        assert!((0.0..=1.0).contains(&s.accuracy));
    }
    assert_eq!(a.scores.len(), 5 * (3 + 2));
    let t2l: Vec<_> = a
        .records
        .iter()
        .filter(|r| r.method.starts_with("T2L") && r.benchmark == Benchmark::ArcEasy)
        .collect();
    let descs: std::collections::BTreeSet<_> =
        t2l.iter().filter_map(|r| r.description.clone()).collect();
    assert_eq!(descs.len(), 3);

    // Loglik records hold one log-probability per label; the prediction is their arg-max.
    let base_ll: Vec<_> = a
        .records
        .iter()
        .filter(|r| r.method == "base model" && r.protocol == Protocol::Loglik)
        .collect();
    for r in &base_ll {
        let lp = r.choice_logprobs.as_ref().unwrap();
        assert_eq!(
            lp.len(),
            if r.benchmark == Benchmark::ArcEasy {
                4
            } else {
                2
            }
        );
        assert!(lp.iter().all(|x| x.is_finite() && *x < 0.0));
        assert!(r.prediction.is_some());
    }
    // The adapter changes the log-probabilities; the base rows after it are bit-identical.
    let adapted: Vec<_> = a
        .records
        .iter()
        .filter(|r| r.method == "adapter random" && r.protocol == Protocol::Loglik)
        .collect();
    assert_eq!(adapted.len(), base_ll.len());
    assert!(
        adapted
            .iter()
            .zip(&base_ll)
            .any(|(x, y)| x.choice_logprobs != y.choice_logprobs)
    );
    // Context conditions change the prompt length.
    let tokens = |m: &str| {
        a.records
            .iter()
            .find(|r| r.method == m && r.benchmark == Benchmark::ArcEasy)
            .unwrap()
            .prompt_tokens
    };
    assert!(tokens("base + task description") > tokens("base model"));
    assert!(tokens("1-shot ICL") > tokens("base model"));
    assert!(!a.model.is_empty() && a.markdown(Protocol::Loglik).lines().count() == 2 + 5);
}

#[test]
fn report_files_are_written() {
    if trainers::data::tasks::data_root().is_err() {
        return;
    }
    let mut model = tiny_model();
    let report = run(&mut model, &[Method::Base]);
    let dir = tempfile::tempdir().unwrap();
    report.write(dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["records"].as_array().unwrap().len(),
        report.records.len()
    );
    let md = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
    assert!(
        md.contains("| generate | ArcE | WG | GSM8K | Avg. |"),
        "{md}"
    );
    assert!(md.contains("| loglik | ArcE | WG | GSM8K | Avg. |"), "{md}");
}
