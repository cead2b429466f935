#!/usr/bin/env python3
"""Prefill and decode throughput of SmolLM2-135M-Instruct in Hugging Face transformers (CPU, f32),
the side-by-side reference for `cargo run -p base-llm --example smollm2_bench`.

Requirements: torch, transformers, gguf. Offline: loads the GGUF in assets/ (dequantized to f32).
Both programs feed the same token ids: the chat prompt of the golden fixture
(`crates/base-llm/tests/fixtures/model/smollm2_golden.json`) cycled to `--prompt-tokens`, then
greedy decoding of `--new-tokens` tokens with a KV cache (no early stop), batch 1.

Run from the repository root:  python3 scripts/bench/smollm2_bench.py --threads 2
"""
import argparse
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))
FIXTURE = os.path.join(ROOT, "crates", "base-llm", "tests", "fixtures", "model", "smollm2_golden.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base = json.load(open(FIXTURE))["prompts"][2]["input_ids"]
    ids = [base[i % len(base)] for i in range(args.prompt_tokens)]
    model = AutoModelForCausalLM.from_pretrained(
        os.path.join(ASSETS, "smollm2-135m-instruct"),
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", torch_dtype=torch.float32).eval()

    best_prefill, best_decode = float("inf"), float("inf")
    with torch.inference_mode():
        for _ in range(args.repeats + 1):  # the first run warms up
            x = torch.tensor([ids])
            t0 = time.perf_counter()
            out = model(x, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            t1 = time.perf_counter()
            past = out.past_key_values
            for _ in range(args.new_tokens - 1):
                out = model(nxt, past_key_values=past, use_cache=True)
                past = out.past_key_values
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            t2 = time.perf_counter()
            best_prefill = min(best_prefill, t1 - t0)
            best_decode = min(best_decode, t2 - t1)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "impl": "transformers " + __import__("transformers").__version__ + ", torch " + torch.__version__,
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "prefill_tok_per_s": args.prompt_tokens / best_prefill,
        "decode_tok_per_s": (args.new_tokens - 1) / best_decode,
        "peak_rss_mb": rss_mb,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
