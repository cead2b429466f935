//! Integration tests of the hypernetwork: parameter counts, initialisation, generation,
//! dropout/gradients, named tensors and checkpoints.

mod checkpoint;
mod common;
mod counts;
mod generate;
mod generator;
mod init;
mod packed_bf16;
mod pipeline;
mod training;
