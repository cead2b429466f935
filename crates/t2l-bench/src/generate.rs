//! Adapter generation with the T2L hypernetwork (random weights: timing does not depend on the
//! values), at the paper's hypernetwork sizes (E = 1024, D = 128, H = 512, r = 8) for the q/v
//! layouts of SmolLM2-135M and Mistral-7B.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::Distribution;
use hypermod::packed::PackedHyper;
use hypermod::{HyperConfig, HyperModulator, InitMode, Variant};
use lora_core::{AdapterLayout, BatchedLoraAdapter, LoraConfig, ModuleShape};

use crate::ceiling::Ceilings;
use crate::error::{BenchError, sync};
use crate::report::Measurement;
use crate::timing::time_iters;
use crate::work::generate_work;

/// The base-model shapes adapters are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterShape {
    /// SmolLM2-135M: 30 layers, q_proj 576→576, v_proj 576→192.
    Smollm2_135m,
    /// Mistral-7B: 32 layers, q_proj 4096→4096, v_proj 4096→1024.
    Mistral7b,
    /// A tiny layout for tests: 2 layers, q_proj 16→16, v_proj 16→8 (hypernetwork E = 32,
    /// D = 16, H = 16, r = 2).
    Tiny,
}

impl AdapterShape {
    /// The real shapes (everything but [`AdapterShape::Tiny`]).
    pub const REAL: [Self; 2] = [Self::Smollm2_135m, Self::Mistral7b];

    /// The q/v layout.
    pub fn layout(self) -> AdapterLayout {
        let shape = |name: &str, d_in, d_out| ModuleShape {
            name: name.into(),
            d_in,
            d_out,
        };
        let (layers, d, kv) = match self {
            Self::Smollm2_135m => (30, 576, 192),
            Self::Mistral7b => (32, 4096, 1024),
            Self::Tiny => (2, 16, 8),
        };
        AdapterLayout::new(layers, vec![shape("q_proj", d, d), shape("v_proj", d, kv)])
    }

    /// Hypernetwork config of variant `variant` for this layout: E = 1024, D = 128, H = 512,
    /// r = 8, rsLoRA α 16, head bias, default (random) initialisation; tiny sizes for `Tiny`.
    pub fn hyper_config(self, variant: Variant) -> HyperConfig {
        let layout = self.layout();
        let (e, d, h, r) = match self {
            Self::Tiny => (32, 16, 16, 2),
            _ => (1024, 128, 512, 8),
        };
        let lora = LoraConfig::new(r, 2.0 * r as f64, layout.module_names()).with_rslora(true);
        HyperConfig::new(variant, e, layout, lora)
            .with_latent(d)
            .with_head_in(h)
            .with_init(InitMode::Default)
            .with_head_bias(true)
    }
}

impl fmt::Display for AdapterShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Smollm2_135m => "smollm2-135m",
            Self::Mistral7b => "mistral-7b",
            Self::Tiny => "tiny",
        })
    }
}

impl FromStr for AdapterShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "smollm2-135m" | "smollm2" => Ok(Self::Smollm2_135m),
            "mistral-7b" | "mistral" => Ok(Self::Mistral7b),
            "tiny" => Ok(Self::Tiny),
            other => Err(format!(
                "unknown shape `{other}` (expected smollm2-135m, mistral-7b or tiny)"
            )),
        }
    }
}

/// A hypernetwork ready to generate, with a task embedding and, on the flex backend with
/// AVX-512, its packed form (hypermod's CPU fast path).
pub struct GenerateCase<B: Backend> {
    /// Shape and variant, for naming.
    pub shape: AdapterShape,
    /// The hypernetwork (random weights).
    pub hyper: HyperModulator<B>,
    /// One task embedding `[1, E]`.
    pub embedding: Tensor<B, 2>,
    /// The hypernetwork packed for the CPU kernels (`None` off flex or without AVX-512).
    pub packed: Option<PackedHyper>,
}

impl<B: Backend> GenerateCase<B> {
    /// Builds the hypernetwork of `shape`/`variant` on `device` with seed `seed`.
    pub fn new(
        shape: AdapterShape,
        variant: Variant,
        device: &B::Device,
        seed: u64,
    ) -> Result<Self, BenchError> {
        let cfg = shape.hyper_config(variant);
        let e = cfg.task_dim;
        let hyper = HyperModulator::<B>::new(cfg, device, seed)?;
        B::seed(device, seed);
        let embedding = Tensor::random([1, e], Distribution::Normal(0.0, 1.0), device);
        let packed = if B::name(device).to_ascii_lowercase().contains("flex") {
            PackedHyper::new(&hyper)
        } else {
            None
        };
        Ok(Self {
            shape,
            hyper,
            embedding,
            packed,
        })
    }

    /// `shape/variant`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.shape, self.hyper.config().variant)
    }

    /// One adapter through the generic burn path, finished on the device.
    pub fn generate(&self) -> Result<BatchedLoraAdapter<B>, BenchError> {
        Ok(self.hyper.generate(self.embedding.clone())?)
    }
}

/// Times adapter generation for one shape and variant, through burn (`generic`) and, when
/// available, hypermod's packed CPU path (`packed`): the adapter is generated and the device
/// synchronised (writing the PEFT file, a host copy, is not timed).
pub fn bench_generate<B: Backend>(
    shape: AdapterShape,
    variant: Variant,
    device: &B::Device,
    warmup: usize,
    iters: usize,
    ceilings: &Ceilings,
) -> Result<Vec<Measurement>, BenchError> {
    let case = GenerateCase::<B>::new(shape, variant, device, 0)?;
    let work = generate_work(case.hyper.config(), 1);
    let mut out = Vec::new();
    let timing = time_iters(warmup, iters, || {
        let adapter = case.generate()?;
        sync::<B>(device, "adapter generation")?;
        drop(adapter);
        Ok::<_, BenchError>(())
    })?;
    out.push(
        Measurement::new(
            "generate",
            format!("{}/generic", case.name()),
            timing,
            work,
            ceilings,
        )
        .with_items(1.0, "adapters"),
    );
    if let Some(packed) = &case.packed {
        let timing = time_iters(warmup, iters, || {
            let adapter = case.hyper.generate_packed(case.embedding.clone(), packed)?;
            sync::<B>(device, "adapter generation (packed)")?;
            drop(adapter);
            Ok::<_, BenchError>(())
        })?;
        out.push(
            Measurement::new(
                "generate",
                format!("{}/packed", case.name()),
                timing,
                work,
                ceilings,
            )
            .with_items(1.0, "adapters"),
        );
    }
    Ok(out)
}
