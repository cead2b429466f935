//! Building blocks of the hypernetwork trunk, each in the reference's PyTorch layout.

pub mod blocks;
pub mod dense;
pub mod dropout;
pub mod norm;

pub use blocks::{EmbeddingTable, Mixer, OutputBlock, ResidualBlock, TaskEncoder};
pub use dense::Dense;
pub use dropout::{Mode, dropout};
