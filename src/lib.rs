//! Text-to-LoRA workspace root: examples, cross-crate tests and benches, and the small library
//! the experiment examples share.
//!
//! - [`compression`]: oracle LoRA libraries, reconstruction T2L and their benchmark evaluation
//!   (paper Table 1 / Figure 3).
//! - [`description_spread`]: per-description accuracies of T2L rows and their spread.
//! - [`plot`]: PNG scatter and line plots (pure Rust, a TrueType font found at run time).
//! - [`results`]: result documents (markdown tables + JSON + run metadata), written atomically.
//! - [`tsne`]: exact, seeded 2-D t-SNE and neighbourhood measures.

pub mod compression;
pub mod description_spread;
pub mod plot;
pub mod results;
pub mod tsne;
