//! A T2L checkpoint together with its text embedder, as `generate`, `run` and `eval` open it,
//! and the generation path (generic or packed CPU, and its precision) the command line picks.

use std::path::{Path, PathBuf};

use burn::prelude::Backend;
use clap::Args;
use hypermod::HyperModulator;
use hypermod::generator::AdapterGenerator;
use hypermod::packed::cpu_supported;
use hypermod::pipeline::Pipeline;
use hypermod::precision_name::NamedPrecision;
use text_embed::BertEmbedder;

use crate::device::DeviceChoice;
use crate::error::CliError;

/// How adapters are generated: `--precision NAME` and `--generic`.
#[derive(Debug, Args, Clone)]
pub struct GenerationArgs {
    /// Precision of the packed CPU path: f32 (default; equal to the generic path up to float
    /// summation order), f16-heads (f16 head weights), bf16 (bf16 compute in heads and trunk;
    /// AVX512-BF16) or bf16-heads (bf16 compute in the heads only). Anything but f32 needs
    /// --device cpu and the packed path.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// Use burn's generic forward even on a CPU with AVX-512F (by default `--device cpu` takes
    /// the packed CPU path there).
    #[arg(long)]
    pub generic: bool,
}

impl GenerationArgs {
    /// The precision named by `--precision` (one error line listing the accepted names).
    pub fn named_precision(&self) -> Result<NamedPrecision, CliError> {
        self.precision
            .parse()
            .map_err(|e: hypermod::precision_name::UnknownPrecision| CliError::Input(e.to_string()))
    }

    /// Checks the flags against `device` before anything is loaded: a reduced precision needs
    /// the packed path, which runs on `--device cpu` only. Returns the precision.
    pub fn check(&self, device: DeviceChoice) -> Result<NamedPrecision, CliError> {
        let precision = self.named_precision()?;
        if precision == NamedPrecision::F32 {
            return Ok(precision);
        }
        if self.generic {
            return Err(CliError::Input(format!(
                "--precision {precision} runs on the packed CPU path; --generic is f32 only"
            )));
        }
        if device != DeviceChoice::Cpu {
            return Err(CliError::Input(format!(
                "--precision {precision} runs on the packed CPU path, not on --device {device}; \
                 use --device cpu or --precision f32"
            )));
        }
        Ok(precision)
    }

    /// `hyper` on the path these flags choose for `device`: the packed CPU path in the chosen
    /// precision on `--device cpu` with AVX-512F (unless `--generic`), else the generic path
    /// (f32). A reduced precision the device or CPU cannot run is an error, never a fallback.
    pub fn generator<B: Backend>(
        &self,
        hyper: HyperModulator<B>,
        device: DeviceChoice,
    ) -> Result<AdapterGenerator<B>, CliError> {
        let precision = self.check(device)?;
        let generator = AdapterGenerator::new(hyper);
        let packed = !self.generic
            && device == DeviceChoice::Cpu
            && (cpu_supported() || precision != NamedPrecision::F32);
        Ok(if packed {
            generator.with_precision(precision.precision())?
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

/// [`open_pipeline`] for a generator that may be packed ([`GenerationArgs::generator`]).
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
