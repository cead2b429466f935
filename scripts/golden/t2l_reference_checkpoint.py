#!/usr/bin/env python3
"""Golden fixtures for hypermod's import of reference (SakanaAI/text-to-lora) checkpoints.

Requirements: torch, PyYAML (tested with torch 2.15, PyYAML 6.0). No network, no reference code:
the hypernetwork maths of the public reference (github:SakanaAI/text-to-lora, commit 8ba7749,
`src/hyper_llm_modulator/hyper_modulator.py`) is re-implemented below, function by function, with
the reference's module names so that `state_dict()` yields exactly the reference's keys.

For each variant it writes a SMALL reference-format checkpoint directory under
`crates/hypermod/tests/fixtures/reference/<case>/`:

- `hypermod.pt`         `torch.save(hypermod.state_dict())`, random weights (every parameter,
                        LayerNorms included, is randomised so that every key matters);
- `args.yaml`           `yaml.dump(vars(args))` of the reference's `TrainingArguments` fields
                        (incl. `save_freq: 10**100`, which overflows 64-bit integers);
- `adapter_config.json` the PEFT `LoraConfig` the reference writes next to it;
- `module_order.json`   (only some cases) the module-type embedding order;
- `expected.json`       task embeddings and the A/B the reference maths generates for them.

Tiny layout: 3 layers, q_proj 16→16, v_proj 16→8, r = 2, E = 12, D = 16, H = 24.

Cases (each exercises a different generation path of the reference's `gen_lora`):

- `l_sft_offset`  L head (`shared_AB_head=False`), SFT with a multi-task LoRA (`mt_lora_path` set ⇒
                  no head bias), non-zero `AB_offset` added to A and B; `module_order.json` =
                  [v_proj, q_proj] differs from adapter_config's order.
- `m_recon_zscore` M head (`shared_AB_head=True`), reconstruction with factorised z-scores
                  (`pred_z_score=True, factorized=True` ⇒ no head bias): `A·(std+1e-10)+mean`, then
                  `+ AB_offset` (zeros); module order from adapter_config (no module_order.json).
- `s_sft`         S head (`shared_AB_head=True, autoreg_gen=True`), SFT without a multi-task LoRA
                  (head bias present), zero `AB_offset`; adapter_config order [v_proj, q_proj].
- `l_recon_delta_w` L head, reconstruction on ΔW (`pred_z_score=False, factorized=False`, head
                  bias present): each factor `/ √delta_w_scaling` (= /100); the (random) mean/std
                  stacks are saved but unused.

Faithfulness: the reference's own `HyperModulator` methods (`_embed_layer_depth`,
`_embed_layer_type`, `_hypernet_forward`, `get_delta_weights`, `gen_lora`, `convert_to_raw_scale`,
extracted from the fetched source and bound to these modules, with transformers' own
`LlamaRotaryEmbedding`) were run once on the written fixtures: they reproduce `expected.json`
bit for bit (max |diff| 0 for all three cases). That check needs the fetched reference source and is
not part of this script.

Run from the repository root:  python3 scripts/golden/t2l_reference_checkpoint.py
"""
import json
import math
import os

import torch
import torch.nn as nn
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "crates", "hypermod", "tests", "fixtures", "reference")

N_LAYERS = 3
SHAPES = {"q_proj": (16, 16), "v_proj": (16, 8)}  # module -> (d_in, d_out)
RANK = 2
EMB = 12  # E: task-embedding width
LATENT = 16  # D: hypernet_latent_size
HEAD_IN = 24  # H: head_in_size
N_EMBEDDINGS = 3


# --- reference modules (names as in hyper_modulator.py) -------------------------------------------


class TaskEncoder(nn.Module):
    """hyper_modulator.py: TaskEncoder (encoder_type="linear"): Linear(E, D/2) + LayerNorm(D/2)."""

    def __init__(self, task_emb_size, encoded_task_emb_size):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(task_emb_size, encoded_task_emb_size), nn.LayerNorm(encoded_task_emb_size)
        )

    def forward(self, x):
        return self.mlp(x)


class MLPResidualBlock(nn.Module):
    """hyper_modulator.py: MLPResidualBlock(pre_layer_norm=True, post_dropout=True): x + mlp(x)."""

    def __init__(self, d):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(d),
            nn.Linear(d, 4 * d),
            nn.SiLU(),
            nn.Dropout(0.05),
            nn.Linear(4 * d, d),
            nn.SiLU(),
            nn.Dropout(0.05),
        )

    def forward(self, x):
        return x + self.mlp(x)


def zero_lora_param_dict(modules, n_layers, r):
    """hyper_modulator.py: zero_lora_param_dict: A [n_layers, r, d_in], B [n_layers, d_out, r]."""
    return nn.ParameterDict(
        {
            "A": nn.ParameterDict(
                {m: nn.Parameter(torch.zeros(n_layers, r, SHAPES[m][0]), requires_grad=False) for m in modules}
            ),
            "B": nn.ParameterDict(
                {m: nn.Parameter(torch.zeros(n_layers, SHAPES[m][1], r), requires_grad=False) for m in modules}
            ),
        }
    )


def rotate_half(x):
    """hyper_modulator.py: rotate_half (copied there from transformers' Llama)."""
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(dim, r):
    """transformers 4.46.2 LlamaRotaryEmbedding(dim=D, max_position_embeddings=64), default rope:
    inv_freq = 1 / base^(arange(0, dim, 2)/dim), base 10000; freqs = pos ⊗ inv_freq (f32);
    emb = cat(freqs, freqs); cos/sin × attention_scaling (1.0). The buffer is not persistent."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    pos = torch.arange(r).float()[None, :]  # position_ids = arange(r).unsqueeze(0)
    freqs = (inv_freq[None, :, None] @ pos[:, None, :]).transpose(1, 2)  # [1, r, dim/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class RefHyperModulator(nn.Module):
    """The parameters of hyper_modulator.py: HyperModulator.__init__ (encoder_type="linear",
    output_space="lora", learnable_pos_emb=False), in the reference's attribute order."""

    def __init__(self, target_modules, module_order, shared_ab, autoreg, head_bias, training_task,
                 pred_z_score, factorized, delta_w_scaling=10000):
        super().__init__()
        self.delta_w_scaling = delta_w_scaling
        d = LATENT
        self.target_modules = target_modules  # peft_config.target_modules (ParameterDict order)
        self.module_to_int = {m: i for i, m in enumerate(module_order)}
        self.shared_ab, self.autoreg = shared_ab, autoreg
        self.training_task, self.pred_z_score, self.factorized = training_task, pred_z_score, factorized
        self.AB_offset = zero_lora_param_dict(target_modules, N_LAYERS, RANK)
        self.mean_recon_target = zero_lora_param_dict(target_modules, N_LAYERS, RANK)
        self.std_recon_target = zero_lora_param_dict(target_modules, N_LAYERS, RANK)
        self.task_encoder = TaskEncoder(EMB, d // 2)
        self.layer_depth_encoder = nn.Sequential(nn.Embedding(N_LAYERS, d // 4), nn.LayerNorm(d // 4))
        self.layer_type_encoder = nn.Sequential(nn.Embedding(len(target_modules), d // 4), nn.LayerNorm(d // 4))
        self.mixer = nn.Sequential(
            nn.Dropout(0.05), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05), nn.Linear(4 * d, d), nn.SiLU(),
            nn.Dropout(0.05),
        )
        self.mlp1 = MLPResidualBlock(d)
        self.mlp2 = MLPResidualBlock(d)
        self.mlp3 = nn.Sequential(
            nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Dropout(0.05), nn.Linear(4 * d, HEAD_IN), nn.SiLU()
        )
        if shared_ab:
            self.out_emb = nn.ParameterDict(
                {m: nn.ParameterDict({"A": nn.Parameter(torch.randn(d)), "B": nn.Parameter(torch.randn(d))})
                 for m in target_modules}
            )
            self.out_emb_norm = nn.LayerNorm(d)
        heads = {}
        for m in target_modules:
            d_in, d_out = SHAPES[m]
            if not shared_ab:
                size = RANK * (d_in + d_out)
            else:
                size = max(d_in, d_out) if autoreg else RANK * max(d_in, d_out)
            heads[m] = nn.Linear(HEAD_IN, size, bias=head_bias)
        self.heads = nn.ModuleDict(heads)

    # hyper_modulator.py: HyperModulator._hypernet_forward (eval mode: dropout is the identity)
    def hypernet_forward(self, layer_indices, layer_type, encoded_task_emb):
        bs = len(layer_indices)
        depth_emb = self.layer_depth_encoder(layer_indices)
        type_idx = torch.tensor([self.module_to_int[layer_type]])
        type_emb = self.layer_type_encoder(type_idx).expand(bs, -1)
        cat_emb = torch.cat([encoded_task_emb, depth_emb, type_emb], dim=-1)
        mlp_out = self.mlp1(self.mixer(cat_emb))
        head = self.heads[layer_type]
        d_in, d_out = SHAPES[layer_type]
        if not self.shared_ab:
            assert not self.autoreg, "L + autoreg is not one of the paper's variants"
            head_out = head(self.mlp3(self.mlp2(mlp_out)))
            # split_shapes = [len(vec(A0)), len(vec(B0))] = [r·d_in, d_out·r]
            return list(torch.split(head_out, [RANK * d_in, d_out * RANK], dim=-1))
        out = []
        for out_emb, n in zip(self.out_emb[layer_type].values(), [d_in, d_out]):  # A first, then B
            head_in = self.mlp2(mlp_out + self.out_emb_norm(out_emb))
            if not self.autoreg:  # M
                head_out = head(self.mlp3(head_in)).view(bs, RANK, -1)[..., :n]
            else:  # S: broadcast to r rows, rotary over the rank index, mlp2 a second time
                head_in = head_in.unsqueeze(1).expand(-1, RANK, -1)
                cos, sin = rope_cos_sin(LATENT, RANK)
                head_in = self.mlp2(head_in * cos + rotate_half(head_in) * sin)
                head_out = head(self.mlp3(head_in))[..., :n]
            out.append(head_out.reshape(bs, RANK * n))
        return out

    # hyper_modulator.py: get_delta_weights(factorized=True) + gen_lora + convert_to_raw_scale
    def gen_lora(self, encoded_task_emb):
        layer_indices = torch.arange(N_LAYERS)
        bs = N_LAYERS
        out = {}
        for m in self.target_modules:
            d_in, d_out = SHAPES[m]
            a, b = self.hypernet_forward(layer_indices, m, encoded_task_emb.expand(bs, -1))
            a = a.reshape(bs, RANK, d_in)
            b = b.reshape(bs, RANK, d_out).transpose(-1, -2)
            if self.training_task == "sft":
                a = a + self.AB_offset["A"][m][layer_indices]
                b = b + self.AB_offset["B"][m][layer_indices]
            elif self.factorized:  # recon: convert_to_raw_scale, factorised targets
                if self.pred_z_score:
                    a = a * (self.std_recon_target["A"][m] + 1e-10) + self.mean_recon_target["A"][m]
                    b = b * (self.std_recon_target["B"][m] + 1e-10) + self.mean_recon_target["B"][m]
                a = a + self.AB_offset["A"][m]
                b = b + self.AB_offset["B"][m]
            else:  # recon: convert_to_raw_scale, ΔW targets
                assert not self.pred_z_score, "the reference raises NotImplementedError here"
                a = a / math.sqrt(self.delta_w_scaling)
                b = b / math.sqrt(self.delta_w_scaling)
            out[m] = (a, b)
        return out


# --- fixtures ------------------------------------------------------------------------------------


def randomise(model, gen, offset, recon):
    """Every parameter random (LayerNorm weights near 1), so a key mapped wrongly shows up."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("AB_offset."):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen) if offset else 0)
            elif name.startswith("mean_recon_target."):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen) if recon else 0)
            elif name.startswith("std_recon_target."):
                p.copy_(0.02 + 0.1 * torch.rand(p.shape, generator=gen) if recon else 0)
            elif p.dim() == 2 and "encoder" not in name:  # Linear weights
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            elif p.dim() == 2:  # Embedding / encoder weights
                p.copy_(torch.randn(p.shape, generator=gen) / (math.sqrt(p.shape[1]) if "task" in name else 1))
            elif name.endswith(".weight"):  # LayerNorm weight
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:  # biases, out_emb
                p.copy_((1.0 if "out_emb." in name else 0.1) * torch.randn(p.shape, generator=gen))


def args_yaml(variant, training_task, mt_lora_path, pred_z_score, factorized, target_modules):
    """`vars(args)` of the reference's TrainingArguments (configs.py) as the training scripts save it."""
    args = {
        "config": "configs/hyper_lora_decontam_lol_tasks.yaml", "training_task": training_task,
        "model_dir": "tiny/llama-3L-16", "emb_model": "Alibaba-NLP/gte-large-en-v1.5",
        "exp_setup": "hyper_lora", "sft_mode": "completion", "equally_weight_sample": True,
        "train_ds_names": ["lol_task001", "lol_task002"], "n_train_ds": 2, "n_descs_per_ds": 128,
        "inp_max_len": 512, "target_modules": target_modules,
        "shared_AB_head": variant in ("M", "S"), "autoreg_gen": variant == "S", "learnable_pos_emb": False,
        "learnable_AB_offset": False, "hypernet_latent_size": LATENT, "head_in_size": HEAD_IN,
        "head_use_bias": False, "use_per_task_emb": True, "use_one_hot_task_emb": False,
        "use_inp_as_desc": False, "use_per_sample_desc": False, "use_default_desc": False,
        "n_points_per_task": 1, "use_hierarchical_sampler": False, "also_val_on_train": False,
        "lr": 2.5e-05, "weight_decay": 0.01, "label_smoothing": 0.1, "grad_accum_steps": 1, "epochs": 20000,
        "batch_size": 8, "val_batch_size": 64, "warmup_frac": 0.2, "neftune_noise_alpha": 5,
        "max_grad_norm": 1.0, "logging_freq": 100, "val_freq": 10000, "model_watch_freq": 5000,
        "save_freq": 10**100, "seed": 42, "debug": False, "notes": None, "keep_only_best": True,
        "skip_eval": False, "eval_ds_info": {"arc_easy": {"ds_kwargs": {"name": "ARC-Easy"}, "descriptions": ["x"]}},
        "additional_eval_descs": None, "save_to_base_model_dir": False, "n_tasks_per_batch": 8,
        "mt_lora_path": mt_lora_path, "encoder_type": "linear", "n_embs_per_sampled_task": None,
        "pred_z_score": pred_z_score, "factorized": factorized, "delta_w_scaling": 10000,
        "run_name": f"tiny_{variant}", "save_dir": f"train_outputs/{training_task}/hyper_lora/tiny_{variant}",
        "use_hypernet": True,
    }
    return yaml.dump(args)


def adapter_config(target_modules):
    """The PEFT LoraConfig the reference saves (utils/model_loading.py:get_peft_config: alpha = 2r,
    rsLoRA, dropout 0.05), with the target list in the order of the process that wrote it."""
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tiny/llama-3L-16",
        "bias": "none", "fan_in_fan_out": False, "inference_mode": False, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
        "loftq_config": {}, "lora_alpha": 2 * RANK, "lora_dropout": 0.05, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": RANK,
        "rank_pattern": {}, "revision": None, "target_modules": target_modules, "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": True,
    }


CASES = [
    # name, variant, task, mt_lora_path, pred_z, factorized, adapter_config order, module_order.json, bias
    ("l_sft_offset", "L", "sft", "train_outputs/sft/mt_lora/tiny", True, False, ["q_proj", "v_proj"],
     ["v_proj", "q_proj"], False),
    ("m_recon_zscore", "M", "recon", None, True, True, ["q_proj", "v_proj"], None, False),
    ("s_sft", "S", "sft", None, True, False, ["v_proj", "q_proj"], None, True),
    ("l_recon_delta_w", "L", "recon", None, False, False, ["q_proj", "v_proj"], None, True),
]


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def main():
    for i, (name, variant, task, mt, pred_z, fact, targets, order, bias) in enumerate(CASES):
        torch.manual_seed(100 + i)
        gen = torch.Generator().manual_seed(200 + i)
        model = RefHyperModulator(
            targets, order or targets, shared_ab=variant != "L", autoreg=variant == "S", head_bias=bias,
            training_task=task, pred_z_score=pred_z, factorized=fact,
        )
        randomise(model, gen, offset=mt is not None, recon=task == "recon")
        model.eval()

        d = os.path.join(FIX, name)
        os.makedirs(d, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(d, "hypermod.pt"))
        with open(os.path.join(d, "args.yaml"), "w") as f:
            f.write(args_yaml(variant, task, mt, pred_z, fact, targets))
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(adapter_config(targets), f, indent=2)
        order_path = os.path.join(d, "module_order.json")
        if order:
            with open(order_path, "w") as f:
                json.dump(order, f)
        elif os.path.exists(order_path):
            os.remove(order_path)

        # Task embeddings as the reference makes them: L2-normalised, times sqrt(E).
        embs = torch.nn.functional.normalize(torch.randn(N_EMBEDDINGS, EMB, generator=gen), dim=-1) * math.sqrt(EMB)
        adapters = []
        worst = 0.0
        with torch.no_grad():
            for e in embs:
                enc = model.task_encoder(e[None])  # generate_lora.py: hypermod.task_encoder(task_emb)
                lora = model.gen_lora(enc)
                # The same maths in float64: how far float32 rounding alone moves the result.
                model64 = RefHyperModulator(targets, order or targets, variant != "L", variant == "S", bias, task,
                                            pred_z, fact).double()
                model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
                model64.eval()
                lora64 = model64.gen_lora(model64.task_encoder(e[None].double()))
                for m in targets:
                    for x32, x64 in zip(lora[m], lora64[m]):
                        worst = max(worst, (x32.double() - x64).abs().max().item())
                adapters.append({m: {"A": flat(lora[m][0]), "B": flat(lora[m][1])} for m in targets})
        expected = {
            "variant": variant, "training_task": task, "n_layers": N_LAYERS, "rank": RANK,
            "modules": [{"name": m, "d_in": SHAPES[m][0], "d_out": SHAPES[m][1]} for m in targets],
            "module_order": order or targets, "emb_size": EMB, "latent_size": LATENT, "head_in_size": HEAD_IN,
            "head_bias": bias, "embeddings": [flat(e) for e in embs], "adapters": adapters,
            "f32_vs_f64_max_abs": worst,
        }
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(expected, f)
        print(f"{name}: {len(model.state_dict())} tensors, f32 vs f64 max |diff| {worst:.2e}")


if __name__ == "__main__":
    main()
