//! The choice-text (cloze) protocol and the one-forward label path on a tiny random Llama with
//! byte-level tokens: the scores are the continuation log-probabilities that
//! `Llama::score` gives for hand-built token pairs, the per-character normalisation picks what a
//! hand computation picks, WinoGrande scores the shared suffix after each substituted option,
//! runs repeat bit for bit, and one forward per prompt gives the per-label numbers.

use burn::backend::Flex;
use trainers::data::encode::ByteEncoder;
use trainers::eval::benchmark::Benchmark;
use trainers::eval::cloze::{ClozeChoice, ClozePrompt, cloze_choices, cloze_logprobs, per_char};
use trainers::eval::codec::EvalCodec;
use trainers::eval::protocol::{Protocol, label_logprobs_one_forward, label_logprobs_per_label};
use trainers::eval::runner::{EvalOptions, Evaluator, Method};
use trainers::model_source::ModelSource;

type B = Flex;

fn tiny_model() -> base_llm::Llama<B> {
    let src = ModelSource::TinyRandom {
        seed: 11,
        layers: 2,
        hidden: 16,
    };
    src.load::<B>(&Default::default()).unwrap().0
}

fn bytes(s: &str) -> Vec<u32> {
    ByteEncoder.encode_text(s).unwrap()
}

/// `Σ log p(continuation | context)` straight from `Llama::score`, one pair at a time.
fn direct(model: &base_llm::Llama<B>, context: Vec<u32>, continuation: Vec<u32>) -> f64 {
    model
        .score(&[(context, continuation)], base_llm::Adapters::None)
        .unwrap()[0]
        .sum_logprob
}

fn choice(context: &str, continuation: &str) -> ClozeChoice {
    ClozeChoice {
        context: context.into(),
        continuation: continuation.into(),
    }
}

#[test]
fn raw_and_chat_scores_are_the_continuation_logprobs_and_normalise_per_character() {
    let model = tiny_model();
    let q = "Question: Which is a colour?\nAnswer:";
    let choices = [choice(q, "red"), choice(q, "a shade of blue-green")];
    let raw = cloze_logprobs(&model, &ByteEncoder, ClozePrompt::Raw, &[""], &[&choices]).unwrap();
    let r = &raw[0];
    assert_eq!(r.chars, vec![3, 21]);
    assert_eq!(r.prompt_tokens, q.len());
    for (k, c) in choices.iter().enumerate() {
        // Raw: plain bytes, " " + continuation; same forward in a batch of one → tolerance 1e-4
        // for the different padding of the two-row batch.
        let d = direct(&model, bytes(q), bytes(&format!(" {}", c.continuation)));
        assert!((r.sums[k] - d).abs() < 1e-4, "{} vs {d}", r.sums[k]);
    }
    // Hand check of the normalisation: per character = sum / chars, and the pick follows it.
    let norm = r.per_char();
    assert_eq!(norm[0], r.sums[0] / 3.0);
    assert_eq!(norm[1], r.sums[1] / 21.0);
    assert_eq!(per_char(-6.0, 3), -2.0);
    // The longer text has a much lower total (21 bytes vs 3 of a random byte model), yet can
    // win per character; the sum criterion always prefers the short one here.
    assert!(r.sums[1] < r.sums[0]);

    // Chat: the context is the user turn (ByteEncoder: [1] user [1]), the continuation follows.
    let chat = cloze_logprobs(
        &model,
        &ByteEncoder,
        ClozePrompt::Chat,
        &["Pick one."],
        &[&choices],
    )
    .unwrap();
    let user = format!("Pick one.\n\n{q}");
    let prompt = ByteEncoder.prompt_ids(&user, "").unwrap();
    assert_eq!(chat[0].prompt_tokens, prompt.len());
    let d = direct(&model, prompt, bytes("red"));
    assert!((chat[0].sums[0] - d).abs() < 1e-4);
}

#[test]
fn winogrande_scores_the_shared_suffix_after_each_option() {
    let model = tiny_model();
    let row = serde_json::json!({
        "sentence": "The trophy did not fit in the suitcase because _ was too big.",
        "option1": "the trophy", "option2": "the suitcase", "answer": "1"
    });
    let choices = cloze_choices(Benchmark::Winogrande, &row, "row").unwrap();
    let scored =
        cloze_logprobs(&model, &ByteEncoder, ClozePrompt::Raw, &[""], &[&choices]).unwrap();
    let s = &scored[0];
    assert_eq!(s.chars, vec!["was too big.".len(); 2]);
    let prefix = "The trophy did not fit in the suitcase because ";
    for (k, option) in ["the trophy", "the suitcase"].iter().enumerate() {
        let d = direct(
            &model,
            bytes(&format!("{prefix}{option}")),
            bytes(" was too big."),
        );
        assert!(
            (s.sums[k] - d).abs() < 1e-4,
            "option {k}: {} vs {d}",
            s.sums[k]
        );
    }
    // Same suffix: per character and sum criteria agree.
    let by_norm = trainers::eval::protocol::argmax(&s.per_char());
    let by_sum = trainers::eval::protocol::argmax(&s.sums);
    assert_eq!(by_norm, by_sum);
    assert_ne!(
        s.sums[0], s.sums[1],
        "the option must change the suffix's score"
    );
}

#[test]
fn one_forward_labels_match_per_label_scoring() {
    let model = tiny_model();
    // Prompts of different lengths (padding) and label sets of different sizes.
    let users = vec![
        "Answer A or B.".to_string(),
        "A much longer prompt that needs padding in the batch: pick 0, 1, 2 or 3.".to_string(),
        "true or false?".to_string(),
    ];
    let abcd: Vec<String> = ["A", "B", "C", "D"].map(String::from).to_vec();
    let digits: Vec<String> = ["0", "1", "2", "3"].map(String::from).to_vec();
    let tf: Vec<String> = ["t", "f"].map(String::from).to_vec();
    let choices: Vec<&[String]> = vec![&abcd, &digits, &tf];
    let fast = label_logprobs_one_forward(&model, &ByteEncoder, &users, &choices).unwrap();
    let slow = label_logprobs_per_label(&model, &ByteEncoder, &users, &choices).unwrap();
    assert_eq!(fast.len(), 3);
    let mut worst = 0.0f64;
    for ((fl, f), (sl, s)) in fast.iter().zip(&slow) {
        assert_eq!(fl, sl, "prompt lengths");
        assert_eq!(f.len(), s.len());
        for (a, b) in f.iter().zip(s) {
            // Same math, different batch shapes (padding): agreement to 1e-4 nats.
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("one forward vs per label: max |Δ log p| = {worst:e}");
    // Multi-token labels are refused by the one-forward path (the dispatcher then uses the
    // per-label path).
    let long: Vec<String> = vec!["true".into(), "false".into()];
    assert!(label_logprobs_one_forward(&model, &ByteEncoder, &users[..1], &[&long]).is_err());
}

#[test]
fn cloze_runs_are_deterministic_with_sum_and_norm_numbers() {
    let Ok(root) = trainers::data::tasks::data_root() else {
        return; // benchmark data not on this machine
    };
    let options = EvalOptions {
        protocols: vec![Protocol::Cloze],
        limit: Some(3),
        seed: 2,
        batch_size: 2,
        ..EvalOptions::default()
    };
    let benchmarks = [Benchmark::ArcEasy, Benchmark::Winogrande, Benchmark::Boolq];
    let run = |model: &mut base_llm::Llama<B>| {
        Evaluator::new(model, &ByteEncoder, root.clone(), options.clone())
            .run("tiny", &benchmarks, &[Method::Base, Method::KShot(1)])
            .unwrap()
    };
    let mut model = tiny_model();
    let a = run(&mut model);
    let b = run(&mut model);
    assert_eq!(a.records, b.records, "two runs differ");
    assert_eq!(a.scores.len(), 2 * 3);
    for s in &a.scores {
        assert_eq!(s.n, 3);
        assert!(s.accuracy_sum.is_some());
    }
    for r in &a.records {
        let lp = r.choice_logprobs.as_ref().unwrap();
        let chars = r.choice_chars.as_ref().unwrap();
        assert_eq!(lp.len(), chars.len());
        assert!(lp.iter().all(|x| x.is_finite() && *x < 0.0));
        // `correct` follows the per-character pick, `correct_sum` the total.
        let norm: Vec<f64> = lp
            .iter()
            .zip(chars)
            .map(|(&s, &c)| per_char(s, c))
            .collect();
        let k = trainers::eval::protocol::argmax(&norm);
        let k_sum = trainers::eval::protocol::argmax(lp);
        let labels: Vec<String> = match r.benchmark {
            Benchmark::Boolq => vec!["true".into(), "false".into()],
            Benchmark::Winogrande => vec!["1".into(), "2".into()],
            // ARC labels are letters, or digits in a few rows.
            _ if r.gold.starts_with(|c: char| c.is_ascii_digit()) => {
                ["1", "2", "3", "4"].map(String::from).to_vec()
            }
            _ => ["A", "B", "C", "D"].map(String::from).to_vec(),
        };
        assert_eq!(r.prediction.as_deref(), Some(labels[k].as_str()), "{r:?}");
        assert_eq!(r.correct, labels[k] == r.gold, "{r:?}");
        assert_eq!(r.correct_sum, Some(labels[k_sum] == r.gold), "{r:?}");
        if r.benchmark == Benchmark::Winogrande {
            assert_eq!(chars[0], chars[1], "WinoGrande's suffix is shared");
        }
    }
    // k-shot contexts (cloze form) lengthen the prompt.
    let len = |m: &str| {
        a.records
            .iter()
            .find(|r| r.method == m && r.benchmark == Benchmark::ArcEasy)
            .unwrap()
            .prompt_tokens
    };
    assert!(len("1-shot ICL") > len("base model"));
    let tables = a.markdown_tables();
    assert_eq!(tables.len(), 2);
    assert!(tables[1].starts_with("| cloze (sum) | ArcE | WG | BQ | Avg. |"));
}

#[test]
fn hellaswag_k_shot_reads_the_train_splits_schema() {
    let Ok(root) = trainers::data::tasks::data_root() else {
        return; // benchmark data not on this machine
    };
    // HellaSwag's train split has only `ctx` (no `activity_label`/`ctx_a`/`ctx_b`).
    let options = EvalOptions {
        protocols: vec![Protocol::Cloze],
        limit: Some(1),
        ..EvalOptions::default()
    };
    let mut model = tiny_model();
    let report = Evaluator::new(&mut model, &ByteEncoder, root, options)
        .run(
            "tiny",
            &[Benchmark::Hellaswag],
            &[Method::Base, Method::KShot(1)],
        )
        .unwrap();
    let tokens: Vec<usize> = report.records.iter().map(|r| r.prompt_tokens).collect();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[1] > tokens[0], "{tokens:?}");
}
