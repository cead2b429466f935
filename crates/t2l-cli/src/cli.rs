//! Command-line definitions (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceChoice;

/// Text-to-LoRA: a LoRA adapter for a frozen LLM from one sentence describing a task.
#[derive(Debug, Parser)]
#[command(name = "t2l", version, about, long_about = None, propagate_version = true,
    after_help = "Examples:\n  t2l inspect path/to/peft_adapter\n  t2l inspect path/to/peft_adapter --json")]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Where tensors live: cpu, cuda, cuda:N or wgpu (among the backends compiled in).
    #[arg(long, global = true, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars or chatter on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Seed for everything random.
    #[arg(long, global = true, default_value_t = 0)]
    pub seed: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a PEFT LoRA adapter directory: config, layers, modules, shapes, norms.
    #[command(
        after_help = "Examples:\n  t2l inspect out/my_adapter\n  t2l inspect out/my_adapter --json | jq .modules"
    )]
    Inspect(InspectArgs),
    /// Sentence embeddings of texts (BERT-family model directory); cosine similarity of two.
    #[command(
        after_help = "Examples:\n  t2l embed --model assets/all-minilm-l6-v2 --text \"A man is eating food.\" --text \"A man is eating a piece of bread.\"\n  t2l embed --model assets/all-minilm-l6-v2 --text \"Solve math word problems\" --task --json"
    )]
    Embed(crate::commands::embed::EmbedArgs),
    /// Continue a prompt with a base model (GGUF file or Hugging Face directory), optionally
    /// through its chat template and with a PEFT LoRA adapter merged in.
    #[command(
        after_help = "Examples:\n  t2l run --model assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --chat --prompt \"What is the capital of France?\" --greedy\n  t2l run --model model.gguf --prompt \"def fib(n):\" --temperature 0.7 --top-p 0.9 --max-new-tokens 64 --json\n  t2l run --model model.gguf --chat --system \"Answer briefly.\" --prompt Hi --adapter out/my_adapter"
    )]
    Run(crate::commands::run::RunArgs),
    /// Generate a PEFT LoRA adapter from a task description (or a raw task embedding) with a T2L
    /// hypernetwork checkpoint (ours or the PyTorch reference's).
    #[command(
        after_help = "Examples:\n  t2l generate --checkpoint ckpt/t2l_smollm2 --description \"Solve grade-school math word problems.\" --out out/gsm8k\n  t2l generate --checkpoint ckpt/t2l_smollm2 --description \"Classify the sentiment of a movie review.\" --precision bf16 --out out/sst2\n  t2l generate --checkpoint trained_t2l/mistral_7b_t2l --embedding phi.npy --out out/adapter --json"
    )]
    Generate(crate::commands::generate::GenerateArgs),
    /// Train a LoRA (oracle or multi-task), a reconstruction T2L or an SFT T2L from a config
    /// file; `--resume` continues a killed run exactly.
    #[command(
        after_help = "Examples:\n  t2l train lora --config configs/oracle_sst2.toml\n  t2l train recon --config recon.toml --steps 2000 --out runs/recon\n  t2l train sft --config sft.toml --resume runs/sft"
    )]
    Train(crate::commands::train::TrainArgs),
    /// Benchmark accuracies (the paper's ten benchmarks and templates) of a base model, with a
    /// task description, k-shot examples, a PEFT adapter or T2L adapters, scored by generation
    /// and parsing, label log-likelihood and/or choice-text log-likelihood (cloze); prints the
    /// paper's table.
    #[command(
        after_help = "Examples:\n  t2l eval --model assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --benchmarks arc_easy,boolq,piqa --protocol cloze --limit 100\n  t2l eval --model model.gguf --benchmarks all --task-description --shots 3 --out results/base\n  t2l eval --model model.gguf --benchmarks arc_easy,gsm8k --t2l ckpt/t2l --descriptions eval,random --out results/t2l --json"
    )]
    Eval(crate::commands::eval::EvalArgs),
    /// Time a workload (adapter generation, prefill, decode, an SFT or reconstruction step, f16/bf16
    /// matmuls) with its FLOPs, bytes and fractions of the GEMM / bandwidth ceilings measured in the
    /// same run.
    #[command(
        after_help = "Examples:\n  t2l bench generate --shape mistral-7b --variant L\n  t2l bench decode --new-tokens 64 --json\n  t2l bench sft-step --device cuda --iters 3"
    )]
    Bench(crate::commands::bench::BenchArgs),
}

/// `t2l inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A PEFT adapter directory (adapter_model.safetensors + adapter_config.json), or a T2L
    /// hypernetwork checkpoint directory (ours or the PyTorch reference's).
    pub path: PathBuf,
}
