//! Training data: the task suite, benchmark train splits, the SFT sampler, tokenisation with
//! prompt masking, chat formatting, and batching.

pub mod batch;
pub mod benchmarks;
pub mod chat;
pub mod encode;
pub mod sampler;
pub mod sft_data;
pub mod tasks;
