//! `t2l-bench`: measurement code shared by `t2l bench` and the criterion benches in `benches/`.
//!
//! Every benchmark reports its time ([`timing`]), the floating-point operations and bytes it moves
//! (counted from the shapes by [`work`]; formulas documented there), and the achieved fraction of
//! two ceilings measured in the same process on the same device ([`ceiling`]): a large GEMM
//! (FLOP/s) and a large streaming op (bytes/s). [`report::Measurement`] ties them together.
//!
//! - [`generate`]: one adapter from the T2L hypernetwork (L/M/S heads at SmolLM2-135M and
//!   Mistral-7B q/v shapes; random weights, no base model).
//! - [`llm`]: prefill and decode of the frozen base model (the real SmolLM2 GGUF or a tiny random
//!   Llama).
//! - [`sft`]: one T2L SFT training step (8 tasks × 1 example) through the trainers' public API.
//! - [`recon`]: one T2L reconstruction step.
//! - [`precision`]: the frozen-base matmul in f16/bf16 against f32 (time and error).
//!
//! Everything is generic over burn's `Backend` (training steps over `AutodiffBackend`).

pub mod ceiling;
pub mod error;
pub mod generate;
pub mod llm;
pub mod precision;
pub mod recon;
pub mod report;
pub mod sft;
pub mod timing;
pub mod work;

pub use ceiling::{CeilingSizes, Ceilings, measure_ceilings};
pub use error::BenchError;
pub use report::Measurement;
pub use timing::{Timing, process_cpu_seconds};
pub use work::Work;
