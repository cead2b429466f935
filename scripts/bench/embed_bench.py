#!/usr/bin/env python3
"""Sentences/s of all-MiniLM-L6-v2: sentence-transformers (torch, CPU) next to text-embed
(`crates/text-embed/examples/embed_bench.rs`, burn flex), same texts, same thread count.

Writes the texts to a JSON file, times sentence-transformers at batch 1 and batch 32 (one warm-up,
best of --repeats), then runs the Rust example on the same file with RAYON_NUM_THREADS=--threads
and prints both results as a table.

Run from the repository root:  python3 scripts/bench/embed_bench.py --threads 2
"""
import argparse
import json
import os
import random
import subprocess
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))

TOPICS = ["grade-school arithmetic", "world history", "organic chemistry", "Rust programming",
          "English poetry", "legal contracts", "medical triage", "sports statistics"]
VERBS = ["Answer", "Solve", "Classify", "Summarise", "Explain", "Translate", "Check"]


def make_texts(n, seed=0):
    """T2L-like task descriptions of 8 to 40 words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(VERBS), "questions", "about", rng.choice(TOPICS)]
        filler = "with short precise answers checked against a reference solution and careful reasoning".split()
        words += [rng.choice(filler) for _ in range(rng.randint(4, 36))]
        out.append(" ".join(words) + ".")
    return out


def best_rate(fn, n, repeats):
    """(sentences per wall second, sentences per CPU second) of the fastest of `repeats` passes."""
    fn()
    wall, cpu = min(timed(fn) for _ in range(repeats))
    return n / wall, n / max(cpu, 1e-9)


def timed(fn):
    """Wall and process CPU seconds (all threads) of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--single", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--texts-file", default="/tmp/embed_bench_texts.json")
    ap.add_argument("--rust-bin", default=None,
                    help="prebuilt embed_bench binary (default: cargo run --release)")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    texts = make_texts(args.texts)
    with open(args.texts_file, "w") as f:
        json.dump(texts, f)
    model_dir = os.path.join(ASSETS, "all-minilm-l6-v2")
    model = SentenceTransformer(model_dir, device="cpu")
    single = texts[: args.single]
    with torch.inference_mode():
        b1 = best_rate(lambda: [model.encode([t], batch_size=1) for t in single], len(single), args.repeats)
        b32 = best_rate(lambda: model.encode(texts, batch_size=32), len(texts), args.repeats)
    st = {"impl": f"sentence-transformers {__import__('sentence_transformers').__version__} "
                  f"(torch {torch.__version__})",
          "batch1_sentences_per_s": b1[0], "batch32_sentences_per_s": b32[0],
          "batch1_sentences_per_cpu_s": b1[1], "batch32_sentences_per_cpu_s": b32[1]}

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    rust_args = ["--model", model_dir, "--texts", args.texts_file, "--single", str(args.single),
                 "--repeats", str(args.repeats)]
    cmd = ([args.rust_bin] if args.rust_bin else
           ["cargo", "run", "--quiet", "--release", "-p", "text-embed", "--example", "embed_bench", "--"])
    out = subprocess.run(cmd + rust_args, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    rust = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"all-MiniLM-L6-v2, CPU, {args.threads} threads, {len(texts)} texts "
          f"(batch 1 over the first {len(single)})")
    print(f"load average before/after: {load0} / {os.getloadavg()}")
    print(f"{'implementation':50s} {'batch 1':>9s} {'batch 32':>9s} {'b1 /cpu-s':>10s} {'b32 /cpu-s':>11s}")
    for r in (st, rust):
        print(f"{r['impl']:50s} {r['batch1_sentences_per_s']:9.1f} {r['batch32_sentences_per_s']:9.1f} "
              f"{r['batch1_sentences_per_cpu_s']:10.1f} {r['batch32_sentences_per_cpu_s']:11.1f}")
    print("(sentences per wall-clock second, then per CPU second of the process, all threads)")


if __name__ == "__main__":
    main()
