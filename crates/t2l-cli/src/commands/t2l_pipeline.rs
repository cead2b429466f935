//! A T2L checkpoint together with its text embedder, as `generate`, `run` and `eval` open it,
//! and the generation path (generic or packed CPU, and its precision) the command line picks.

use std::path::{Path, PathBuf};

use burn::prelude::Backend;
use clap::{Args, ValueEnum};
use hypermod::HyperModulator;
use hypermod::generator::AdapterGenerator;
use hypermod::pipeline::Pipeline;
use hypermod::precision_name::{NamedPrecision, UnknownPrecision};
use text_embed::BertEmbedder;

use crate::device::DeviceChoice;
use crate::error::CliError;

/// `--kernel`: which way adapters are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum KernelChoice {
    /// The generic path in f32; the packed path when `--precision` asks for a reduced one.
    #[default]
    Auto,
    /// The packed AVX-512 CPU path (`--device cpu`, AVX-512F), in `--precision`.
    Packed,
    /// burn's forward on the chosen device (f32 only).
    Generic,
}

/// How adapters are generated: `--precision NAME` and `--kernel auto|packed|generic`.
#[derive(Debug, Args, Clone)]
pub struct GenerationArgs {
    /// Precision of the packed CPU path: f32 (default; equal to the generic path up to float
    /// summation order), f16-heads (f16 head weights), bf16 (bf16 compute in heads and trunk;
    /// AVX512-BF16) or bf16-heads (bf16 compute in the heads only). Anything but f32 runs on the
    /// packed path, so on --device cpu only.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// Generation path. In f32, auto takes the generic path: for one adapter, packing the
    /// weights costs more than the packed kernel saves on L/M checkpoints (S checkpoints
    /// generate faster with --kernel packed; docs/hypermod.md has the numbers).
    #[arg(long, value_enum, default_value_t = KernelChoice::Auto)]
    pub kernel: KernelChoice,
}

/// What [`GenerationArgs`] asks for, checked against the device: the precision and whether the
/// packed path runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationPlan {
    /// The precision (f32 on the generic path).
    pub precision: NamedPrecision,
    /// Whether adapters come from the packed CPU path.
    pub packed: bool,
}

impl GenerationArgs {
    /// Checks the flags against `device` before anything is loaded: a reduced precision needs
    /// the packed path, and the packed path runs on `--device cpu` only. An unknown precision
    /// is one error line listing the accepted names.
    pub fn plan(&self, device: DeviceChoice) -> Result<GenerationPlan, CliError> {
        let precision: NamedPrecision = self
            .precision
            .parse()
            .map_err(|e: UnknownPrecision| CliError::Input(e.to_string()))?;
        let reduced = precision != NamedPrecision::F32;
        let packed = match self.kernel {
            KernelChoice::Auto => reduced,
            KernelChoice::Packed => true,
            KernelChoice::Generic if reduced => {
                return Err(CliError::Input(format!(
                    "--precision {precision} runs on the packed CPU path; --kernel generic is f32 only"
                )));
            }
            KernelChoice::Generic => false,
        };
        if packed && device != DeviceChoice::Cpu {
            let asked = match self.kernel {
                KernelChoice::Packed => "--kernel packed".to_string(),
                _ => format!("--precision {precision}"),
            };
            return Err(CliError::Input(format!(
                "{asked} runs on the packed CPU path, which needs --device cpu, not \
                 --device {device}; use --device cpu, or the generic path in f32"
            )));
        }
        Ok(GenerationPlan { precision, packed })
    }
}

impl GenerationPlan {
    /// `hyper` on the planned path: packed in [`Self::precision`] (an error naming the missing
    /// CPU feature where this CPU cannot, never a fallback), else generic.
    pub fn generator<B: Backend>(
        self,
        hyper: HyperModulator<B>,
    ) -> Result<AdapterGenerator<B>, CliError> {
        let generator = AdapterGenerator::new(hyper);
        Ok(if self.packed {
            generator.with_precision(self.precision.precision())?
        } else {
            generator
        })
    }
}

/// The text-embedder directory for a checkpoint: `explicit` (`--embedder DIR`) when given, else
/// the embedder the checkpoint records, when that names a directory (as given, or relative to the
/// checkpoint directory).
pub fn embedder_dir(
    explicit: Option<&Path>,
    checkpoint: &Path,
    recorded: Option<&str>,
) -> Result<PathBuf, CliError> {
    if let Some(dir) = explicit {
        return if dir.is_dir() {
            Ok(dir.to_path_buf())
        } else {
            Err(CliError::Input(format!(
                "{}: no such embedder directory",
                dir.display()
            )))
        };
    }
    let id = recorded.ok_or_else(|| {
        CliError::Input(
            "a task description needs a text embedder: the checkpoint records none; pass --embedder DIR"
                .into(),
        )
    })?;
    [PathBuf::from(id), checkpoint.join(id)]
        .into_iter()
        .find(|p| p.is_dir())
        .ok_or_else(|| {
            CliError::Input(format!(
                "the checkpoint's embedder `{id}` is not a directory here; pass --embedder DIR"
            ))
        })
}

/// `hyper` (opened from `checkpoint`) behind the BERT-family embedder that [`embedder_dir`] finds:
/// description in, adapter out (generic path).
pub fn open_pipeline<B: Backend>(
    hyper: HyperModulator<B>,
    checkpoint: &Path,
    explicit_embedder: Option<&Path>,
    device: &B::Device,
) -> Result<(Pipeline<B, BertEmbedder<B>>, PathBuf), CliError> {
    open_generator_pipeline(
        AdapterGenerator::new(hyper),
        checkpoint,
        explicit_embedder,
        device,
    )
}

/// [`open_pipeline`] for a generator that may be packed ([`GenerationPlan::generator`]).
pub fn open_generator_pipeline<B: Backend>(
    generator: AdapterGenerator<B>,
    checkpoint: &Path,
    explicit_embedder: Option<&Path>,
    device: &B::Device,
) -> Result<(Pipeline<B, BertEmbedder<B>>, PathBuf), CliError> {
    let dir = embedder_dir(
        explicit_embedder,
        checkpoint,
        generator.hyper().config().embedder.as_deref(),
    )?;
    let bert = BertEmbedder::<B>::load(&dir, device)?;
    Ok((Pipeline::with_generator(generator, bert)?, dir))
}
