"""Device and dtype selection plus GPU-correct timing for the scripts in scripts/bench/.

`pick_device("cuda")` exits with one line when PyTorch sees no CUDA device; `sync(device)` waits
for queued GPU work (a no-op on CPU) and must bracket every timed region on CUDA, since kernel
launches return before the work is done. Process CPU time is only meaningful on CPU: on CUDA the
host thread mostly waits, so `cpu_clock_meaningful` is false there and callers report wall time.
"""
import os
import sys

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_device(name):
    """'cpu' or 'cuda' -> torch.device; one-line exit if CUDA is asked for but unavailable."""
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: --device cuda requested but torch.cuda.is_available() is false "
                 f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
    return torch.device(name)


def sync(device):
    """Waits for all queued work on `device` (CUDA); nothing to wait for on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_clock_meaningful(device):
    """Process CPU time measures the work only on CPU."""
    return device.type == "cpu"


def describe(device):
    """'cpu' or 'cuda (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))

# SmolLM2-135M-Instruct's config. Its Rust twin `base_llm::LlamaConfig::smollm2_135m` is tested
# equal to the config read from the GGUF; this dict was checked against transformers' config of
# the GGUF (5.23): the same in every field that shapes the computation (the file's eps is 1e-5
# rounded to f32; rope_theta lands in rope_parameters, as here).
SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, head_dim=64,
                    max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
                    tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)


def load_smollm2(dtype, device, random_weights=False):
    """SmolLM2-135M-Instruct in `dtype` on `device`: the GGUF in assets/ dequantised to a plain dense
    model (`GgufConfig(dequantize=True)`, never GGUF blocks kept packed), or, with
    `random_weights`, a randomly initialised model of the same config (`t2l bench
    --random-weights`: the same work per token, no file needed)."""
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if random_weights:
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M)).to(dtype)
    else:
        from transformers.utils.quantization_config import GgufConfig

        model = AutoModelForCausalLM.from_pretrained(
            os.path.join(ASSETS, "smollm2-135m-instruct"),
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=dtype,
            quantization_config=GgufConfig(dequantize=True))
    return model.to(device)
