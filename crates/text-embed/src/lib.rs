//! Text embedders for Text-to-LoRA: T2L conditions its hypernetwork on an embedding of the task
//! description.
//!
//! - [`TextEmbedder`]: the trait every embedder implements (yours too): a batch of texts in,
//!   `[n, dim]` vectors out, plus a stable [`id`](TextEmbedder::id) for caching.
//! - [`BertEmbedder`]: BERT-family sentence encoders from a Hugging Face / sentence-transformers
//!   directory (all-MiniLM-L6-v2: mean pooling + L2; BGE-style: CLS), built from burn modules.
//! - [`LlmEmbedder`]: a base-llm decoder as encoder (last-token or mean pooling), the paper's
//!   base-LLM / Mistral-embedding ablation.
//! - [`TaskEmbedder`], [`add_full_stop`], [`normalize_and_scale`]: T2L's description
//!   preprocessing (strip, full stop, ‖φ‖₂ = √dim); [`one_hot_task_embeddings`].
//! - [`EmbeddingCache`]: each description embedded once per run, optionally once ever on disk.
//!
//! ```no_run
//! use text_embed::{BertEmbedder, EmbeddingCache, TaskEmbedder, TextEmbedder};
//! let device = Default::default();
//! let bert = BertEmbedder::<burn::backend::Flex>::load("assets/all-minilm-l6-v2".as_ref(), &device)?;
//! let tasks = TaskEmbedder::new(EmbeddingCache::new(bert));
//! let phi = tasks.embed(&["Solve grade-school math word problems"])?; // [1, 384], norm √384
//! # Ok::<(), text_embed::Error>(())
//! ```

pub mod bert;
pub mod cache;
pub mod embedder;
pub mod error;
pub mod llm;
pub mod pooling;
pub mod task_embedding;
pub mod tokenize;

pub use bert::{BertConfig, BertEmbedder, BertEmbedderOptions, BertModel};
pub use cache::EmbeddingCache;
pub use embedder::TextEmbedder;
pub use error::{Error, Result};
pub use llm::{LlmEmbedder, LlmEmbedderOptions};
pub use pooling::{Pooling, cosine_similarity, l2_normalize};
pub use task_embedding::{
    TaskEmbedder, add_full_stop, normalize_and_scale, one_hot_task_embeddings,
};
pub use tokenize::{PadSide, TextTokenizer, TokenBatch};
