//! Benchmark evaluation in the paper's setting (reference §5): the ten benchmarks with the
//! paper's prompt templates, two scoring protocols, the paper's conditions, and a results table.
//!
//! - [`benchmark`]: names, splits, templates (Listing 4), gold answers, seeded subsamples.
//! - [`parse`]: the reference's answer parsing (choice letter/number, flexible yes/no, last number).
//! - [`codec`]: what scoring needs from a tokenizer ([`crate::data::chat::ChatEncoder`] for real
//!   models, [`crate::data::encode::ByteEncoder`] for tiny test models).
//! - [`protocol`]: greedy generation + parsing, label log-likelihood, choice-text
//!   log-likelihood ([`cloze`]).
//! - [`cloze`]: lm-evaluation-harness style contexts and continuations, scored per character.
//! - [`descriptions`]: the T2L description sets (train / eval / other / random).
//! - [`runner`]: methods × benchmarks × protocols → [`report::EvalReport`].
//! - [`report`]: per-example records, accuracies, JSON and the markdown table.
//! - [`sandbox`], [`code`]: HumanEval / MBPP tests in a sandboxed `python3`.
//!
//! ```no_run
//! use trainers::data::chat::ChatEncoder;
//! use trainers::eval::{benchmark::Benchmark, runner::{EvalOptions, Evaluator, Method}};
//! type B = burn::backend::Flex;
//! let bundle = base_llm::ModelBundle::<B>::load("SmolLM2-135M-Instruct.Q4_1.gguf", &Default::default())?;
//! let codec = ChatEncoder::new(bundle.tokenizer)?;
//! let mut model = bundle.model;
//! let options = EvalOptions { limit: Some(100), ..EvalOptions::default() };
//! let root = trainers::data::tasks::data_root()?;
//! let report = Evaluator::new(&mut model, &codec, root, options)
//!     .run("smollm2", &[Benchmark::ArcEasy], &[Method::Base])?;
//! println!("{}", report.markdown(trainers::eval::protocol::Protocol::Loglik));
//! # Ok::<(), trainers::Error>(())
//! ```

pub mod benchmark;
pub mod cloze;
pub mod code;
pub mod codec;
pub mod descriptions;
pub mod parse;
pub mod protocol;
pub mod report;
pub mod runner;
pub mod sandbox;
