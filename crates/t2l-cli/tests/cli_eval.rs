//! `t2l eval`: a smoke run on the real SmolLM2-135M-Instruct GGUF (all three protocols, 5
//! examples of two benchmarks, results files, nothing on stderr with --quiet), and one-line
//! errors with a non-zero exit (mistyped benchmark / protocol / cloze prompt, missing model,
//! a directory that is no adapter, an adapter of another model).

use serde_json::Value;

mod common;
use common::{one_line_error, smollm2_gguf as gguf, t2l};

#[test]
fn smollm2_smoke_all_protocols() {
    if trainers::data::tasks::data_root().is_err() {
        return; // benchmark data not on this machine
    }
    let model = gguf();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("res");
    let out = t2l(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--benchmarks",
        "arc_easy,piqa",
        "--limit",
        "5",
        "--protocol",
        "all",
        "--max-new-tokens",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "--quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scores = summary["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 6, "{summary}");
    for s in scores {
        assert_eq!(s["n"], 5);
        let acc = s["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        // Only the cloze protocol has the second (total log-probability) number.
        assert_eq!(s["protocol"] == "cloze", s["accuracy_sum"].is_f64(), "{s}");
    }
    let tables: Vec<&str> = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tables.len(), 4, "generate, loglik, cloze, cloze (sum)");
    assert!(tables[0].contains("| base model |"));
    assert!(tables[3].starts_with("| cloze (sum) | ArcE | PIQA | Avg. |"));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    let records = results["records"].as_array().unwrap();
    assert_eq!(records.len(), 30);
    assert!(records.iter().any(|r| r["reply"].is_string()));
    assert!(records.iter().any(|r| r["choice_logprobs"].is_array()));
    for r in records.iter().filter(|r| r["protocol"] == "cloze") {
        let lp = r["choice_logprobs"].as_array().unwrap();
        assert_eq!(lp.len(), r["choice_chars"].as_array().unwrap().len());
        assert!(r["correct_sum"].is_boolean());
    }
    assert!(out_dir.join("results.md").is_file());
}

#[test]
fn mistakes_are_one_line_errors() {
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        "nowhere.gguf",
        "--benchmarks",
        "arc_esay",
    ]));
    assert!(
        err.contains("arc_esay") && err.contains("arc_easy"),
        "{err}"
    );
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        "nowhere.gguf",
        "--benchmarks",
        "boolq",
    ]));
    assert!(err.contains("nowhere.gguf"), "{err}");
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        "nowhere.gguf",
        "--benchmarks",
        "boolq",
        "--protocol",
        "logprob",
    ]));
    assert!(err.contains("logprob") && err.contains("cloze"), "{err}");
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        "nowhere.gguf",
        "--benchmarks",
        "boolq",
        "--protocol",
        "cloze",
        "--cloze-prompt",
        "template",
    ]));
    assert!(
        err.contains("template") && err.contains("raw or chat"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        gguf().to_str().unwrap(),
        "--benchmarks",
        "boolq",
        "--adapter",
        dir.path().to_str().unwrap(),
    ]));
    assert!(err.contains("not a PEFT adapter directory"), "{err}");
    // A PEFT adapter made for another (tiny) model.
    let tiny = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lora-core/tests/fixtures/peft_tiny");
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        gguf().to_str().unwrap(),
        "--benchmarks",
        "boolq",
        "--adapter",
        tiny.to_str().unwrap(),
    ]));
    assert!(err.contains("adapter does not fit the model"), "{err}");
    // A T2L checkpoint made for another model (3 layers).
    let ckpt = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hypermod/tests/fixtures/reference/s_sft");
    let err = one_line_error(&t2l(&[
        "eval",
        "--model",
        gguf().to_str().unwrap(),
        "--benchmarks",
        "boolq",
        "--t2l",
        ckpt.to_str().unwrap(),
    ]));
    assert!(err.contains("adapter does not fit the model"), "{err}");
}

#[test]
fn help_has_examples() {
    let out = t2l(&["eval", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:")
            && help.contains("--benchmarks")
            && help.contains("--protocol")
            && help.contains("cloze")
            && help.contains("--cloze-prompt")
    );
}
