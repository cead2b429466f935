"""Times one LoRA SFT step (forward + backward + AdamW) of SmolLM2-135M-Instruct in PyTorch, with
the same shapes as `cargo run -p trainers --example sft_step_bench`: batch 8 x 128 tokens, the last
32 of each row targets, LoRA r=8 alpha=16 rsLoRA on q_proj/v_proj (PEFT), AdamW, fp32, 2 threads.

python3 crates/trainers/scripts/torch_sft_step.py assets/smollm2-135m-instruct [steps]
"""
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

torch.set_num_threads(2)
torch.manual_seed(0)
model_dir = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
model = AutoModelForCausalLM.from_pretrained(
    model_dir, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", torch_dtype=torch.float32
)
model = get_peft_model(
    model,
    LoraConfig(r=8, lora_alpha=16, use_rslora=True, lora_dropout=0.05,
               target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
)
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
batch, seq, resp = 8, 128, 32
ids = torch.randint(0, 49152, (batch, seq))
labels = ids.clone()
labels[:, : seq - resp] = -100
times = []
for i in range(steps):
    t0 = time.perf_counter()
    out = model(input_ids=ids, labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    opt.zero_grad()
    times.append(time.perf_counter() - t0)
    print(f"step {i}: loss {out.loss.item():.4f} {times[-1]:.3f} s", flush=True)
warm = times[1:] or times
mean = sum(warm) / len(warm)
print(f'{{"framework": "pytorch {torch.__version__}", "s_per_step": {mean:.3f}, "tokens_per_s": {batch * seq / mean:.1f}}}')
