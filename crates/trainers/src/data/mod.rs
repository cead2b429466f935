//! Training data: the task suite, benchmark train splits, the SFT sampler, tokenisation with
//! prompt masking, and batching.

pub mod batch;
pub mod benchmarks;
pub mod encode;
pub mod sampler;
pub mod tasks;
