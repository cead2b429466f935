#!/usr/bin/env python3
"""One T2L SFT step in PyTorch next to the same step in Rust (burn flex), on the same batch, for a
side-by-side ratio.

PyTorch side (the reference's method, t2l-reference.md §3-4.1): transformers' SmolLM2-135M-Instruct
from the same GGUF (dequantised to f32, frozen), a T2L **M** hypernetwork (the architecture of
`scripts/bench/hypermod_reference.py`, MiniLM width E = 384, latent 128, head_in 512, dropout 0.05,
train mode) that generates one LoRA (r 8, alpha 16, rsLoRA) per batch row for q_proj/v_proj of all
30 layers in one batched call per module, `register_forward_hook`s on every q_proj/v_proj adding
`((dropout_0.05(x) @ A^T) @ B^T) * scaling` per row, a NEFTune hook (alpha 5) on the input embedding,
full logits + label-smoothed (0.1) cross-entropy with equal weight per sample (the reference
computes logits at every position), + 1e-3 * sum_modules mean(A^2) + mean(B^2), backward, global
clip 1.0, AdamW (lr 1e-4, wd 0.01). The hook multiplies with a batched matmul; `--repeat-interleave`
uses the reference's literal `A.repeat_interleave(seq_len, 0)` + bmm instead.

Rust side: `crates/trainers/examples/sft_step_profile.rs` (the trainer's own loss/optimizer code,
phase-timed), run as a subprocess. It writes the batch it trains on (token ids, prompt lengths,
conditioning embeddings) with `--dump-batch`; this script trains on exactly that batch.

Both sides are timed per step as wall and process CPU seconds, with 1 and 2 threads
(`torch.set_num_threads`, `RAYON_NUM_THREADS`), interleaved (Rust, PyTorch, Rust, PyTorch, ...
for `--rounds` rounds) so that both see the same machine load; the load average is recorded at
each run. The first step of every Rust process and PyTorch's first step are warm-ups and are not
counted; the summary is the median of the counted steps. Several `--rust-bin`s (e.g. a build
before and after a change) are interleaved too.

Usage (repository root):
  cargo build -p trainers --example sft_step_profile
  python3 scripts/bench/sft_step_reference.py --rust-bin target/debug/examples/sft_step_profile \
      --config configs/t2l_sft_smollm2_minilm_m.toml --steps 3 --rounds 2 --threads 1,2 \
      [--rust-bin OTHER_BUILD] [--json out.json]

PyTorch alone (no `--rust-bin`), on CPU or a GPU, for the pair with `t2l [--device cuda] bench
sft-step [--precision f32|bf16|f16]`: the batch is the one that bench builds (`--tasks 8 --seq 128
--response 32 --task-dim 384` by default: token ids `3 + (i*7919 + 13) % (vocab - 3)` for positions
row..row+seq of row `row`, the last `response` tokens targets, no padding, random normal task
embeddings), and the frozen base is loaded in `--dtype` (the hypernetwork, its adapters' master
weights and the loss stay f32; each hook casts A and B to the activations' dtype):
  python3 scripts/bench/sft_step_reference.py --device cuda --dtype bfloat16 --steps 6 --json out.json
On CUDA every step is bracketed by `torch.cuda.synchronize()`, the first step is a warm-up, and
only wall time is reported (process CPU time measures the work on CPU only).
Requirements: torch, transformers, gguf (tested with torch 2.15, transformers 5.x).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Passive OpenMP waiting: spinning threads distort timings on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
import hypermod_reference as hr  # noqa: E402
from bench_device import (DTYPES, cpu_clock_meaningful, describe, load_smollm2,  # noqa: E402
                          pick_device, sync)

RANK, ALPHA, LORA_DROPOUT = 8, 16.0, 0.05
SCALING = ALPHA / RANK ** 0.5  # rsLoRA
LABEL_SMOOTHING, NEFTUNE_ALPHA, L2 = 0.1, 5.0, 1e-3


def gen_batched(hyper, emb):
    """emb [bs, E] -> {module: (A [bs, L, r, d_in], B [bs, L, d_out, r])}, with gradients.

    The reference's training path: every (row, layer) pair of one module in one batched call."""
    bs, n = emb.shape[0], hyper.n_layers
    enc = hyper.task_encoder(emb).repeat_interleave(n, 0)  # [bs*L, D/2]
    depth = hyper.layer_depth_encoder(torch.arange(n, device=emb.device)).repeat(bs, 1)
    out = {}
    for i, (m, (di, do)) in enumerate(hyper.shapes.items()):
        typ = hyper.layer_type_encoder(torch.tensor([i], device=emb.device)).expand(bs * n, -1)
        z = hyper.mlp1(hyper.mixer(torch.cat([enc, depth, typ], dim=-1)))
        head = hyper.heads[m]
        parts = []
        for e, k in zip(hyper.out_emb[m].values(), [di, do]):  # M: A then B through one head
            h = hyper.mlp2(z + hyper.out_emb_norm(e))
            y = head(hyper.mlp3(h)).view(bs * n, RANK, -1)[..., :k]
            parts.append(y.reshape(bs, n, RANK, k))
        a, b = parts
        out[m] = (a, b.transpose(2, 3))
    return out


def add_hooks(model, loras, repeat_interleave):
    handles = []
    for li, layer in enumerate(model.model.layers):
        for m, (a_all, b_all) in loras.items():
            a, b = a_all[:, li], b_all[:, li]  # [bs, r, d_in], [bs, d_out, r]

            def hook(_mod, inp, out, a=a, b=b):
                x = F.dropout(inp[0], LORA_DROPOUT, training=True)
                a, b = a.to(x.dtype), b.to(x.dtype)  # f32 adapters, reduced-precision base
                if repeat_interleave:  # the reference's hooks.py
                    bs, seq, _ = x.shape
                    at = a.transpose(1, 2).repeat_interleave(seq, 0)  # [bs*seq, d_in, r]
                    bt = b.transpose(1, 2).repeat_interleave(seq, 0)  # [bs*seq, r, d_out]
                    d = torch.bmm(torch.bmm(x.reshape(bs * seq, 1, -1), at), bt)
                    return out + d.reshape(bs, seq, -1) * SCALING
                return out + torch.bmm(torch.bmm(x, a.transpose(1, 2)), b.transpose(1, 2)) * SCALING

            handles.append(getattr(layer.self_attn, m).register_forward_hook(hook))
    return handles


def neftune_hook(_mod, _inp, out):
    dims = out.size(1) * out.size(2)
    mag = NEFTUNE_ALPHA / dims ** 0.5
    return out + torch.zeros_like(out).uniform_(-mag, mag)


class TorchStep:
    """The PyTorch side, set up once per thread count (model, hypernetwork, optimizer, batch)."""

    def __init__(self, batch, threads, repeat_interleave, device=torch.device("cpu"),
                 dtype=torch.float32, random_weights=False):
        torch.set_num_threads(threads)
        model = load_smollm2(dtype, device, random_weights)
        torch.manual_seed(0)
        model.train()
        for p in model.parameters():
            p.requires_grad_(False)
        model.model.embed_tokens.register_forward_hook(neftune_hook)
        hr.EMB = batch["emb_dim"]
        shapes = {"q_proj": (576, 576), "v_proj": (576, 192)}
        hyper = hr.Hyper("M", model.config.num_hidden_layers, shapes).to_device(device)
        hyper.train()
        self.params = [p for p in hyper.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=1e-4, weight_decay=0.01)
        self.model, self.hyper, self.threads = model, hyper, threads
        self.repeat_interleave = repeat_interleave
        self.device = device

        rows = batch["rows"]
        seq = batch["seq"]
        self.ids = torch.full((len(rows), seq), batch["pad_id"], dtype=torch.long)
        self.attn = torch.zeros((len(rows), seq), dtype=torch.long)
        self.labels = torch.full((len(rows), seq), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            t = torch.tensor(r["ids"])
            self.ids[i, : len(t)] = t
            self.attn[i, : len(t)] = 1
            self.labels[i, r["n_prompt"]: len(t)] = t[r["n_prompt"]:]
        self.emb = torch.tensor(batch["emb"], dtype=torch.float32)
        self.ids, self.attn, self.labels, self.emb = (t.to(device) for t in
                                                      (self.ids, self.attn, self.labels, self.emb))

    def steps(self, steps):
        torch.set_num_threads(self.threads)
        out = []
        for step in range(steps):
            sync(self.device)
            w0, c0 = time.perf_counter(), time.process_time()
            loras = gen_batched(self.hyper, self.emb)
            handles = add_hooks(self.model, loras, self.repeat_interleave)
            logits = self.model(input_ids=self.ids, attention_mask=self.attn).logits  # [bs, seq, V]
            for h in handles:
                h.remove()
            shift_logits, shift_labels = logits[:, :-1], self.labels[:, 1:]
            shift_logits = shift_logits.float()  # the loss in f32 whatever the base's dtype
            tok = F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1),
                                  ignore_index=-100, label_smoothing=LABEL_SMOOTHING, reduction="none")
            tok = tok.view(shift_labels.shape)
            n = (shift_labels != -100).sum(1).clamp(min=1)
            ce = (tok.sum(1) / n).mean()
            l2 = sum(a.pow(2).mean() + b.pow(2).mean() for a, b in loras.values())
            loss = ce + L2 * l2
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.params, 1.0)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            sync(self.device)
            w, c = time.perf_counter() - w0, time.process_time() - c0
            rec = {"wall_s": w}
            if cpu_clock_meaningful(self.device):
                rec["cpu_s"] = c
            print(f"  torch step {step}: loss {loss.item():.4f} grad norm {norm.item():.3f} "
                  + " ".join(f"{k[:-2]} {v:.4f} s" for k, v in rec.items()), flush=True)
            out.append(rec)
        return out


def rust_steps(args, binary, threads, dump):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    cmd = [binary, "t2l", args.config, "--steps", str(args.steps), "--first-step",
           str(args.first_step), "--repeat-batch"]
    if dump:
        cmd += ["--dump-batch", dump]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    out = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            p = json.loads(line)["profile"]
            w = sum(ph["wall_s"] for ph in p["phases"])
            c = sum(ph["cpu_s"] for ph in p["phases"])
            print(f"  rust step: loss {p['loss']:.4f} wall {w:.3f} s cpu {c:.3f} s "
                  + " ".join(f"{ph['name']} {ph['wall_s']:.2f}" for ph in p["phases"]), flush=True)
            out.append({"wall_s": w, "cpu_s": c, "phases": p["phases"]})
    return out


def summary(steps):
    """Medians over the counted steps (each run's first step is a warm-up)."""
    return {k: statistics.median(s[k] for s in steps) for k in ("wall_s", "cpu_s") if k in steps[0]}


def bench_batch(tasks, seq, response, task_dim, vocab, seed=0):
    """The batch `t2l bench sft-step` trains on (t2l_bench::SftStepSpec::batch and
    t2l_bench::llm::prompt_ids), in this script's dumped-batch format; embeddings random normal."""
    if tasks < 1 or not 1 <= response < seq:
        sys.exit(f"error: need tasks >= 1 and 1 <= response < seq (got {tasks}, {seq}, {response})")
    span = max(vocab - 3, 1)
    rows = [{"ids": [3 + (i * 7919 + 13) % span for i in range(row, row + seq)],
             "n_prompt": seq - response} for row in range(tasks)]
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(tasks, task_dim, generator=gen).tolist()
    return {"rows": rows, "seq": seq, "pad_id": 0, "emb": emb, "emb_dim": task_dim}


def torch_only(args):
    """PyTorch alone on `--device` with the `t2l bench sft-step` batch: per-step times, tokens/s."""
    device = pick_device(args.device)
    vocab = 49152  # SmolLM2-135M-Instruct
    batch = bench_batch(args.tasks, args.seq, args.response, args.task_dim, vocab)
    threads = int(args.threads.split(",")[0])
    print(f"torch {torch.__version__}, {describe(device)}, base {args.dtype}, {threads} thread(s), "
          f"batch {args.tasks} tasks x {args.seq} tokens ({args.response} targets), load "
          f"{load_average()}", flush=True)
    step = TorchStep(batch, threads, args.repeat_interleave, device, DTYPES[args.dtype],
                     args.random_weights)
    step.steps(1)  # warm-up, not counted
    counted = step.steps(args.steps)
    med = summary(counted)
    tokens = args.tasks * args.seq
    res = {"device": describe(device), "dtype": args.dtype,
           "weights": "random" if args.random_weights else "gguf", "threads": threads,
           "tasks": args.tasks,
           "seq": args.seq, "response": args.response, "task_dim": args.task_dim,
           "median": med, "tokens_per_s": tokens / med["wall_s"], "steps": counted,
           "load_average": load_average()}
    if device.type == "cuda":
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(f"-> torch {med['wall_s']:.4f} s per step (median of {len(counted)}, wall), "
          f"{res['tokens_per_s']:.0f} tokens/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


def load_average():
    return round(os.getloadavg()[0], 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rust-bin", action="append",
                    help="the built sft_step_profile example (CPU); repeat to interleave several "
                         "builds (e.g. before and after a change); the first is compared with "
                         "PyTorch. Without it: PyTorch alone on the `t2l bench sft-step` batch")
    ap.add_argument("--config", default="configs/t2l_sft_smollm2_minilm_m.toml")
    ap.add_argument("--steps", type=int, default=3,
                    help="steps per run; the first step of every run is a warm-up, not counted")
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternations per thread count: rust, (other rust builds,) torch, rust, ...")
    ap.add_argument("--first-step", type=int, default=0, help="which training batch to use")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat-interleave", action="store_true",
                    help="the reference's literal repeat_interleave hook instead of a batched matmul")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="PyTorch's device (cuda only without --rust-bin)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                    help="dtype of the frozen base (t2l's --precision f32|f16|bf16)")
    ap.add_argument("--tasks", type=int, default=8, help="without --rust-bin: batch rows")
    ap.add_argument("--seq", type=int, default=128, help="without --rust-bin: tokens per row")
    ap.add_argument("--response", type=int, default=32, help="without --rust-bin: targets per row")
    ap.add_argument("--task-dim", type=int, default=384, help="without --rust-bin: embedding width")
    ap.add_argument("--random-weights", action="store_true",
                    help="without --rust-bin: a random base of SmolLM2-135M's config instead of the "
                         "GGUF (the pair of `t2l bench sft-step --random-weights`)")
    args = ap.parse_args()
    if not args.rust_bin:
        torch_only(args)
        return
    if args.device != "cpu" or args.dtype != "float32":
        ap.error("--rust-bin runs the CPU (flex, f32) trainer example; for CUDA or another dtype "
                 "leave it out and run `t2l --device cuda bench sft-step` beside this script")
    dump = os.path.join(tempfile.mkdtemp(), "batch.json")
    bins = args.rust_bin
    results = []
    for i, threads in enumerate(int(t) for t in args.threads.split(",")):
        rust = {b: [] for b in bins}
        pt, loads, torch_side = [], [], None
        for rnd in range(args.rounds):
            for j, binary in enumerate(bins):
                loads.append(load_average())
                print(f"== {threads} thread(s), round {rnd}: rust {binary} (load {loads[-1]})", flush=True)
                first = i == 0 and rnd == 0 and j == 0
                rust[binary] += rust_steps(args, binary, threads, dump if first else None)[1:]
            if torch_side is None:
                with open(dump) as f:
                    batch = json.load(f)
                if i == 0:
                    toks = sum(len(r["ids"]) for r in batch["rows"])
                    print(f"batch: {len(batch['rows'])} rows padded to {batch['seq']}, {toks} tokens",
                          flush=True)
                torch_side = TorchStep(batch, threads, args.repeat_interleave)
                torch_side.steps(1)  # first use: warm-up, not counted
            loads.append(load_average())
            print(f"== {threads} thread(s), round {rnd}: torch (load {loads[-1]})", flush=True)
            pt += torch_side.steps(args.steps)[1:]
        p = summary(pt)
        res = {"threads": threads, "torch": p, "torch_steps": pt, "load_averages": loads, "rust": {}}
        for binary in bins:
            r = summary(rust[binary])
            res["rust"][binary] = {"median": r, "ratio_wall": r["wall_s"] / p["wall_s"],
                                   "ratio_cpu": r["cpu_s"] / p["cpu_s"], "steps": rust[binary]}
            print(f"-> {threads} thread(s): rust {binary}: {r['wall_s']:.2f} s wall / {r['cpu_s']:.2f} s cpu, "
                  f"torch {p['wall_s']:.2f} s wall / {p['cpu_s']:.2f} s cpu; rust/torch "
                  f"{r['wall_s'] / p['wall_s']:.2f} (wall), {r['cpu_s'] / p['cpu_s']:.2f} (cpu) "
                  f"[medians of {len(rust[binary])} and {len(pt)} steps; load {min(loads)}-{max(loads)}]",
                  flush=True)
        results.append(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
