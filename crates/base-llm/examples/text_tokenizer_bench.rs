//! Tokenizer throughput on the SmolLM2-135M-Instruct GGUF: rebuild time from the metadata, then
//! encode and decode speed on a mixed text (prose, code, digits, accents, CJK, emoji) of about
//! `--kib` KiB, best of `--repeats`. Prints one JSON line.
//!
//! ```text
//! cargo run --release -p base-llm --example text_tokenizer_bench -- [--kib 256] [--repeats 5]
//! ```
//!
//! The same text through transformers' tokenizer (for a side-by-side ratio) is measured by
//! `scripts/golden/smollm2_tokenizer.py --bench`.

use std::time::Instant;

use base_llm::Tokenizer;
use base_llm::loading::gguf::GgufFile;

/// The text both this program and the Python side repeat to the requested size.
pub const SAMPLE: &str = "The capital of France is Paris. In 2024, 3.14159 * 42 = 131.947.\n\
def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\
Café, naïve, Zürich; 東京は日本の首都です。 Emoji: 😀🎉 <|im_start|>user\nHi<|im_end|>\n";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, out)
}

fn main() -> base_llm::Result<()> {
    let kib = arg("--kib", 256);
    let repeats = arg("--repeats", 5).max(1);
    let gguf = base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF)?;

    let t = Instant::now();
    let file = GgufFile::open(&gguf)?;
    let open_seconds = t.elapsed().as_secs_f64();
    let (build_seconds, tok) = best(repeats, || Tokenizer::from_gguf(&file.metadata));
    let tok = tok?;

    let text = SAMPLE.repeat((kib * 1024).div_ceil(SAMPLE.len()));
    let (encode_seconds, ids) = best(repeats, || tok.encode(&text, false));
    let ids = ids?;
    let (decode_seconds, back) = best(repeats, || tok.decode(&ids, false));
    assert_eq!(back?, text, "round trip");
    // Short prompts: the per-call cost generation pays.
    let short =
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let (short_seconds, _) = best(repeats, || {
        for _ in 0..1000 {
            let _ = tok.encode(short, false);
        }
    });

    println!(
        "{{\"bytes\": {}, \"tokens\": {}, \"gguf_open_seconds\": {:.4}, \"build_seconds\": {:.4}, \
         \"encode_mb_per_s\": {:.2}, \"encode_tokens_per_s\": {:.0}, \"decode_tokens_per_s\": {:.0}, \
         \"short_prompt_encode_us\": {:.1}}}",
        text.len(),
        ids.len(),
        open_seconds,
        build_seconds,
        text.len() as f64 / encode_seconds / 1e6,
        ids.len() as f64 / encode_seconds,
        ids.len() as f64 / decode_seconds,
        short_seconds / 1000.0 * 1e6,
    );
    Ok(())
}
