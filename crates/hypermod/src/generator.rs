//! A hypernetwork with an optional packed CPU snapshot: the one place that chooses between the
//! generic burn forward ([`HyperModulator::generate`]) and the packed CPU kernel
//! ([`HyperModulator::generate_packed`]).
//!
//! A program that generates many adapters in one process should also call
//! [`crate::packed::keep_freed_memory`] once: otherwise glibc may give each adapter's freed
//! memory back to the kernel, and every next generation then page-faults it in again (27–38 %
//! slower per adapter at Mistral-7B shapes, measured in `docs/hypermod.md`).

use std::fmt;

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, LoraAdapter};

use crate::error::Result;
use crate::model::HyperModulator;
use crate::packed::{HyperPrecision, PackedHyper};

/// Which way an [`AdapterGenerator`] computes adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationPath {
    /// burn's forward on the hypernetwork's backend ([`HyperModulator::generate`]).
    Generic,
    /// The packed CPU kernel ([`HyperModulator::generate_packed`]).
    Packed,
}

impl GenerationPath {
    /// `generic` or `packed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Packed => "packed",
        }
    }
}

impl fmt::Display for GenerationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hypernetwork that generates on the generic path, or, once [`Self::with_precision`] has
/// packed it, on the packed CPU path in that precision. The snapshot is taken once: re-pack
/// after changing the weights.
///
/// ```no_run
/// use burn::backend::Flex;
/// use hypermod::generator::{AdapterGenerator, GenerationPath};
/// use hypermod::packed::HyperPrecision;
/// use hypermod::HyperModulator;
/// let device = Default::default();
/// let hyper = HyperModulator::<Flex>::open("t2l_checkpoint".as_ref(), &device)?;
/// // Errors with `Error::CpuFeature` on a CPU without AVX-512F: no silent fallback.
/// let generator = AdapterGenerator::new(hyper).with_precision(HyperPrecision::F32)?;
/// assert_eq!(generator.path(), GenerationPath::Packed);
/// let emb = burn::tensor::Tensor::<Flex, 2>::zeros([1, generator.hyper().config().task_dim], &device);
/// let adapters = generator.generate(emb)?;
/// # Ok::<(), hypermod::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdapterGenerator<B: Backend> {
    hyper: HyperModulator<B>,
    packed: Option<PackedHyper>,
}

impl<B: Backend> AdapterGenerator<B> {
    /// `hyper` on the generic path.
    pub fn new(hyper: HyperModulator<B>) -> Self {
        Self {
            hyper,
            packed: None,
        }
    }

    /// Packs the hypernetwork for the CPU kernel in `precision`; generation then takes the
    /// packed path (replacing any earlier snapshot).
    ///
    /// # Errors
    /// [`crate::Error::CpuFeature`] when the CPU lacks AVX-512F, or AVX512-BF16 for a bf16 part
    /// ([`PackedHyper::with_precision`]).
    pub fn with_precision(mut self, precision: HyperPrecision) -> Result<Self> {
        self.packed = Some(PackedHyper::with_precision(&self.hyper, precision)?);
        Ok(self)
    }

    /// The hypernetwork.
    pub fn hyper(&self) -> &HyperModulator<B> {
        &self.hyper
    }

    /// The hypernetwork, giving up the packed snapshot.
    pub fn into_hyper(self) -> HyperModulator<B> {
        self.hyper
    }

    /// The packed snapshot, when generation takes the packed path.
    pub fn packed(&self) -> Option<&PackedHyper> {
        self.packed.as_ref()
    }

    /// The precision of the packed snapshot (`None` on the generic path, which is f32).
    pub fn precision(&self) -> Option<HyperPrecision> {
        self.packed.as_ref().map(PackedHyper::precision)
    }

    /// The path [`Self::generate`] takes.
    pub fn path(&self) -> GenerationPath {
        match self.packed {
            Some(_) => GenerationPath::Packed,
            None => GenerationPath::Generic,
        }
    }

    /// One adapter per row of `task_embeddings [n, E]`, on [`Self::path`].
    pub fn generate(&self, task_embeddings: Tensor<B, 2>) -> Result<BatchedLoraAdapter<B>> {
        match &self.packed {
            Some(packed) => self.hyper.generate_packed(task_embeddings, packed),
            None => self.hyper.generate(task_embeddings),
        }
    }

    /// The adapter of a single task embedding `[E]`, on [`Self::path`].
    pub fn generate_one(&self, task_embedding: Tensor<B, 1>) -> Result<LoraAdapter<B>> {
        Ok(self.generate(task_embedding.unsqueeze_dim(0))?.get(0)?)
    }
}

impl<B: Backend> From<HyperModulator<B>> for AdapterGenerator<B> {
    fn from(hyper: HyperModulator<B>) -> Self {
        Self::new(hyper)
    }
}
