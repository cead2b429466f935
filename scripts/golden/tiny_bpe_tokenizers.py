#!/usr/bin/env python3
"""Golden fixtures for the `llama-bpe` and `qwen2` GGUF pre-tokenizers of base-llm's tokenizer.

No real Llama-3 or Qwen2 GGUF is among the project's assets, so this script makes two tiny ones:
a byte-level BPE of 700 tokens is trained (python `tokenizers`, deterministic corpus below) and
written with gguf-py as `tokenizer.ggml.*` metadata of a metadata-only llama GGUF, once with
`pre = llama-bpe` (BOS added, Llama-3 control tokens) and once with `pre = qwen2` (no BOS, a
user-defined `<think>` token). transformers then rebuilds each tokenizer from its GGUF
(`AutoTokenizer.from_pretrained(dir, gguf_file=...)`, offline) and the token ids of a set of
strings (digits, contractions, code, accents, CJK, emoji, newlines, special tokens) are recorded.

Outputs, in `crates/base-llm/tests/fixtures/text/`: `tiny_llama_bpe.gguf`, `tiny_qwen2.gguf` and
`tiny_bpe_tokenizers.json`. Checked by `crates/base-llm/tests/text_tokenizer_families_golden.rs`.

Requirements: transformers (tested 5.23.0), tokenizers (0.23.3), gguf (0.19.0).
Run from the repository root:  python3 scripts/golden/tiny_bpe_tokenizers.py
"""
import json
import os

import gguf
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "crates", "base-llm", "tests", "fixtures", "text")

CONTROL = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>"]
USER_DEFINED = ["<think>"]

TEXTS = [
    "the quick brown fox",
    "In 2024, 1234567 people paid $3.50 each; 12,345.678 total.",
    "I'M sure you'RE right, they'll see it's John's.",
    "def f12(x):\n    return x * 12 + 3\n\n\n",
    "Café naïve Zürich 東京 北京 😀😀 🎉",
    "  multiple   spaces\tand\ttabs\r\nline\n",
    "<|begin_of_text|>Hello<|eot_id|><|im_start|>user\nhi<|im_end|>",
    "think <think>reasoning</think> done",
    "Roman Empire history: 98 CE to 117 CE!!!",
    "",
]


def corpus():
    words = (
        "the quick brown fox jumps over lazy dog Paris France capital history Roman Empire "
        "function return value number people paid each total reasoning think"
    ).split()
    out = []
    for i in range(400):
        out.append(" ".join(words[(i * 7 + j) % len(words)] for j in range(8)) + f" {i * 37} {i * i} I'm you're they'll it's")
        out.append(f"def f{i}(x):\n    return x * {i} + {i % 10}\n")
        out.append("Café naïve Zürich 東京 北京 😀 " * (i % 3))
    return out


def train_bpe():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=CONTROL,
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    assert [i for _, i in vocab] == list(range(len(tokens)))
    tokens += USER_DEFINED
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    types = [3 if t in CONTROL else 4 if t in USER_DEFINED else 1 for t in tokens]
    return tokens, types, merges


def write_gguf(path, pre, tokens, types, merges, bos, eos, add_bos):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(f"tiny {pre} tokenizer")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index(bos))
    w.add_eos_token_id(tokens.index(eos))
    w.add_add_bos_token(add_bos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    tokens, types, merges = train_bpe()
    cases = [
        ("llama-bpe", "tiny_llama_bpe.gguf", "<|begin_of_text|>", "<|eot_id|>", True),
        ("qwen2", "tiny_qwen2.gguf", "<|im_start|>", "<|im_end|>", False),
    ]
    out = {"source": f"transformers {transformers.__version__} AutoTokenizer gguf_file=", "families": []}
    for pre, name, bos, eos, add_bos in cases:
        path = os.path.join(FIX, name)
        write_gguf(path, pre, tokens, types, merges, bos, eos, add_bos)
        tok = AutoTokenizer.from_pretrained(FIX, gguf_file=name, local_files_only=True)
        encode = [
            {
                "text": t,
                "ids": tok.encode(t, add_special_tokens=True),
                "ids_no_special": tok.encode(t, add_special_tokens=False),
            }
            for t in TEXTS
        ]
        out["families"].append({"pre": pre, "gguf": name, "encode": encode})
    with open(os.path.join(FIX, "tiny_bpe_tokenizers.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", FIX, len(tokens), "tokens", len(merges), "merges")


if __name__ == "__main__":
    main()
