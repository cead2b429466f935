#!/usr/bin/env python3
"""Golden LLM-encoder vectors: SmolLM2-135M-Instruct (the GGUF in assets/) as a text encoder, the
T2L reference's base-LLM embedding (`hidden_states[-1]`, last-token pooling) plus the mean over
tokens, computed by Hugging Face transformers (f32, GGUF dequantized by transformers).

Writes crates/text-embed/tests/fixtures/smollm2_last_token.json: per text, the token ids (with the
tokenizer's special tokens), the last-token vector and the mean vector (576 floats each, rounded
to 6 decimals). Each text is run alone (no padding).

Run from the repository root:  python3 scripts/golden/smollm2_last_token.py
"""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))
MODEL_DIR = os.path.join(ASSETS, "smollm2-135m-instruct")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "crates", "text-embed", "tests", "fixtures", "smollm2_last_token.json")

TEXTS = [
    "Solve grade-school math word problems.",
    "Translate English sentences into French.",
    "This task asks the model to classify the sentiment of short movie reviews as positive or negative.",
]


def main():
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, torch_dtype=torch.float32)
    model.eval()
    rows = []
    with torch.no_grad():
        for text in TEXTS:
            ids = tok(text)["input_ids"]
            out = model(torch.tensor([ids]), output_hidden_states=True)
            h = out.hidden_states[-1][0]  # after the final norm
            last_hidden = model.model(torch.tensor([ids])).last_hidden_state[0]
            assert torch.allclose(h, last_hidden, atol=1e-5), "hidden_states[-1] is post-norm"
            rows.append({
                "text": text,
                "ids": ids,
                "last_token": [round(float(x), 6) for x in h[-1]],
                "mean": [round(float(x), 6) for x in h.mean(0)],
            })
    fixture = {"model": "SmolLM2-135M-Instruct.Q4_1.gguf", "transformers": transformers.__version__,
               "torch": torch.__version__, "rows": rows}
    with open(OUT, "w") as f:
        json.dump(fixture, f)
        f.write("\n")
    print(f"wrote {OUT}: {[len(r['ids']) for r in rows]} tokens")


if __name__ == "__main__":
    main()
