//! Text-to-LoRA workspace root: examples, cross-crate tests and benches.
