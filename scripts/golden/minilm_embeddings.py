#!/usr/bin/env python3
"""Golden fixture for text-embed: sentence-transformers all-MiniLM-L6-v2 embeddings.

Loads the model offline from the local assets directory (scripts/fetch-assets.sh) and writes
crates/text-embed/tests/fixtures/minilm_golden.json: the texts (incl. an empty string and a
600-word text that gets truncated at 256 tokens), their token counts, their embeddings
(normalised, rounded to 7 decimals), the reference cosine of the two "man eating" sentences, and
CLS-pooled unnormalised embeddings of the first three texts (the BGE-style path).

    python3 scripts/golden/minilm_embeddings.py [ASSETS_DIR]
"""
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer, models  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
assets = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(os.environ.get("T2L_ASSETS", ROOT / "assets"))
model_dir = assets / "all-minilm-l6-v2"
out = ROOT / "crates/text-embed/tests/fixtures/minilm_golden.json"

WORDS = (
    "the model reads a short description of a task and writes a low rank adapter for the frozen "
    "language model so that it can solve problems about arithmetic logic reading comprehension "
    "science history geography code translation and summarisation with answers that are short "
    "precise and checked against a reference"
).split()
rng = random.Random(1234)
long_text = " ".join(rng.choice(WORDS) for _ in range(600)).capitalize() + "."

texts = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "",
    "This task tests multi-step arithmetic reasoning: solve grade-school math word problems!",
    "Übersetze den Satz ins Englische — naïve café façade, 東京 and emoji 🙂.",
    "   Leading and trailing whitespace, MIXED case, tabs\tand\nnewlines   ",
    long_text,
]

torch.manual_seed(0)
model = SentenceTransformer(str(model_dir), device="cpu")
emb = model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
# Each text alone (no batch padding) must agree with the batch.
alone = np.stack([model.encode([t], convert_to_numpy=True)[0] for t in texts])
assert np.abs(alone - emb).max() < 1e-5, np.abs(alone - emb).max()
tok = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
n_tokens = [len(ids) for ids in tok["input_ids"]]
# CLS pooling without normalisation (the BGE-style path) on the first three texts.
cls_model = SentenceTransformer(
    modules=[models.Transformer(str(model_dir), max_seq_length=256), models.Pooling(384, "cls")],
    device="cpu",
)
cls_emb = cls_model.encode(texts[:3], convert_to_numpy=True)
a, b = emb[0], emb[1]
cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

fixture = {
    "model": "sentence-transformers/all-MiniLM-L6-v2",
    "sentence_transformers": sentence_transformers.__version__,
    "torch": torch.__version__,
    "max_seq_length": model.max_seq_length,
    "texts": texts,
    "n_tokens": n_tokens,
    "cosine_0_1": round(cos, 7),
    "embeddings": [[round(float(x), 7) for x in row] for row in emb],
    "cls_embeddings": [[round(float(x), 6) for x in row] for row in cls_emb],
}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(fixture, ensure_ascii=False) + "\n")
print(f"wrote {out}: {len(texts)} texts, tokens {n_tokens}, cos(0,1) = {cos:.6f}")
