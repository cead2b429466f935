//! The benchmarks' error type.

/// What can make a benchmark fail.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// From lora-core (adapter shapes).
    #[error(transparent)]
    Lora(#[from] lora_core::Error),
    /// From base-llm (loading, forward).
    #[error(transparent)]
    Model(#[from] base_llm::Error),
    /// From hypermod (config, generation).
    #[error(transparent)]
    Hyper(#[from] hypermod::Error),
    /// From the trainers (losses, batches).
    #[error(transparent)]
    Train(#[from] trainers::Error),
    /// The backend failed to finish queued work (`Backend::sync`).
    #[error("backend error while synchronising {what}: {message}")]
    Sync {
        /// The benchmark step being synchronised.
        what: &'static str,
        /// The backend's message.
        message: String,
    },
    /// A benchmark parameter out of range (`what` names it).
    #[error("bad benchmark parameter `{what}`: {message}")]
    Param {
        /// The parameter.
        what: &'static str,
        /// Why it is rejected.
        message: String,
    },
}

impl BenchError {
    /// A [`BenchError::Param`].
    pub fn param(what: &'static str, message: impl Into<String>) -> Self {
        Self::Param {
            what,
            message: message.into(),
        }
    }
}

/// Waits for the device to finish queued work (a no-op on eager CPU backends).
pub fn sync<B: burn::prelude::Backend>(
    device: &B::Device,
    what: &'static str,
) -> Result<(), BenchError> {
    B::sync(device).map_err(|e| BenchError::Sync {
        what,
        message: format!("{e:?}"),
    })
}
