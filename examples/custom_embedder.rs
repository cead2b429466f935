//! A user-defined text embedder driving Text-to-LoRA generation.
//!
//! T2L only needs `[n, dim]` vectors and a stable id from its embedder, so any model can condition
//! the hypernetwork: implement [`text_embed::TextEmbedder`] and hand it to
//! [`hypermod::pipeline::Pipeline`], which adds T2L's preprocessing (strip, full stop, ‖φ‖₂ = √dim).
//!
//! Here the embedder is a feature-hashed bag of words (no model files), the hypernetwork is
//! freshly initialised (seeded) and the base model is a tiny random Llama, so the example runs
//! offline in seconds; swap in `BertEmbedder::load`, `HyperModulator::load` / `hypermod::checkpoint`
//! and `Llama::load` for real models. It generates one adapter per description in one pass,
//! compares them, generates text with each (one adapter per batch row), and writes one as a PEFT
//! directory.
//!
//! ```text
//! cargo run --example custom_embedder
//! ```

use base_llm::{Adapters, GenerationConfig, Llama, LlamaConfig};
use burn::backend::Flex;
use burn::prelude::*;
use hypermod::pipeline::Pipeline;
use hypermod::{HyperConfig, HyperModulator, InitMode, Variant};
use lora_core::{LoraConfig, cosine_similarity_delta_w};
use text_embed::{Result, TextEmbedder};

type B = Flex;

/// Hashes lower-cased words into `dim` signed buckets (the "hashing trick").
struct HashedBagOfWords {
    dim: usize,
    device: burn::tensor::Device<B>,
}

/// FNV-1a: a hash that is the same on every machine and Rust version (the id must be stable).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl TextEmbedder<B> for HashedBagOfWords {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        let mut data = vec![0f32; texts.len() * self.dim];
        for (row, text) in texts.iter().enumerate() {
            for word in text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                let h = fnv1a(&word.to_lowercase());
                let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                data[row * self.dim + (h % self.dim as u64) as usize] += sign;
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(data, [texts.len(), self.dim]),
            &self.device,
        ))
    }

    fn device(&self) -> burn::tensor::Device<B> {
        self.device
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn id(&self) -> String {
        format!("hashed-bag-of-words-fnv1a-{}", self.dim)
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let device = Default::default();
    let embedder = HashedBagOfWords { dim: 64, device };

    // The frozen base model and the adapter shape the hypernetwork must produce.
    let llama = Llama::<B>::random(LlamaConfig::tiny(64), 0, &device)?;
    let targets = vec!["q_proj".to_string(), "v_proj".to_string()];
    let layout = llama.adapter_layout(&targets)?;
    let config = HyperConfig::new(
        Variant::M,
        embedder.dim(),
        layout,
        LoraConfig::new(4, 8.0, targets.clone()),
    )
    .with_latent(32)
    .with_head_in(64)
    .with_init(InitMode::Default)
    .with_embedder(embedder.id());
    let hyper = HyperModulator::<B>::new(config, &device, 42)?;
    let pipeline = Pipeline::new(hyper, embedder)?;

    let descriptions = [
        "Solve grade-school math word problems step by step",
        "Translate English sentences into French",
        "Solve math word problems for grade-school students",
    ];
    let adapters = pipeline.adapters(&descriptions)?; // one forward pass, one adapter per row
    let each: Vec<_> = (0..descriptions.len())
        .map(|i| adapters.get(i))
        .collect::<std::result::Result<_, _>>()?;
    println!("cosine similarity of the generated ΔW:");
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        println!(
            "  [{i}] vs [{j}]: {:.4}",
            cosine_similarity_delta_w(&each[i], &each[j])?
        );
    }

    // Greedy continuations of one prompt: base model, then one adapter per batch row.
    let prompt = vec![1u32, 7, 11, 13, 17];
    // How far each adapter moves the next-token logits of the prompt.
    let n = descriptions.len();
    let ids: Vec<i64> = (0..n)
        .flat_map(|_| prompt.iter().map(|&t| t as i64))
        .collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [n, prompt.len()]), &device);
    let base_logits = llama.forward_last(ids.clone(), None, Adapters::None)?;
    let adapted_logits = llama.forward_last(ids, None, Adapters::PerRow(&adapters))?;
    let shift: Vec<f32> = (adapted_logits - base_logits)
        .abs()
        .max_dim(1)
        .into_data()
        .to_vec()
        .map_err(|e| format!("{e:?}"))?;
    for (d, s) in descriptions.iter().zip(&shift) {
        println!("max |Δ next-token logit| {s:.5}  <- {d:?}");
    }
    let greedy = GenerationConfig::greedy(8);
    let base = llama.generate(std::slice::from_ref(&prompt), &greedy, Adapters::None, None)?;
    println!("base model:        {:?}", base.rows[0].tokens);
    let prompts = vec![prompt; descriptions.len()];
    let adapted = llama.generate(&prompts, &greedy, Adapters::PerRow(&adapters), None)?;
    for (d, row) in descriptions.iter().zip(&adapted.rows) {
        println!("with T2L adapter:  {:?}  <- {d:?}", row.tokens);
    }

    let dir = std::env::temp_dir().join("t2l_custom_embedder_adapter");
    pipeline.write_peft(descriptions[0], &dir)?;
    println!("PEFT adapter of [0] written to {}", dir.display());
    Ok(())
}
