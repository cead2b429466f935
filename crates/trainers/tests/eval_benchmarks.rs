//! Every benchmark's evaluation split loads with the paper's template, and the reference's
//! parsing scores its gold answer correct and a wrong answer incorrect (skipped without the data).

use trainers::eval::benchmark::{AnswerKind, Benchmark, Gold, load_eval};
use trainers::eval::descriptions::{DescriptionSet, descriptions};
use trainers::eval::protocol::judge_reply;

fn root() -> Option<std::path::PathBuf> {
    trainers::data::tasks::data_root().ok()
}

#[test]
fn every_benchmark_loads_with_gold_answers_that_parse() {
    let Some(root) = root() else { return };
    // (benchmark, rows in the split file, rows the 4-choice template cannot show)
    let expected = [
        (Benchmark::ArcChallenge, 1172, 7),
        (Benchmark::ArcEasy, 2376, 11),
        (Benchmark::Boolq, 3270, 0),
        (Benchmark::Gsm8k, 1319, 0),
        (Benchmark::Hellaswag, 10042, 0),
        (Benchmark::Openbookqa, 500, 0),
        (Benchmark::Piqa, 1838, 0),
        (Benchmark::Winogrande, 1267, 0),
        (Benchmark::Humaneval, 164, 0),
        (Benchmark::Mbpp, 500, 0),
    ];
    for (b, rows, skipped) in expected {
        let set = load_eval(&root, b).unwrap();
        assert_eq!(
            (set.examples.len() + set.skipped, set.skipped),
            (rows, skipped),
            "{b}"
        );
        for ex in set.examples.iter().take(200) {
            match (b.answer_kind(), &ex.gold) {
                (AnswerKind::Code, Gold::Code(task)) => {
                    assert!(ex.prompt.contains("```python"), "{b}: {}", ex.prompt);
                    assert!(!task.test.trim().is_empty());
                }
                (AnswerKind::Number, Gold::Number(n)) => {
                    assert!(judge_reply(b, ex, &format!("so the answer is {n}")).1);
                    assert!(!judge_reply(b, ex, &format!("{}", n + 1.0)).1);
                }
                (_, Gold::Choice(k)) => {
                    let right = &ex.choices[*k];
                    let wrong = &ex.choices[(*k + 1) % ex.choices.len()];
                    assert!(judge_reply(b, ex, right).1, "{b} row {}: {right}", ex.row);
                    assert!(!judge_reply(b, ex, wrong).1, "{b} row {}: {wrong}", ex.row);
                    assert!(!judge_reply(b, ex, "").1);
                }
                other => panic!("{b}: unexpected gold {other:?}"),
            }
        }
    }
}

#[test]
fn prompts_follow_listing_4() {
    let Some(root) = root() else { return };
    let arc = load_eval(&root, Benchmark::ArcEasy).unwrap();
    let p = &arc.examples[0].prompt;
    assert!(p.starts_with("Answer the question below by choosing the correct choice.\n\n"));
    assert!(p.contains("\n\nA: ") && p.contains("\nD: "));
    assert!(p.ends_with("You must respond with the letter corresponding to the correct choice without any explanation."));
    let wg = load_eval(&root, Benchmark::Winogrande).unwrap();
    assert!(
        wg.examples[0]
            .prompt
            .contains("\n\nOption 1: Sarah\n\nOption 2: Maria\n\n")
    );
    assert_eq!(wg.examples[0].choices, vec!["1", "2"]);
    let bq = load_eval(&root, Benchmark::Boolq).unwrap();
    assert!(
        bq.examples[0]
            .prompt
            .ends_with("?\n\nPlease answer with either `true` or `false` without any explanation.")
    );
    assert_eq!(bq.examples[0].gold_text, "False");
    assert_eq!(bq.examples[0].choices, vec!["true", "false"]);
    let gsm = load_eval(&root, Benchmark::Gsm8k).unwrap();
    assert!(
        gsm.examples[0]
            .prompt
            .starts_with("Please answer the following question: Janet")
    );
    assert!(gsm.examples[0].prompt.ends_with("\n\n"));
    assert_eq!(gsm.examples[0].gold, Gold::Number(18.0));
    assert_eq!(Benchmark::Gsm8k.prefill(), "Let's think step by step.");
    let piqa = load_eval(&root, Benchmark::Piqa).unwrap();
    assert!(
        piqa.examples[0]
            .prompt
            .contains("more common.\n\n\"\"\"How do I ready a guinea pig")
    );
    let hs = load_eval(&root, Benchmark::Hellaswag).unwrap();
    assert!(
        hs.examples[0]
            .prompt
            .contains("Passage: A man is sitting on a roof. he\n\n0: ")
    );
    assert_eq!(hs.examples[0].gold, Gold::Choice(3));
}

#[test]
fn description_sets() {
    let Some(root) = root() else { return };
    let tasks = root.join("tasks");
    let b = Benchmark::ArcEasy;
    assert_eq!(
        descriptions(&tasks, b, DescriptionSet::Train, 0)
            .unwrap()
            .len(),
        1
    );
    let eval = descriptions(&tasks, b, DescriptionSet::Eval, 0).unwrap();
    assert_eq!(eval.len(), 3);
    let random = descriptions(&tasks, b, DescriptionSet::Random, 0).unwrap();
    assert_eq!(random[0], "dogs;cats;bananas;");
    let other = descriptions(&tasks, b, DescriptionSet::Other, 0).unwrap();
    assert_eq!(
        other,
        descriptions(&tasks, b, DescriptionSet::Other, 0).unwrap()
    );
    let own = descriptions(&tasks, b, DescriptionSet::Train, 0).unwrap();
    assert!(other.iter().all(|d| !eval.contains(d) && !own.contains(d)));
}
