#!/usr/bin/env python3
"""Golden fixture for base-llm's tokenizer rebuilt from GGUF metadata, against transformers.

Requirements: transformers (>= 4.45, with its GGUF tokenizer conversion), gguf, tokenizers.
Tested with transformers 5.23.0, tokenizers 0.23.3, gguf 0.19.0. No network: transformers
rebuilds the tokenizer from the real SmolLM2-135M-Instruct GGUF in assets/ (`gguf_file=`).

Records, in `crates/base-llm/tests/fixtures/text/smollm2_tokenizer.json`:
- token ids of strings with digits, code, accents, CJK, emoji, other scripts, whitespace runs and
  special tokens (`<|im_start|>` ...), with and without `add_special_tokens`;
- decodes of id lists with and without `skip_special_tokens`;
- the chat template rendered (`apply_chat_template(tokenize=False)`) with and without a system
  prompt, with and without `add_generation_prompt`, and the ids of each rendering.

The Rust test `crates/base-llm/tests/text_tokenizer_golden.rs` checks all of it exactly.

Run from the repository root:  python3 scripts/golden/smollm2_tokenizer.py
(`--bench`: instead of the fixture, time encode/decode on the text of
`crates/base-llm/examples/text_tokenizer_bench.rs`, for a side-by-side ratio.)
(`T2L_ASSETS` overrides where the assets are.)
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("T2L_ASSETS", os.path.join(ROOT, "assets"))
MODEL_DIR = os.path.join(ASSETS, "smollm2-135m-instruct")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "crates", "base-llm", "tests", "fixtures", "text", "smollm2_tokenizer.json")

TEXTS = [
    "Hello world",
    "The capital of France is Paris.",
    "In 2024, 3.14159 * 42 = 131.947 and 1,000,000 > 999999.",
    "Phone: +1 (555) 010-9999; ISBN 978-3-16-148410-0",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!(\"{v:?}\"); }",
    "<div class=\"x\">&amp; tabs\there\r\nand  double  spaces   end   ",
    "Café, naïve, résumé, Ångström, façade, São Paulo, Zürich, crème brûlée",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "Привет, мир! مرحبا بالعالم नमस्ते दुनिया Γειά σου κόσμε",
    "I'm sure you'll see they've done it, we'd say; it's John's.",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><repo_name>x<file_sep>y<|im_end|>",
    "   leading spaces and trailing newline\n\n",
    "",
]

DECODES = [
    [1, 4093, 198, 26843, 2],
    [19556, 905, 216, 33, 34, 35],
    [0, 4, 5, 83, 1939, 2756],
]

CHATS = [
    {"messages": [{"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": False},
    {
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Write a haiku about Rust 🦀."},
        ],
        "add_generation_prompt": True,
    },
    {
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello!"},
            {"role": "assistant", "content": "Bonjour !"},
            {"role": "user", "content": "Count: 1 2 3"},
        ],
        "add_generation_prompt": True,
    },
]


# The text `crates/base-llm/examples/text_tokenizer_bench.rs` repeats (keep the two equal).
BENCH_SAMPLE = (
    "The capital of France is Paris. In 2024, 3.14159 * 42 = 131.947.\n"
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    "Café, naïve, Zürich; 東京は日本の首都です。 Emoji: 😀🎉 <|im_start|>user\nHi<|im_end|>\n"
)


def bench(tok, kib=256, repeats=5):
    """Encode/decode speed of transformers' tokenizer on the Rust example's text."""
    import time

    sample_bytes = len(BENCH_SAMPLE.encode("utf-8"))
    text = BENCH_SAMPLE * -(-kib * 1024 // sample_bytes)

    def best(f):
        out, times = f(), []
        for _ in range(repeats):
            t = time.perf_counter()
            out = f()
            times.append(time.perf_counter() - t)
        return min(times), out

    enc_s, ids = best(lambda: tok.encode(text, add_special_tokens=False))
    dec_s, back = best(lambda: tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False))
    assert back == text
    short = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    short_s, _ = best(lambda: [tok.encode(short, add_special_tokens=False) for _ in range(1000)])
    nbytes = len(text.encode("utf-8"))
    print(json.dumps({
        "bytes": nbytes, "tokens": len(ids),
        "encode_mb_per_s": round(nbytes / enc_s / 1e6, 2),
        "encode_tokens_per_s": round(len(ids) / enc_s),
        "decode_tokens_per_s": round(len(ids) / dec_s),
        "short_prompt_encode_us": round(short_s / 1000 * 1e6, 1),
    }))


def main():
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF, local_files_only=True)
    if "--bench" in sys.argv:
        bench(tok)
        return
    encode = []
    for text in TEXTS:
        with_special = tok.encode(text, add_special_tokens=True)
        without = tok.encode(text, add_special_tokens=False)
        encode.append({"text": text, "ids": with_special, "ids_no_special": without})
    decode = []
    for ids in DECODES:
        decode.append(
            {
                "ids": ids,
                "text": tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
                "text_skip_special": tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False),
            }
        )
    chats = []
    for chat in CHATS:
        text = tok.apply_chat_template(
            chat["messages"], tokenize=False, add_generation_prompt=chat["add_generation_prompt"]
        )
        ids = tok(text, add_special_tokens=False)["input_ids"]
        chats.append(dict(chat, text=text, ids=ids))
    out = {
        "source": f"transformers {transformers.__version__} AutoTokenizer.from_pretrained(gguf_file={GGUF!r})",
        "gguf": GGUF,
        "vocab_size": len(tok),
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "eos_token_id": tok.eos_token_id,
        "pad_token": tok.pad_token,
        "unk_token": tok.unk_token,
        "encode": encode,
        "decode": decode,
        "chat": chats,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(encode)} strings, {len(decode)} decodes, {len(chats)} chats")


if __name__ == "__main__":
    main()
