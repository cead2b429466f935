#!/usr/bin/env python3
"""Prefill and decode throughput of SmolLM2-135M-Instruct in Hugging Face transformers (CPU or CUDA,
f32/f16/bf16), the side-by-side reference for `cargo run -p base-llm --example smollm2_bench` and
for `t2l [--device cuda] bench prefill|decode [--precision f32|f16|bf16]` (same default lengths:
128 prompt tokens, 64 new tokens).

Requirements: torch, transformers, gguf. Offline: loads the GGUF in assets/ (dequantized to
`--dtype`, a plain dense model: `GgufConfig(dequantize=True)` so that transformers never keeps the
weights packed in GGUF blocks, then moved to `--device`).
Both programs feed the same token ids: the chat prompt of the golden fixture
(`crates/base-llm/tests/fixtures/model/smollm2_golden.json`) cycled to `--prompt-tokens`, then
greedy decoding of `--new-tokens` tokens with a KV cache (no early stop), batch 1.
`--random-weights` builds a random model of the same config instead (no GGUF needed; the pair of
`t2l bench prefill|decode --random-weights`, e.g. on a GPU machine without the assets).

Timing: the first run warms up (on CUDA: kernel selection, allocator); every timed region is
bracketed by `torch.cuda.synchronize()` on CUDA. Process CPU time is reported on CPU only.
Decode tokens/s counts the `new_tokens - 1` tokens after the one the prefill yields;
`*_tok_per_s` is the best run, `*_tok_per_s_median` the median run (what `t2l bench` reports).

Run from the repository root:  python3 scripts/bench/smollm2_bench.py --threads 2
On a GPU:  python3 scripts/bench/smollm2_bench.py --device cuda --dtype bfloat16 --json out.json
"""
import argparse
import json
import os
import resource
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bench_device import (DTYPES, ROOT, cpu_clock_meaningful, describe, load_smollm2,  # noqa: E402
                          pick_device, sync)

FIXTURE = os.path.join(ROOT, "crates", "base-llm", "tests", "fixtures", "model", "smollm2_golden.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up run")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                    help="dtype of the frozen base (t2l's --precision f32|f16|bf16)")
    ap.add_argument("--random-weights", action="store_true",
                    help="a random model of SmolLM2-135M's config instead of the GGUF (the pair of "
                         "`t2l bench ... --random-weights`)")
    ap.add_argument("--json", help="also write the result to this file")
    args = ap.parse_args()
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)

    base = json.load(open(FIXTURE))["prompts"][2]["input_ids"]
    ids = [base[i % len(base)] for i in range(args.prompt_tokens)]
    model = load_smollm2(DTYPES[args.dtype], device, args.random_weights).eval()

    best_prefill, best_decode = float("inf"), float("inf")
    cpu_prefill, cpu_decode = float("inf"), float("inf")
    prefills, decodes = [], []
    with torch.inference_mode():
        for run in range(args.repeats + 1):  # the first run warms up
            x = torch.tensor([ids], device=device)
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            out = model(x, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            sync(device)
            t1, c1 = time.perf_counter(), time.process_time()
            past = out.past_key_values
            for _ in range(args.new_tokens - 1):
                out = model(nxt, past_key_values=past, use_cache=True)
                past = out.past_key_values
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            sync(device)
            t2, c2 = time.perf_counter(), time.process_time()
            if run == 0:
                continue
            prefills.append(t1 - t0)
            decodes.append(t2 - t1)
            best_prefill = min(best_prefill, t1 - t0)
            best_decode = min(best_decode, t2 - t1)
            cpu_prefill, cpu_decode = min(cpu_prefill, c1 - c0), min(cpu_decode, c2 - c1)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "impl": "transformers " + __import__("transformers").__version__ + ", torch " + torch.__version__,
        "device": describe(device),
        "dtype": args.dtype,
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "weights": "random" if args.random_weights else "gguf",
        "prefill_tok_per_s": args.prompt_tokens / best_prefill,
        "decode_tok_per_s": (args.new_tokens - 1) / best_decode,
        "prefill_tok_per_s_median": args.prompt_tokens / statistics.median(prefills),
        "decode_tok_per_s_median": (args.new_tokens - 1) / statistics.median(decodes),
        "prefill_s": best_prefill,
        "decode_s": best_decode,
        "peak_rss_mb": rss_mb,
    }
    if cpu_clock_meaningful(device):
        result["prefill_cpu_s"], result["decode_cpu_s"] = cpu_prefill, cpu_decode
    else:
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
