#!/usr/bin/env python3
"""Counts the GPU kernels per generation in a cubecl profile log (`CUBECL_DEBUG_LOG`).

The log lists every kernel as a row `| <time> | <name> | ...`; after each profiled stretch it
prints a summary table. Consecutive kernel rows between two summaries form one block; with
`t2l --device wgpu bench generate --tiny --iters N --warmup W`, the last N blocks are the N timed
generations. Prints the number of blocks, the sizes of the last 8, and the kernel names of the
last block (`--list`).

Usage (lavapipe runs the same kernel list as a CUDA GPU; see docs/performance.md):
  XDG_RUNTIME_DIR=$(mktemp -d) CUBECL_WGPU_DEFAULT_DEVICE=Cpu CUBECL_AUTOTUNE_LEVEL=minimal \\
      CUBECL_DEBUG_LOG=/tmp/k.log t2l --device wgpu bench generate --tiny --iters 3 --warmup 1 \\
      --variant L
  python3 scripts/bench/count_kernels.py /tmp/k.log [--list]
"""
import argparse
import re

ROW = re.compile(r"\| ([0-9.]+[a-zµ]*s)\s*\| ([^|]+)")


def blocks(path):
    """The log's kernel names, grouped into blocks of consecutive kernel rows."""
    out, cur = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = ROW.match(line)
            if m:
                cur.append(m.group(2).strip())
            elif cur:
                out.append(cur)
                cur = []
    if cur:
        out.append(cur)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--list", action="store_true", help="print the last block's kernels")
    args = ap.parse_args()
    try:
        found = blocks(args.log)
    except OSError as e:
        raise SystemExit(f"{args.log}: {e.strerror}")
    if not found:
        raise SystemExit(f"{args.log}: no kernel rows (was CUBECL_DEBUG_LOG set for this run?)")
    print(f"blocks {len(found)}; kernels in the last 8: {[len(b) for b in found[-8:]]}")
    if args.list:
        for name in found[-1]:
            print("  ", name)


if __name__ == "__main__":
    main()
