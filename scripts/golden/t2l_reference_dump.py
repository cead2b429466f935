#!/usr/bin/env python3
"""Reference outputs for a full-size reference checkpoint directory, for the ignored Rust test
`crates/hypermod/tests/reference_released.rs`.

Usage:  python3 scripts/golden/t2l_reference_dump.py DIR
        T2L_REFERENCE_DIR=DIR cargo test -p hypermod --test reference_released -- --ignored --nocapture

DIR holds `hypermod.pt`, `args.yaml`, `adapter_config.json` (optionally `module_order.json`), e.g. a
released T2L model. Runs the reference's generation maths (re-implemented in
`t2l_reference_checkpoint.py`, checked there bit for bit against the reference's own methods) on the
two deterministic task embeddings the Rust test uses, and writes `DIR/expected_f32/{module}.{A,B}.f32`
(raw little-endian f32, A `[2, layers, r, d_in]`, B `[2, layers, d_out, r]`). The Rust test then
reports the largest difference. Requirements: torch, PyYAML.
"""
import json
import math
import os
import sys

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t2l_reference_checkpoint as g  # noqa: E402


def embeddings(e):
    """The Rust test's embeddings: raw[i] = (i·7919 mod 1000)/1000 − 0.5, rows scaled to norm √E."""
    raw = torch.tensor([((i * 7919 % 1000) / 1000.0) - 0.5 for i in range(2 * e)], dtype=torch.float32)
    rows = raw.reshape(2, e)
    return rows / rows.norm(dim=-1, keepdim=True) * math.sqrt(e)


def main(d):
    sd = torch.load(os.path.join(d, "hypermod.pt"), map_location="cpu", weights_only=True)
    args = yaml.safe_load(open(os.path.join(d, "args.yaml")))
    targets = json.load(open(os.path.join(d, "adapter_config.json")))["target_modules"]
    order_path = os.path.join(d, "module_order.json")
    order = json.load(open(order_path)) if os.path.exists(order_path) else targets
    g.N_LAYERS, g.LATENT = sd["layer_depth_encoder.0.weight"].shape[0], args.get("hypernet_latent_size", 128)
    g.EMB, g.HEAD_IN = sd["task_encoder.mlp.0.weight"].shape[1], args.get("head_in_size", 512)
    g.RANK = sd[f"AB_offset.A.{targets[0]}"].shape[1]
    g.SHAPES = {m: (sd[f"AB_offset.A.{m}"].shape[2], sd[f"AB_offset.B.{m}"].shape[1]) for m in targets}
    shared, autoreg = args.get("shared_AB_head", False), args.get("autoreg_gen", False)
    task = args.get("training_task", "sft")
    model = g.RefHyperModulator(
        targets, order, shared, autoreg, f"heads.{targets[0]}.bias" in sd, task,
        args.get("pred_z_score", True), args.get("factorized", False), args.get("delta_w_scaling", 10000),
    )
    model.load_state_dict(sd)
    model.eval()
    out = os.path.join(d, "expected_f32")
    os.makedirs(out, exist_ok=True)
    with torch.no_grad():
        loras = [model.gen_lora(model.task_encoder(e[None])) for e in embeddings(g.EMB)]
    for m in targets:
        for i, f in enumerate("AB"):
            t = torch.stack([lora[m][i] for lora in loras]).contiguous()
            t.numpy().astype("<f4").tofile(os.path.join(out, f"{m}.{f}.f32"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
