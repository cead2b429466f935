//! Both protocols and every condition on a tiny random Llama (byte-level tokens): the same run
//! twice gives identical records, adapters change the numbers and leave the base untouched,
//! T2L rows average over every description of their set, input-conditioned rows use one
//! adapter per example generated from its prompt, and stopping choice replies at their first
//! letter or digit judges them as the full replies (skipped without the benchmark data).

use std::cell::RefCell;

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
            Method::InputConditioned {
                name: "per-input".into(),
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
    assert_eq!(a.scores.len(), 6 * (3 + 2));
    assert!(
        a.records
            .iter()
            .filter(|r| r.method == "per-input (per-input adapters)")
            .all(|r| r.description.is_none())
    );
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
    assert!(!a.model.is_empty() && a.markdown(Protocol::Loglik).lines().count() == 2 + 6);
}

#[test]
fn input_conditioned_rows_use_each_examples_own_adapter() {
    let Ok(root) = trainers::data::tasks::data_root() else {
        return;
    };
    let mut model = tiny_model();
    let seen = RefCell::new(Vec::new());
    let per_input = |prompt: &str| -> trainers::Result<LoraAdapter<B>> {
        seen.borrow_mut().push(prompt.to_string());
        Ok(adapter(&tiny_model(), prompt.len() as u64))
    };
    let benchmarks = [Benchmark::ArcEasy];
    let opts = EvalOptions {
        protocols: vec![Protocol::Loglik],
        ..options()
    };
    let report = Evaluator::new(&mut model, &ByteEncoder, root.clone(), opts.clone())
        .run(
            "tiny",
            &benchmarks,
            &[Method::InputConditioned {
                name: "hd".into(),
                generate: &per_input,
            }],
        )
        .unwrap();
    // One adapter per evaluated example, from its prompt, in example order.
    let set = trainers::eval::benchmark::load_eval(&root, Benchmark::ArcEasy).unwrap();
    let keep = trainers::eval::benchmark::subsample(set.examples.len(), opts.limit, opts.seed);
    let prompts: Vec<String> = keep
        .iter()
        .map(|&i| set.examples[i].prompt.clone())
        .collect();
    assert_eq!(*seen.borrow(), prompts);
    assert_eq!(report.records.len(), prompts.len());
    assert_eq!(report.methods, vec!["hd (per-input adapters)".to_string()]);
    // Each record equals that example's record under its own adapter merged for the whole run.
    for (i, &k) in keep.iter().enumerate() {
        let row = set.examples[k].row;
        let own = adapter(&tiny_model(), prompts[i].len() as u64);
        let whole = Evaluator::new(&mut model, &ByteEncoder, root.clone(), opts.clone())
            .run(
                "tiny",
                &benchmarks,
                &[Method::Adapter {
                    name: "own".into(),
                    adapter: &own,
                }],
            )
            .unwrap();
        let want = whole.records.iter().find(|r| r.row == row).unwrap();
        let got = &report.records[i];
        assert_eq!(got.row, row);
        assert_eq!(got.prediction, want.prediction);
        let (g, w) = (
            got.choice_logprobs.as_ref().unwrap(),
            want.choice_logprobs.as_ref().unwrap(),
        );
        assert!(
            g.iter().zip(w).all(|(x, y)| (x - y).abs() < 1e-4),
            "{g:?} vs {w:?}"
        );
    }
}

#[test]
fn choice_replies_stopped_at_their_first_letter_are_judged_as_full_replies() {
    let Ok(root) = trainers::data::tasks::data_root() else {
        return;
    };
    let mut model = tiny_model();
    let shifted = adapter(&model, 7);
    let run = |model: &mut base_llm::Llama<B>, stop_at_choice| {
        let opts = EvalOptions {
            protocols: vec![Protocol::Generate],
            max_new_tokens: 12,
            limit: Some(6),
            stop_at_choice,
            ..options()
        };
        Evaluator::new(model, &ByteEncoder, root.clone(), opts)
            .run(
                "tiny",
                &BENCHMARKS,
                &[
                    Method::Base,
                    Method::Adapter {
                        name: "shifted".into(),
                        adapter: &shifted,
                    },
                ],
            )
            .unwrap()
    };
    let short = run(&mut model, true);
    let full = run(&mut model, false);
    assert_eq!(short.records.len(), full.records.len());
    assert_eq!(short.scores, full.scores);
    let mut shorter = 0;
    for (s, f) in short.records.iter().zip(&full.records) {
        assert_eq!(
            (s.row, s.correct, &s.prediction),
            (f.row, f.correct, &f.prediction)
        );
        let (rs, rf) = (s.reply.as_ref().unwrap(), f.reply.as_ref().unwrap());
        if s.benchmark == Benchmark::Gsm8k {
            assert_eq!(rs, rf, "GSM8K replies are not cut");
        } else {
            assert!(rs.chars().count() <= rf.chars().count(), "{rs:?} vs {rf:?}");
            shorter += usize::from(rs.chars().count() < rf.chars().count());
        }
    }
    let replies: Vec<_> = full.records.iter().map(|r| r.reply.clone()).collect();
    assert!(shorter > 0, "no choice reply was cut: {replies:?}");
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
