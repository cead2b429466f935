//! Sentences per second of all-MiniLM-L6-v2 on the flex CPU backend, batch 1 and batch 32.
//!
//! The side-by-side reference is `scripts/bench/embed_bench.py`, which writes the texts, times
//! sentence-transformers on them and runs this program on the same file:
//!
//! ```text
//! python3 scripts/bench/embed_bench.py --threads 2          # both, one table
//! RAYON_NUM_THREADS=2 cargo run --release -p text-embed --example embed_bench -- \
//!     --model assets/all-minilm-l6-v2 --texts /tmp/embed_bench_texts.json
//! ```
//!
//! Protocol: one warm-up pass, then the best of `--repeats` passes over the texts; batch 1 embeds
//! the first `--single` texts one call each, batch 32 embeds all texts in calls of 32. Prints one
//! JSON line: sentences per wall-clock second and per CPU second (user + system over all threads;
//! less sensitive to other processes on a shared machine).

use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Flex;
use text_embed::{BertEmbedder, TextEmbedder};

type B = Flex;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// CPU seconds (user + system, all threads) this process has used: `/proc/self/stat` fields 14
/// and 15 in clock ticks (USER_HZ = 100 on Linux); 0 elsewhere.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name (which may contain spaces).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Best-of-`repeats` pass over `texts` in calls of `batch`: (sentences per wall second,
/// sentences per CPU second) of the fastest pass.
fn throughput(e: &BertEmbedder<B>, texts: &[&str], batch: usize, repeats: usize) -> (f64, f64) {
    let pass = || {
        let (t, c) = (Instant::now(), cpu_seconds());
        for chunk in texts.chunks(batch) {
            let v = e.embed(chunk).expect("embeds");
            // Wait for the values (backends may be lazy).
            let _ = v.into_data();
        }
        (t.elapsed().as_secs_f64(), cpu_seconds() - c)
    };
    pass();
    let (wall, cpu) = (0..repeats)
        .map(|_| pass())
        .fold(
            (f64::INFINITY, 0.0),
            |best, p| if p.0 < best.0 { p } else { best },
        );
    let n = texts.len() as f64;
    (n / wall, n / cpu.max(1e-9))
}

fn main() {
    let model = arg("--model")
        .map(PathBuf::from)
        .unwrap_or_else(|| base_llm::assets::assets_dir().join(base_llm::assets::MINILM_DIR));
    let repeats: usize = arg("--repeats").and_then(|r| r.parse().ok()).unwrap_or(3);
    let single: usize = arg("--single").and_then(|r| r.parse().ok()).unwrap_or(64);
    let texts: Vec<String> = match arg("--texts") {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(&p).expect("reads --texts"))
            .expect("--texts is a JSON list of strings"),
        None => (0..256)
            .map(|i| {
                format!(
                    "Task {i}: answer questions about {} with short, precise sentences.",
                    ["arithmetic", "history", "chemistry", "Rust code", "poetry"][i % 5]
                )
            })
            .collect(),
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let e = BertEmbedder::<B>::load(&model, &Default::default())
        .expect("loads the model")
        .with_batch_size(32);
    let (b1, b1_cpu) = throughput(&e, &refs[..single.min(refs.len())], 1, repeats);
    let (b32, b32_cpu) = throughput(&e, &refs, 32, repeats);
    println!(
        "{{\"impl\": \"text-embed (burn flex)\", \"threads\": \"{}\", \"texts\": {}, \"batch1_sentences_per_s\": {b1:.1}, \"batch32_sentences_per_s\": {b32:.1}, \"batch1_sentences_per_cpu_s\": {b1_cpu:.1}, \"batch32_sentences_per_cpu_s\": {b32_cpu:.1}}}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into()),
        refs.len()
    );
}
