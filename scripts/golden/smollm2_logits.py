#!/usr/bin/env python3
"""Golden logits of SmolLM2-135M-Instruct (the GGUF in assets/) computed by Hugging Face transformers.

Requirements: torch, transformers, gguf, numpy (tested with torch 2.x, transformers 4.57, gguf 0.17).
Offline: the model is loaded from the local GGUF only (`HF_HUB_OFFLINE=1`); transformers dequantizes
it to float32 and un-permutes q/k into its rotate-half layout.

For each prompt (plain text, code, a chat-formatted prompt) it records into
`crates/base-llm/tests/fixtures/model/smollm2_golden.json`:
  - the prompt's token ids (so the Rust test does not depend on the tokenizer),
  - the last-position logits: argmax, the top-20 ids and values, and the logits at 50 fixed ids,
  - the greedy 12-token continuation (token ids) from `model.generate(do_sample=False)`.

Optionally `--dump-weights PATH` writes the dequantized state dict as f32 safetensors (≈540 MB, for
debugging only; never committed).

Run from the repository root:  python3 scripts/golden/smollm2_logits.py
"""
import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))
MODEL_DIR = os.path.join(ASSETS, "smollm2-135m-instruct")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "crates", "base-llm", "tests", "fixtures", "model", "smollm2_golden.json")

PLAIN = "The capital of France is"
CODE = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
CHAT_MESSAGES = [{"role": "user", "content": "What is 7 times 8? Answer briefly."}]
FIXED_IDS = [i * 983 % 49152 for i in range(50)]
NEW_TOKENS = 12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump-weights", default=None)
    args = ap.parse_args()

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, torch_dtype=torch.float32)
    model.eval()

    if args.dump_weights:
        from safetensors.torch import save_file

        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        if model.config.tie_word_embeddings:
            sd.pop("lm_head.weight", None)
        save_file(sd, args.dump_weights)

    chat = tok.apply_chat_template(CHAT_MESSAGES, tokenize=False, add_generation_prompt=True)
    prompts = [("plain", PLAIN), ("code", CODE), ("chat", chat)]
    records = []
    for name, text in prompts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0, -1].float()
            gen = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                 max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                 pad_token_id=tok.eos_token_id)
        top = torch.topk(logits, 20)
        records.append({
            "name": name,
            "text": text,
            "input_ids": ids,
            "argmax": int(logits.argmax()),
            "top_ids": [int(i) for i in top.indices],
            "top_values": [float(v) for v in top.values],
            "fixed_values": [float(logits[i]) for i in FIXED_IDS],
            "greedy_ids": [int(i) for i in gen[0, len(ids):]],
            "greedy_text": tok.decode(gen[0, len(ids):]),
        })
        print(name, repr(text[:40]), "->", repr(records[-1]["greedy_text"]))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"gguf": GGUF, "fixed_ids": FIXED_IDS, "new_tokens": NEW_TOKENS,
                   "transformers_version": __import__("transformers").__version__,
                   "torch_version": torch.__version__, "prompts": records}, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
