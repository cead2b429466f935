//! A synthetic task suite on disk, in the layout of `shared/data/tasks/`.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// Writes `tasks/index.json` and `tasks/NAME.{train,test}.jsonl.gz` under `root`: task `k`
/// answers every input with its own fixed word, so a LoRA can learn it in a few steps.
pub fn write_suite(root: &Path, n_tasks: usize, rows: usize) {
    let dir = root.join("tasks");
    std::fs::create_dir_all(&dir).unwrap();
    let words = ["yes", "no", "blue", "red", "cat", "dog", "sun", "moon"];
    let mut index = Vec::new();
    for k in 0..n_tasks {
        let name = format!("task{k}");
        let answer = words[k % words.len()];
        for (split, n) in [("train", rows), ("test", rows / 4 + 1)] {
            let f = std::fs::File::create(dir.join(format!("{name}.{split}.jsonl.gz"))).unwrap();
            let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            for i in 0..n {
                let input = format!(
                    "q{} {}",
                    i * 7 % 13,
                    "abcdefgh".chars().nth((i + k) % 8).unwrap()
                );
                let row = serde_json::json!({"input": input, "output": answer});
                writeln!(gz, "{row}").unwrap();
            }
            gz.finish().unwrap();
        }
        index.push(serde_json::json!({
            "name": name, "kind": "short_answer", "n_train": rows, "n_test": rows / 4 + 1,
            "descriptions": [format!("say {answer}"), format!("always answer {answer}")],
            "eval_descriptions": [format!("reply {answer}")],
            "split_role": if k + 1 == n_tasks { "heldout" } else { "train" },
        }));
    }
    std::fs::write(
        dir.join("index.json"),
        serde_json::Value::Array(index).to_string(),
    )
    .unwrap();
}
