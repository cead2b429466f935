#!/usr/bin/env python3
"""Side-by-side timing of two or more builds of the `hypermod_generate` bench.

Runs the bench's plain mode (`T2L_BENCH_PLAIN=REPS`) of every binary in turn, round after round
(binary A, B, ..., then A, B, ... again), one path (`T2L_BENCH_PATH`, default `packed`) and the
cases whose name contains `--case`. Each run prints its median wall time per case; the table
gives, per case and binary, the median of those per-round medians and the ratio first ÷ this
(above 1: faster than the first binary). Alternating rounds in one script is how the speed-ups
in docs/hypermod.md were measured: this machine's speed drifts by 5–10 % within an hour, so
only builds timed side by side are compared.

    cargo bench --bench hypermod_generate --no-run     # note the binary's path, copy it away
    python3 scripts/bench/hypermod_side_by_side.py --threads 2 --rounds 8 --case /S before after
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs="+", help="bench binaries (the first is the baseline)")
    ap.add_argument("--threads", type=int, default=2, help="RAYON_NUM_THREADS (default 2)")
    ap.add_argument("--rounds", type=int, default=6, help="rounds over all binaries (default 6)")
    ap.add_argument("--reps", type=int, default=20, help="timed generations per run (default 20)")
    ap.add_argument("--case", default="", help="keep the cases whose name contains this")
    ap.add_argument("--path", default="packed", help="the one path timed (default packed)")
    args = ap.parse_args()

    times = collections.defaultdict(list)
    for round_ in range(args.rounds):
        for binary in args.binaries:
            env = dict(
                os.environ,
                RAYON_NUM_THREADS=str(args.threads),
                T2L_BENCH_PLAIN=str(args.reps),
                T2L_BENCH_CASE=args.case,
                T2L_BENCH_PATH=args.path,
            )
            run = subprocess.run(
                [os.path.abspath(binary)], env=env, capture_output=True, text=True
            )
            if run.returncode != 0:
                print(f"{binary} failed ({run.returncode}):\n{run.stderr}", file=sys.stderr)
                return 1
            for line in run.stdout.splitlines():
                result = json.loads(line)
                if result["path"] == args.path:
                    times[(result["case"], binary)].append(result["wall_median_ms"])
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    cases = sorted({case for case, _ in times})
    if not cases:
        print("no case matched", file=sys.stderr)
        return 1
    print(f"{args.threads} threads, {args.rounds} rounds x {args.reps} reps, path {args.path}")
    print("case               " + "".join(f"{os.path.basename(b):>22}" for b in args.binaries))
    for case in cases:
        base = statistics.median(times[(case, args.binaries[0])])
        cells = []
        for binary in args.binaries:
            ms = statistics.median(times[(case, binary)])
            cells.append(f"{ms:9.3f} ms ({base / ms:5.3f})")
        print(f"{case:<19}" + "".join(f"{c:>22}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
