#!/usr/bin/env python3
"""Fixtures for hypermod's data-only reader of PyTorch `torch.save` checkpoints.

Requirements: torch (tested with torch 2.15). Writes to
`crates/hypermod/tests/fixtures/reference/torch_files/`:

- `views.pt` (pickle protocol 2, torch's default) and `views_p4.pt` (protocol 4: FRAME,
  SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL), each a state dict exercising what the reader must
  handle: a contiguous f32 tensor, a transposed view and an offset slice *sharing its storage*,
  f16, a transposed bf16 view, f64, a 0-d scalar, an `nn.Parameter` (`_rebuild_parameter`) and an
  empty tensor;
- `views.json`: for every key, the shape and the row-major values converted to f32 as torch does;
- `forbidden_global.pt`: a state dict with an extra object whose pickle calls `os.system`
  (a `GLOBAL posix system` opcode). Nothing runs when it is written; the reader must refuse it.

Run from the repository root:  python3 scripts/golden/t2l_reference_torch_files.py
"""
import json
import os
from collections import OrderedDict

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "hypermod", "tests", "fixtures", "reference", "torch_files")


class RunsACommand:
    """An object whose unpickling would call os.system: what a data-only reader must refuse."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = torch.randn(3, 4, generator=g)
    sd = OrderedDict()
    sd["f32_contiguous"] = base
    sd["f32_transposed"] = base.t()  # same storage, strides (1, 4)
    sd["f32_offset_slice"] = base[1:, 1:3]  # same storage, offset 5, strides (4, 1)
    sd["f16"] = torch.randn(5, generator=g).half()
    sd["bf16_transposed"] = torch.randn(2, 3, generator=g).bfloat16().t()
    sd["f64"] = torch.randn(2, 2, generator=g).double()
    sd["scalar"] = torch.tensor(3.5)
    sd["parameter"] = torch.nn.Parameter(torch.randn(2, generator=g))
    sd["empty"] = torch.zeros(0, 3)
    torch.save(sd, os.path.join(OUT, "views.pt"))
    torch.save(sd, os.path.join(OUT, "views_p4.pt"), pickle_protocol=4)
    expected = {
        k: {"shape": list(v.shape), "values": [float(x) for x in v.detach().float().reshape(-1).tolist()]}
        for k, v in sd.items()
    }
    with open(os.path.join(OUT, "views.json"), "w") as f:
        json.dump(expected, f, indent=1)

    evil = OrderedDict(w=torch.ones(2))
    evil["payload"] = RunsACommand()
    torch.save(evil, os.path.join(OUT, "forbidden_global.pt"))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
