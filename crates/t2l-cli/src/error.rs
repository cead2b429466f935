//! The CLI's error: every library error, turned into one clear line.

/// Anything that makes a `t2l` command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From lora-core (adapter files, configs).
    #[error(transparent)]
    Lora(#[from] lora_core::Error),
    /// From text-embed (embedding models, tokenizers).
    #[error(transparent)]
    Embed(#[from] text_embed::Error),
    /// From base-llm (model, tokenizer, generation).
    #[error(transparent)]
    Model(#[from] base_llm::Error),
    /// From hypermod (hypernetwork checkpoints, generation).
    #[error(transparent)]
    Hyper(#[from] hypermod::Error),
    /// From the trainers (configs, data, checkpoints).
    #[error(transparent)]
    Train(#[from] trainers::Error),
    /// From a benchmark (`t2l bench`).
    #[error(transparent)]
    Bench(#[from] t2l_bench::BenchError),
    /// The chosen device is not available.
    #[error("{0}")]
    Device(String),
    /// A path that does not exist or is not what the command needs.
    #[error("{0}")]
    Input(String),
    /// Writing output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
