#!/usr/bin/env python3
"""Times the reference T2L hypernetwork maths (SakanaAI/text-to-lora @ 8ba7749,
`hyper_modulator.py`: `task_encoder` + `gen_lora` over all layers) in PyTorch on CPU or CUDA, for the
same shapes as `benches/hypermod_generate.rs`, and measures this machine's f32 GEMM throughput.

The maths is re-implemented here with the reference's structure (no reference code is needed):
the Python loop over target modules, all layers of one module in one batch, M/S running the A and
B passes one after the other (`for out_emb, n in zip(out_emb[m].values(), [d_in, d_out])`), S
broadcasting to r rows with HF-Llama rotary positions and `mlp2` a second time, then the split /
view / transpose of the head output and the `AB_offset` add. "state dict" adds what `gen_lora`'s
caller does to write PEFT files: one contiguous tensor per layer, module and factor.

Weights are random (PyTorch default init, heads included): timing does not depend on values.
Usage:  python3 scripts/bench/hypermod_reference.py [--threads 2] [--reps 20] [--json out.json]
        [--device cpu|cuda]
On CUDA (`--device cuda`, f32 like ours: the hypernetwork keeps f32 weights) every timed call is
bracketed by `torch.cuda.synchronize()`, after two untimed warm-up calls; times are wall clock.
The paired Rust command is `t2l --device cuda bench generate` (see docs/performance.md).

Side by side with ours (`--rust BINARY`, the `hypermod_generate` bench executable): the rounds
alternate ours (`T2L_BENCH_PLAIN=reps`, packed path, same thread count) and the reference, each
round timing every case `reps` times (wall and process CPU time); the table gives, per case, the
median over rounds of each round's median, both clocks, and the ratio reference / ours (`--rust`
given twice or more: every executable runs in every round, one set of tables each):
  python3 scripts/bench/hypermod_reference.py --rust target/release/deps/hypermod_generate-HASH \
      --threads 2 --rounds 3 --reps 10
After the tables comes the head criterion of our f32 path: the head GEMMs' FLOPs over their own
time (the bench's `heads_median_ms`, `PackedTimings`) and over the whole generation, against
torch's `[1024^3]` f32 GEMM rate measured at the same thread count before and after the rounds.
It lists our opt-in reduced-precision paths (`packed-f16`, `packed-bf16`, `packed-bf16-heads`)
apart from the default `packed` (f32), each against the f32 reference. `--ref-dtype bf16`
runs the reference in bf16 instead (weights, task embedding, rotary tables and offsets cast with
`.to(torch.bfloat16)`; PyTorch then computes every op in bf16 with its own kernels, on this CPU
oneDNN's), `--ref-dtype both` times both in every round and adds a table of our bf16 paths
against the bf16 reference:
  python3 scripts/bench/hypermod_reference.py --rust BENCH --threads 1 --rounds 4 --reps 10 \
      --ref-dtype both
Without `--rust`, `--ref-dtype bf16` also times the GEMM shapes in bf16.
The reference runs with `OMP_WAIT_POLICY=PASSIVE` (unless set otherwise); with `--rust`,
`--ref-process` runs each reference round in a child process with OpenMP's default waiting
instead (spinning threads, PyTorch's out-of-the-box behaviour), so that they cannot outlive the
reference's turn and take a core from ours:
  python3 scripts/bench/hypermod_reference.py --rust BENCH --threads 2 --rounds 4 --reps 10 \
      --ref-process
Requirements: torch (tested with 2.15, CPU wheel).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# Passive OpenMP waiting: spinning threads distort timings on a shared 2-core machine
# (reference notes §9), in particular ours when both sides share this process's rounds. Must be
# set before torch is imported. `--ref-process` runs each reference round in a child process
# with OpenMP's default waiting instead (its spinning threads end with it).
if os.environ.get("T2L_REF_ROUND") != "default-wait":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from bench_device import describe, pick_device, sync  # noqa: E402

SHAPES = {
    "smollm2-135m": (30, {"q_proj": (576, 576), "v_proj": (576, 192)}),
    "mistral-7b": (32, {"q_proj": (4096, 4096), "v_proj": (4096, 1024)}),
}
EMB, LATENT, HEAD_IN, RANK = 1024, 128, 512, 8


class Residual(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05),
                                 nn.Linear(4 * d, d), nn.SiLU(), nn.Dropout(0.05))

    def forward(self, x):
        return x + self.mlp(x)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Hyper(nn.Module):
    def __init__(self, variant, n_layers, shapes):
        super().__init__()
        d = LATENT
        self.variant, self.n_layers, self.shapes = variant, n_layers, shapes
        self.task_encoder = nn.Sequential(nn.Linear(EMB, d // 2), nn.LayerNorm(d // 2))
        self.layer_depth_encoder = nn.Sequential(nn.Embedding(n_layers, d // 4), nn.LayerNorm(d // 4))
        self.layer_type_encoder = nn.Sequential(nn.Embedding(len(shapes), d // 4), nn.LayerNorm(d // 4))
        self.mixer = nn.Sequential(nn.Dropout(0.05), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05),
                                   nn.Linear(4 * d, d), nn.SiLU(), nn.Dropout(0.05))
        self.mlp1, self.mlp2 = Residual(d), Residual(d)
        self.mlp3 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05),
                                  nn.Linear(4 * d, HEAD_IN), nn.SiLU())
        heads = {}
        for m, (di, do) in shapes.items():
            out = {"L": RANK * (di + do), "M": RANK * max(di, do), "S": max(di, do)}[variant]
            heads[m] = nn.Linear(HEAD_IN, out)
        self.heads = nn.ModuleDict(heads)
        if variant != "L":
            self.out_emb = nn.ParameterDict({m: nn.ParameterDict({"A": nn.Parameter(torch.randn(d)),
                                                                  "B": nn.Parameter(torch.randn(d))})
                                             for m in shapes})
            self.out_emb_norm = nn.LayerNorm(d)
        self.offset = {m: (torch.zeros(n_layers, RANK, di), torch.zeros(n_layers, do, RANK))
                       for m, (di, do) in shapes.items()}
        inv_freq = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        freqs = torch.arange(RANK).float()[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.device = torch.device("cpu")
        self.eval()

    def to_device(self, device, dtype=torch.float32):
        """Moves the parameters and the constant tensors (offsets, rotary tables) to `device`
        and `dtype`."""
        self.to(device=device, dtype=dtype)
        self.offset = {m: (a.to(device, dtype), b.to(device, dtype))
                       for m, (a, b) in self.offset.items()}
        self.cos, self.sin = self.cos.to(device, dtype), self.sin.to(device, dtype)
        self.device = device
        return self

    @torch.no_grad()
    def gen_lora(self, task_emb):
        """task_emb [1, E] -> {module: (A [L, r, d_in], B [L, d_out, r])}."""
        enc = self.task_encoder(task_emb)
        layers = torch.arange(self.n_layers, device=self.device)
        bs = self.n_layers
        out = {}
        for i, (m, (di, do)) in enumerate(self.shapes.items()):  # the reference's Python loop
            depth = self.layer_depth_encoder(layers)
            typ = self.layer_type_encoder(torch.tensor([i], device=self.device)).expand(bs, -1)
            x = torch.cat([enc.expand(bs, -1), depth, typ], dim=-1)
            z = self.mlp1(self.mixer(x))
            head = self.heads[m]
            if self.variant == "L":
                y = head(self.mlp3(self.mlp2(z)))
                a, b = torch.split(y, [RANK * di, do * RANK], dim=-1)
            else:
                parts = []
                for emb, n in zip(self.out_emb[m].values(), [di, do]):
                    h = self.mlp2(z + self.out_emb_norm(emb))
                    if self.variant == "M":
                        y = head(self.mlp3(h)).view(bs, RANK, -1)[..., :n]
                    else:
                        h = h.unsqueeze(1).expand(-1, RANK, -1)
                        h = self.mlp2(h * self.cos + rotate_half(h) * self.sin)
                        y = head(self.mlp3(h))[..., :n]
                    parts.append(y.reshape(bs, RANK * n))
                a, b = parts
            a = a.reshape(bs, RANK, di) + self.offset[m][0]
            b = b.reshape(bs, RANK, do).transpose(1, 2) + self.offset[m][1]
            out[m] = (a, b)
        return out


def state_dict(loras):
    sd = {}
    for m, (a, b) in loras.items():
        for l in range(a.shape[0]):
            sd[f"base_model.model.model.layers.{l}.self_attn.{m}.lora_A.weight"] = a[l].contiguous()
            sd[f"base_model.model.model.layers.{l}.self_attn.{m}.lora_B.weight"] = b[l].contiguous()
    return sd


def head_flops(variant, n_layers, shapes):
    total = 0
    for di, do in shapes.values():
        if variant == "L":
            total += 2 * n_layers * HEAD_IN * RANK * (di + do)
        elif variant == "M":
            total += 2 * (2 * n_layers) * HEAD_IN * RANK * max(di, do)
        else:
            total += 2 * (2 * n_layers * RANK) * HEAD_IN * max(di, do)
    return total


CLOCK = time.perf_counter
DEVICE = torch.device("cpu")
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
# Our bench's paths: the default, then the opt-in reduced precisions (bf16 ones last).
PATHS = ["packed", "packed-f16", "packed-bf16", "packed-bf16-heads"]


def timed(fn, reps):
    """Two untimed warm-up calls, then `reps` timed ones (synchronised on CUDA): (median, min) s."""
    fn()
    fn()
    sync(DEVICE)
    times = []
    for _ in range(reps):
        t = CLOCK()
        fn()
        sync(DEVICE)
        times.append(CLOCK() - t)
    return statistics.median(times), min(times)


def gemm_rate(rows, k, cols, dtype, reps):
    """`[rows x k]·[k x cols]` (the weight in nn.Linear's `[out, in]` layout): (median s, min s,
    GFLOP/s at the min)."""
    a = torch.randn(rows, k, device=DEVICE, dtype=dtype)
    w = torch.randn(cols, k, device=DEVICE, dtype=dtype)
    med, best = timed(lambda: a @ w.T, reps)
    return med, best, 2 * rows * k * cols / best / 1e9


def both_clocks(fn, reps):
    """Two untimed calls, then `reps` timed ones: (wall samples, CPU samples) in ms."""
    fn()
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c) * 1e3)
        wall.append((time.perf_counter() - t) * 1e3)
    return wall, cpu


def reference_models(ref_dtype):
    """Every case's reference hypernetwork in each dtype `ref_dtype` names, and the embeddings."""
    dtypes = {"f32": ["f32"], "bf16": ["bf16"], "both": ["f32", "bf16"]}[ref_dtype]
    models = {}
    for shape, (n_layers, shapes) in SHAPES.items():
        for variant in ["L", "M", "S"]:
            for dt in dtypes:
                models[f"{shape}/{variant}", dt] = Hyper(variant, n_layers, shapes).to_device(
                    DEVICE, DTYPES[dt])
    emb = {dt: torch.randn(1, EMB).to(DTYPES[dt]) for dt in dtypes}
    return dtypes, models, emb


def reference_round(args):
    """`--ref-round`: one round of the reference, one JSON line per case (median ms)."""
    _, models, emb = reference_models(args.ref_dtype)
    for (case, dt), hyper in models.items():
        wall, cpu = both_clocks(lambda: state_dict(hyper.gen_lora(emb[dt])), args.reps)
        print(json.dumps({"case": case, "dtype": dt, "wall": statistics.median(wall),
                          "cpu": statistics.median(cpu)}), flush=True)


def side_by_side(args):
    """Rounds of (ours, reference) or (reference, ours), alternating; medians over rounds."""
    if args.ref_process:
        # The children build the models; here only their keys (same order) are needed.
        dtypes = {"f32": ["f32"], "bf16": ["bf16"], "both": ["f32", "bf16"]}[args.ref_dtype]
        models = {(f"{shape}/{v}", dt): None for shape in SHAPES for v in "LMS" for dt in dtypes}
        emb = None
    else:
        dtypes, models, emb = reference_models(args.ref_dtype)
    env = dict(os.environ, T2L_BENCH_PLAIN=str(args.reps), RAYON_NUM_THREADS=str(args.threads))
    ours, ref, loads = {}, {}, []
    heads, flops = {}, {}
    # This machine's f32 GEMM throughput (torch, [1024 x 1024]·[1024 x 1024], same threads),
    # before the rounds and after them: the head criterion's yardstick.
    square = [gemm_rate(1024, 1024, 1024, torch.float32, 20)[2]]

    def run_ours():
        for exe in args.rust:
            out = subprocess.run([exe], env=env, capture_output=True, text=True, check=True)
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    r = json.loads(line)
                    key = (exe, r["case"], r["path"])
                    ours.setdefault(key, []).append((r["wall_median_ms"], r["cpu_median_ms"]))
                    heads.setdefault(key, []).append(r["heads_median_ms"])
                    flops[r["case"]] = (r["head_flops"], r["kept_head_flops"])

    def run_ref():
        if args.ref_process:
            # One reference round in a child with OpenMP's default (spinning) waiting.
            cmd = [sys.executable, os.path.abspath(__file__), "--ref-round", "--threads",
                   str(args.threads), "--reps", str(args.reps), "--ref-dtype", args.ref_dtype]
            child = dict(os.environ, T2L_REF_ROUND="default-wait")
            child.pop("OMP_WAIT_POLICY", None)
            out = subprocess.run(cmd, env=child, capture_output=True, text=True, check=True)
            for line in out.stdout.splitlines():
                r = json.loads(line)
                ref.setdefault((r["case"], r["dtype"]), []).append((r["wall"], r["cpu"]))
            return
        for (case, dt), hyper in models.items():
            wall, cpu = both_clocks(lambda: state_dict(hyper.gen_lora(emb[dt])), args.reps)
            ref.setdefault((case, dt), []).append((statistics.median(wall),
                                                   statistics.median(cpu)))

    for i in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for side in ([run_ours, run_ref] if i % 2 == 0 else [run_ref, run_ours]):
            side()
        print(f"round {i + 1}/{args.rounds} done, load average {loads[-1]:.1f}", flush=True)
    loads.append(os.getloadavg()[0])
    square.append(gemm_rate(1024, 1024, 1024, torch.float32, 20)[2])
    wait = ("OpenMP default waiting, a child process per round" if args.ref_process
            else f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}")
    print(f"torch {torch.__version__}, {args.threads} threads each side, {args.rounds} rounds x "
          f"{args.reps} reps, load average {min(loads):.1f}-{max(loads):.1f}, reference: {wait}")
    print("case             ours wall  ref wall  ratio | ours CPU  ref CPU  ratio   (ms, medians)")
    results = []
    cases = list(dict.fromkeys(case for case, _ in models))
    # "packed" is our default (f32); the opt-in reduced precisions are listed apart. The bf16
    # reference is compared with our bf16 paths only.
    tables = [(path, "f32") for path in PATHS] + [(path, "bf16") for path in PATHS[2:]]
    for exe, (path, dt) in ((exe, t) for exe in args.rust for t in tables):
        if dt not in dtypes:
            continue
        if len(args.rust) > 1 and (path, dt) == ("packed", "f32"):
            print(f"== ours: {exe} ==")
        if (path, dt) != ("packed", "f32") or len(args.rust) > 1:
            print(f"-- ours with {path}{' (opt-in reduced precision)' if path != 'packed' else ''}"
                  f", reference in {dt} --")
        for case in cases:
            if (exe, case, path) not in ours:
                continue
            ow = statistics.median(w for w, _ in ours[exe, case, path])
            oc = statistics.median(c for _, c in ours[exe, case, path])
            rw = statistics.median(w for w, _ in ref[case, dt])
            rc = statistics.median(c for _, c in ref[case, dt])
            print(f"{case:15s} {ow:9.2f} {rw:9.2f} {rw / ow:6.2f} | {oc:8.2f} {rc:8.2f} "
                  f"{rc / oc:6.2f}")
            results.append({"rust": exe, "case": case, "path": path, "ref_dtype": dt,
                            "threads": args.threads, "ours_wall_ms": ow, "ref_wall_ms": rw,
                            "ours_cpu_ms": oc, "ref_cpu_ms": rc,
                            "ours_rounds": ours[exe, case, path], "ref_rounds": ref[case, dt]})
    criterion = head_criterion(args.rust, ours, heads, flops, square)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average": loads, "results": results, "square_gflops": square,
                       "head_criterion": criterion}, f, indent=1)


def head_criterion(exes, ours, heads, flops, square):
    """The table of the head criterion for our default (f32) path: the FLOPs of the head
    outputs kept in the adapter (`kept_head_flops`; L computes no others, M/S skip the columns
    the reference discards) over the heads' own time (`heads_median_ms`) and over the whole
    generation's, each against torch's square GEMM rate measured before and after the rounds
    (torch's rate / ours: at most 1.5 holds)."""
    lo, hi = min(square), max(square)
    print(f"head criterion (f32 path): torch [1024^3] GEMM {square[0]:.0f} GFLOP/s before, "
          f"{square[-1]:.0f} after; ratio = torch rate / ours (range over the two)")
    print("case            GFLOP ref/kept  heads ms GFLOP/s ratio     | whole ms GFLOP/s ratio")
    rows = []
    for exe in exes:
        for (e, case, path), runs in ours.items():
            if e != exe or path != "packed":
                continue
            nominal, kept = flops[case]
            h = statistics.median(heads[e, case, path])
            w = statistics.median(wall for wall, _ in runs)
            hr, wr = kept / h / 1e6, kept / w / 1e6
            print(f"{case:15s} {nominal / 1e9:6.3f}/{kept / 1e9:5.3f} {h:8.2f} {hr:7.0f} "
                  f"{lo / hr:.2f}-{hi / hr:.2f} | {w:8.2f} {wr:7.0f} {lo / wr:.2f}-{hi / wr:.2f}")
            rows.append({"rust": exe, "case": case, "head_flops": nominal,
                         "kept_head_flops": kept, "heads_ms": h, "whole_ms": w,
                         "heads_gflops": hr, "whole_gflops": wr})
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--cpu-time", action="store_true",
                    help="measure process CPU time instead of wall time (with --threads 1: the "
                         "work per adapter, robust to other jobs on the machine)")
    ap.add_argument("--rust", action="append",
                    help="our hypermod_generate bench executable: run side by side; give it "
                         "more than once to time several builds (e.g. before and after a change) "
                         "in the same rounds, each with its own tables")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (with --rust)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="where the reference runs")
    ap.add_argument("--ref-process", action="store_true",
                    help="with --rust: run each reference round in a child process with "
                         "OpenMP's default (spinning) thread waiting instead of PASSIVE")
    ap.add_argument("--ref-round", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ref-dtype", choices=["f32", "bf16", "both"], default="f32",
                    help="the reference's dtype (weights and inputs); f32 is the reference's "
                         "own; both (with --rust): time each in every round")
    args = ap.parse_args()
    global CLOCK, DEVICE
    DEVICE = pick_device(args.device)
    if args.cpu_time and DEVICE.type != "cpu":
        ap.error("--cpu-time measures CPU work; on --device cuda only wall time is meaningful")
    if args.rust and DEVICE.type != "cpu":
        ap.error("--rust runs the CPU criterion bench; on CUDA run `t2l --device cuda bench "
                 "generate` and this script with --device cuda one after the other")
    if args.ref_round:
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        reference_round(args)
        return
    if args.ref_process and not args.rust:
        ap.error("--ref-process applies to the side-by-side run (--rust)")
    if args.rust:
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        side_by_side(args)
        return
    if args.cpu_time:
        CLOCK = time.process_time
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    clock = "process CPU time" if args.cpu_time else "wall time"
    print(f"torch {torch.__version__}, {describe(DEVICE)}, {args.threads} threads, {clock}, "
          f"median/min of {args.reps}")
    # square, then the Mistral L q head, M head and S head shapes
    if args.ref_dtype == "both":
        ap.error("--ref-dtype both needs --rust; run f32 and bf16 one after the other")
    dtype = DTYPES[args.ref_dtype]
    print(f"dtype {args.ref_dtype}")
    for rows, k, cols in [(1024, 1024, 1024), (32, 512, 65536), (64, 512, 32768),
                          (512, 512, 4096)]:
        med, best, gf = gemm_rate(rows, k, cols, dtype, args.reps)
        print(f"gemm [{rows}x{k}]·[{k}x{cols}]: {med*1e3:.2f} / {best*1e3:.2f} ms, {gf:.1f} GFLOP/s (min)")
        results.append({"what": "gemm", "device": str(DEVICE), "dtype": args.ref_dtype,
                        "m": rows, "k": k, "n": cols, "median_ms": med * 1e3,
                        "min_ms": best * 1e3, "gflops": gf})
    for shape, (n_layers, shapes) in SHAPES.items():
        for variant in ["L", "M", "S"]:
            hyper = Hyper(variant, n_layers, shapes).to_device(DEVICE, dtype)
            emb = torch.randn(1, EMB, device=DEVICE, dtype=dtype)
            raw = timed(lambda: hyper.gen_lora(emb), args.reps)
            full = timed(lambda: state_dict(hyper.gen_lora(emb)), args.reps)
            fl = head_flops(variant, n_layers, shapes)
            print(f"{shape:13s} {variant}: raw {raw[0]*1e3:7.2f} / {raw[1]*1e3:7.2f} ms, "
                  f"state dict {full[0]*1e3:7.2f} / {full[1]*1e3:7.2f} ms, head {fl/1e9:.3f} GFLOP "
                  f"({fl / full[1] / 1e9:.1f} GFLOP/s overall at min)")
            results.append({"what": "generate", "device": str(DEVICE), "dtype": args.ref_dtype,
                            "shape": shape, "variant": variant,
                            "raw_median_ms": raw[0] * 1e3, "raw_min_ms": raw[1] * 1e3,
                            "median_ms": full[0] * 1e3, "min_ms": full[1] * 1e3, "head_flops": fl})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
