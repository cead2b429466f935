#!/usr/bin/env bash
# The GPU comparison of docs/performance.md ("Running the GPU comparison") in one script, for a
# CUDA machine that has PyTorch but neither Rust nor the model files: it takes a prebuilt
# `--features cuda` t2l and `backend_parity` test binary, and benchmarks the base model with
# random weights at SmolLM2-135M's shapes on both sides (`--random-weights`; throughput depends
# on the shapes only).
#
#   scripts/bench/gpu_comparison.sh PARTS [OUT_DIR]
#
# PARTS, comma-separated: `parity` (the backend parity tests, autotuning at its minimal level:
# they check numbers, not speed), `generate` (adapter generation, Rust and PyTorch), `sft` and
# `sft-bf16` (the T2L SFT step with an f32 / bf16 base), `llm` and `llm-half` (prefill and
# decode, f32 / bf16 and f16), or `all`.
# Binaries: T2L_BIN (default target/release/t2l) and PARITY_BIN (the test executable from
# `cargo test --release -p t2l-cli --features cuda --test backend_parity --no-run`).
# Each step has its own time limit (STEP_LIMIT seconds, default 240) and a failing step does not
# stop the others; every result lands in OUT_DIR (default /tmp/gpu) as JSON or a log.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
parts=,${1:?usage: gpu_comparison.sh PARTS [OUT_DIR]},
[[ $parts == ,all, ]] && parts=,parity,generate,sft,sft-bf16,llm,llm-half,
want() { [[ $parts == *,$1,* ]]; }
out=${2:-/tmp/gpu}
mkdir -p "$out"
T=${T2L_BIN:-target/release/t2l}
limit=${STEP_LIMIT:-240}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1

step() {  # step NAME COMMAND...: runs COMMAND under the limit, output to OUT/NAME.log
    local name=$1
    shift
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "== $name: exit $rc in $((SECONDS - t0)) s"
    tail -n 4 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
    --format=csv | tee "$out/gpu.txt"
if want parity; then
    CUBECL_AUTOTUNE_LEVEL=minimal step parity "${PARITY_BIN:?set PARITY_BIN}" --nocapture \
        --test-threads 1
fi
if want generate; then
    # Adapter generation, L/M/S (target: Mistral-7B L times_floor <= 3), one process per shape.
    for shape in mistral-7b smollm2-135m; do
        step "gen_rust_$shape" sh -c "$T --device cuda --json bench generate --shape $shape \
            --iters 20 --warmup 3 > $out/gen_rust_$shape.json"
    done
    step gen_torch python3 scripts/bench/hypermod_reference.py --device cuda --reps 20 \
        --json "$out/gen_torch.json"
fi
sft() {  # sft RUST_PRECISION TORCH_DTYPE: the T2L SFT step, 8 tasks x 128 tokens, M, E = 384
    step "sft_rust_$1" sh -c "$T --device cuda --json bench sft-step --random-weights \
        --precision $1 --iters 10 --warmup 2 > $out/sft_rust_$1.json"
    step "sft_torch_$1" python3 scripts/bench/sft_step_reference.py --device cuda --dtype "$2" \
        --random-weights --steps 10 --json "$out/sft_torch_$1.json"
}
llm() {  # llm RUST_PRECISION TORCH_DTYPE: prefill 128 tokens, decode 64 after a 128-token prompt
    step "dec_rust_$1" sh -c "$T --device cuda --json bench decode --random-weights \
        --prompt-tokens 128 --new-tokens 64 --iters 5 --precision $1 > $out/dec_rust_$1.json"
    step "pre_rust_$1" sh -c "$T --device cuda --json bench prefill --random-weights \
        --prompt-tokens 128 --iters 10 --precision $1 > $out/pre_rust_$1.json"
    step "llm_torch_$1" python3 scripts/bench/smollm2_bench.py --device cuda --dtype "$2" \
        --random-weights --prompt-tokens 128 --new-tokens 64 --repeats 5 \
        --json "$out/llm_torch_$1.json"
}
want sft && sft f32 float32
want sft-bf16 && sft bf16 bfloat16
want llm && llm f32 float32 && llm bf16 bfloat16
want llm-half && llm f16 float16
true
