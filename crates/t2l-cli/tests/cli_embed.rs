//! End-to-end tests of `t2l embed` on the real all-MiniLM-L6-v2.

use std::process::Command;

mod common;
use common::{asset, minilm};

fn t2l() -> Command {
    Command::new(env!("CARGO_BIN_EXE_t2l"))
}

#[test]
fn embed_json_gives_a_list_of_vectors_and_the_cosine_of_two_texts() {
    let out = t2l()
        .args(["embed", "--json", "--model"])
        .arg(minilm())
        .args([
            "--text",
            "A man is eating food.",
            "--text",
            "A man is eating a piece of bread.",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dim"], 384);
    let rows = v["embeddings"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let row: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(row.len(), 384);
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let cos = v["cosine_similarity"].as_f64().unwrap();
    assert!((cos - 0.7553).abs() <= 1e-3, "cosine {cos}");
}

#[test]
fn embed_text_output_and_task_scaling() {
    let out = t2l()
        .args(["embed", "--task", "--model"])
        .arg(minilm())
        .args(["--text", "Solve math word problems"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("t2l(bert:all-minilm-l6-v2@"), "{header}");
    assert!(header.ends_with("(dim 384)"), "{header}");
    let line = lines.next().unwrap();
    let values = line
        .split_once(": [")
        .unwrap()
        .1
        .trim_end_matches(']')
        .split(", ")
        .map(|x| x.parse::<f64>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(values.len(), 384);
    let norm = values.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 384f64.sqrt()).abs() < 1e-3, "norm {norm}");
    // one text: no cosine line
    assert!(!stdout.contains("cosine"));
}

#[test]
fn embed_refuses_a_missing_model_and_unsupported_architecture_in_one_line() {
    let out = t2l()
        .args(["embed", "--model", "/nonexistent/model", "--text", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model: no such model"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architectures": ["NewModel"], "model_type": "new"}"#,
    )
    .unwrap();
    let out = t2l()
        .args(["embed", "--model"])
        .arg(dir.path())
        .args(["--text", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported architecture `NewModel`"), "{err}");
}

#[test]
fn embed_with_a_gguf_llm_as_encoder() {
    let gguf = asset("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut dims = Vec::new();
    for pooling in ["last", "mean"] {
        let out = t2l()
            .args(["embed", "--json", "--pooling", pooling, "--model"])
            .arg(&gguf)
            .args([
                "--text",
                "Solve grade-school math word problems.",
                "--text",
                "Translate English sentences into French.",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = v["id"].as_str().unwrap();
        let tag = if pooling == "last" {
            ":last:"
        } else {
            ":mean:"
        };
        assert!(
            id.starts_with("llm:SmolLM2-135M-Instruct.Q4_1") && id.contains(tag),
            "{id}"
        );
        let cos = v["cosine_similarity"].as_f64().unwrap();
        assert!(cos > -1.0 && cos < 1.0, "{cos}");
        dims.push(v["dim"].as_u64().unwrap());
    }
    assert_eq!(dims, vec![576, 576]);
}
