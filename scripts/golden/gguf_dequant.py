#!/usr/bin/env python3
"""Golden dequantization of ggml block formats by the `gguf` PyPI package (gguf.quants.dequantize).

Requirements: numpy, gguf (tested with gguf 0.19.0).

For each type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) it makes random but
valid block bytes (seeded; random quant bytes with finite f16 scales written over the scale fields)
and, where the real SmolLM2 GGUF is present in assets/, two blocks of a real Q8_0 and Q4_1 tensor.
It records the hex bytes and gguf's f32 values in
`crates/base-llm/tests/fixtures/loading/gguf_dequant.json`.

Run from the repository root:  python3 scripts/golden/gguf_dequant.py
"""
import importlib.metadata
import json
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))
GGUF = os.path.join(ASSETS, "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "crates", "base-llm", "tests", "fixtures", "loading", "gguf_dequant.json")

# Byte offsets of the f16 scale fields inside one block.
SCALE_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
BLOCKS = 3


def random_case(rng, qtype):
    block, type_size = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        raw = rng.normal(0, 2, size=64).astype("<f4").tobytes()
    elif qtype == T.F16:
        raw = rng.normal(0, 2, size=64).astype("<f2").tobytes()
    elif qtype == T.BF16:
        f = rng.normal(0, 2, size=64).astype("<f4")
        raw = (f.view("<u4") >> 16).astype("<u2").tobytes()
    else:
        out = bytearray()
        for _ in range(BLOCKS):
            b = bytearray(rng.integers(0, 256, size=type_size, dtype=np.uint8).tobytes())
            for off in SCALE_OFFSETS[qtype]:
                scale = np.float16(rng.uniform(-0.05, 0.05))
                b[off:off + 2] = np.array([scale], dtype="<f2").tobytes()
            out += b
        raw = bytes(out)
    return raw


def case(name, qtype, raw):
    values = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype(np.float32)
    return {"name": name, "type": qtype.name, "type_id": int(qtype), "hex": raw.hex(),
            "values": [float(v) for v in values.reshape(-1)]}


def main():
    rng = np.random.default_rng(20261123)
    cases = []
    for qtype in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]:
        cases.append(case(f"random_{qtype.name}", qtype, random_case(rng, qtype)))
    if os.path.exists(GGUF):
        reader = gguf.GGUFReader(GGUF)
        for t in reader.tensors:
            if t.name in ("token_embd.weight", "blk.0.attn_q.weight"):
                block, type_size = GGML_QUANT_SIZES[t.tensor_type]
                raw = np.asarray(t.data).view(np.uint8).reshape(-1)[: 2 * type_size].tobytes()
                cases.append(case(f"smollm2_{t.name}", t.tensor_type, raw))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"gguf_version": importlib.metadata.version("gguf"), "cases": cases}, f)
    print("wrote", OUT, len(cases), "cases")


if __name__ == "__main__":
    main()
