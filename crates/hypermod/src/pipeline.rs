//! Description(s) → text embedder → hypernetwork → adapters or a PEFT directory.

use std::path::Path;

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, LoraAdapter, SaveDtype, save_peft};
use text_embed::{TaskEmbedder, TextEmbedder};

use crate::error::{Error, Result};
use crate::generator::AdapterGenerator;
use crate::model::HyperModulator;
use crate::packed::{HyperPrecision, PackedHyper};

/// The file a generated adapter directory keeps its task description in (the reference's name).
pub const DESCRIPTION_FILE: &str = "task_desc.txt";

/// A hypernetwork with the text embedder it was trained with: descriptions in, adapters out.
///
/// Descriptions get T2L's preprocessing ([`TaskEmbedder`]: strip, full stop, then the embedding
/// normalised to ‖φ‖₂ = √dim) before the hypernetwork sees them. Adapters come from the generic
/// path, or from the packed CPU path once [`Pipeline::with_precision`] has packed the
/// hypernetwork ([`AdapterGenerator`] chooses).
///
/// ```no_run
/// use burn::backend::Flex;
/// use hypermod::{HyperModulator, packed::HyperPrecision, pipeline::Pipeline};
/// use text_embed::BertEmbedder;
/// let device = Default::default();
/// let hyper = HyperModulator::<Flex>::load("t2l_checkpoint".as_ref(), &device)?;
/// let bert = BertEmbedder::<Flex>::load("assets/all-minilm-l6-v2".as_ref(), &device)
///     .map_err(|e| hypermod::Error::Embedder(e.to_string()))?;
/// // The packed CPU path in f32 (`Error::CpuFeature` without AVX-512F).
/// let pipeline = Pipeline::new(hyper, bert)?.with_precision(HyperPrecision::F32)?;
/// assert!(pipeline.packed().is_some());
/// pipeline.write_peft("Solve grade-school math word problems.", "out/gsm8k_lora".as_ref())?;
/// # Ok::<(), hypermod::Error>(())
/// ```
#[derive(Debug)]
pub struct Pipeline<B: Backend, E> {
    generator: AdapterGenerator<B>,
    embedder: TaskEmbedder<E>,
}

impl<B: Backend, E: TextEmbedder<B>> Pipeline<B, E> {
    /// Pairs a hypernetwork with a raw embedder (T2L preprocessing is added here); refuses an
    /// embedder whose width is not the hypernetwork's task width, naming both.
    pub fn new(hyper: HyperModulator<B>, embedder: E) -> Result<Self> {
        Self::with_generator(AdapterGenerator::new(hyper), embedder)
    }

    /// [`Self::new`] with a generator that may already be packed.
    pub fn with_generator(generator: AdapterGenerator<B>, embedder: E) -> Result<Self> {
        let expected = generator.hyper().config().task_dim;
        if embedder.dim() != expected {
            return Err(Error::EmbeddingDim {
                expected,
                found: embedder.dim(),
            });
        }
        Ok(Self {
            generator,
            embedder: TaskEmbedder::new(embedder),
        })
    }

    /// Packs the hypernetwork for the CPU kernel in `precision`: adapters then come from the
    /// packed path ([`AdapterGenerator::with_precision`]).
    ///
    /// # Errors
    /// [`Error::CpuFeature`] when the CPU lacks AVX-512F, or AVX512-BF16 for a bf16 part; never
    /// a silent fallback to the generic path.
    pub fn with_precision(self, precision: HyperPrecision) -> Result<Self> {
        Ok(Self {
            generator: self.generator.with_precision(precision)?,
            embedder: self.embedder,
        })
    }

    /// The packed snapshot, when adapters come from the packed CPU path.
    pub fn packed(&self) -> Option<&PackedHyper> {
        self.generator.packed()
    }

    /// The hypernetwork and the path it generates on.
    pub fn generator(&self) -> &AdapterGenerator<B> {
        &self.generator
    }

    /// The hypernetwork.
    pub fn hyper(&self) -> &HyperModulator<B> {
        self.generator.hyper()
    }

    /// T2L task embeddings `[n, E]` of `descriptions`.
    pub fn embed(&self, descriptions: &[&str]) -> Result<Tensor<B, 2>> {
        if descriptions.is_empty() {
            return Err(Error::Empty("the list of descriptions"));
        }
        self.embedder
            .embed(descriptions)
            .map_err(|e| Error::Embedder(e.to_string()))
    }

    /// One adapter per description, generated in one forward pass (on the packed path when
    /// [`Self::packed`] is set).
    pub fn adapters(&self, descriptions: &[&str]) -> Result<BatchedLoraAdapter<B>> {
        self.generator.generate(self.embed(descriptions)?)
    }

    /// The adapter of one description.
    pub fn adapter(&self, description: &str) -> Result<LoraAdapter<B>> {
        Ok(self.adapters(&[description])?.get(0)?)
    }

    /// Generates the adapter of `description` and writes it as a PEFT directory (f32
    /// `adapter_model.safetensors`, `adapter_config.json`, and the description in
    /// [`DESCRIPTION_FILE`]). Returns the adapter.
    pub fn write_peft(&self, description: &str, dir: &Path) -> Result<LoraAdapter<B>> {
        let adapter = self.adapter(description)?;
        write_adapter_dir(&adapter, Some(description), dir)?;
        Ok(adapter)
    }
}

/// Writes a generated adapter as a PEFT directory (f32), plus its description when given.
pub fn write_adapter_dir<B: Backend>(
    adapter: &LoraAdapter<B>,
    description: Option<&str>,
    dir: &Path,
) -> Result<()> {
    save_peft(adapter, dir, SaveDtype::F32)?;
    if let Some(text) = description {
        lora_core::fsutil::write_atomic(&dir.join(DESCRIPTION_FILE), text.as_bytes())?;
    }
    Ok(())
}
