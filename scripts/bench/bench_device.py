"""Device and dtype selection plus GPU-correct timing for the scripts in scripts/bench/.

`pick_device("cuda")` exits with one line when PyTorch sees no CUDA device; `sync(device)` waits
for queued GPU work (a no-op on CPU) and must bracket every timed region on CUDA, since kernel
launches return before the work is done. Process CPU time is only meaningful on CPU: on CUDA the
host thread mostly waits, so `cpu_clock_meaningful` is false there and callers report wall time.
"""
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
