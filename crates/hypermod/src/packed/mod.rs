//! CPU fast path of generation: the whole inference forward (trunk and heads) on host f32
//! buffers, every Linear layer on a packed AVX-512 kernel (`gemm.rs`), and the head outputs split
//! straight into PEFT's A `[n, L, r, d_in]` / B `[n, L, d_out, r]` layouts.
//!
//! [`PackedHyper`] is a snapshot of a [`HyperModulator`] made once (at load): the head weights
//! packed into panels so that no generation re-packs them (for the heads' few-row shapes a
//! generic GEMM spends much of its time doing that), the trunk's weights packed the same way, the
//! embedding tables already normalised. The trunk (`trunk.rs`) computes shared rows once (see
//! there); the heads compute only the output columns that reach the adapter (M/S: a B pass of a
//! module with `d_out < d_in` needs `d_out` of the `max(d_in, d_out)` columns of each rank row).
//!
//! Available on x86-64 CPUs with AVX-512F ([`PackedHyper::new`] returns `None` elsewhere; use
//! [`HyperModulator::generate`] there). Results equal the generic path up to float summation
//! order and the `exp` of SiLU (≤ 1e-5 in the tests).
//!
//! Opt-in reduced precision ([`HyperPrecision`], f32 stays the default): f16 head weights, or
//! bf16 *compute* (weights and activations rounded to bf16, f32 accumulation; AVX512-BF16, on
//! AMX tiles where the CPU and OS allow, [`bf16_kernel`]) for the heads and/or the trunk.

mod freed_memory;
mod gemm;
mod gemm_amx;
mod gemm_bf16;
mod heads;
mod rows;
mod timings;
mod trunk;
mod workers;

/// The grouped row layout for the tests: rows in groups of 8, each group stored `[width, 8]`
/// (value `c` of a group's row `r` at `c·8 + r`), as `Epilogue::SiluColumns` writes it.
#[cfg(test)]
mod grouped_layout {
    /// Where value `c` of row `r` lies among grouped rows of `width` values.
    pub(crate) fn at(r: usize, c: usize, width: usize) -> usize {
        (r / 8) * 8 * width + c * 8 + r % 8
    }

    /// Dense rows `[rows, width]` (`rows` a multiple of 8) in the grouped layout.
    pub(crate) fn grouped(dense: &[f32], width: usize) -> Vec<f32> {
        let mut out = vec![0f32; dense.len()];
        for (i, &v) in dense.iter().enumerate() {
            out[at(i / width, i % width, width)] = v;
        }
        out
    }
}

use std::time::{Duration, Instant};

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, BatchedLoraWeights};

pub use freed_memory::keep_freed_memory;
pub use gemm::{MR, NR, WeightStorage, cpu_supported};
pub use gemm_bf16::{Bf16Kernel, bf16_kernel, bf16_supported};
use heads::PackedHead;
pub use timings::PackedTimings;
use trunk::{HostTrunk, host_data, host_values, host_vec};
use workers::Workers;

use crate::error::{Error, Result};
use crate::model::HyperModulator;

/// The precision of each part of the packed path: how the head weights and the trunk's Linear
/// weights are stored, and so how they multiply ([`WeightStorage`]). LayerNorms, biases, SiLU,
/// residual adds and the adapters themselves are f32 in every precision.
///
/// ```
/// use hypermod::packed::{HyperPrecision, WeightStorage};
/// assert_eq!(HyperPrecision::default(), HyperPrecision::F32);
/// let heads_only = HyperPrecision { heads: WeightStorage::Bf16, trunk: WeightStorage::F32 };
/// assert_ne!(heads_only, HyperPrecision::BF16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HyperPrecision {
    /// The heads' weights (the GEMMs that write the adapters).
    pub heads: WeightStorage,
    /// Every Linear layer of the trunk (task encoder, mixer, `mlp1`–`mlp3`).
    pub trunk: WeightStorage,
}

impl HyperPrecision {
    /// f32 everywhere: the default, equal to the generic path up to summation order.
    pub const F32: Self = Self {
        heads: WeightStorage::F32,
        trunk: WeightStorage::F32,
    };
    /// bf16 compute everywhere (heads and trunk; needs AVX512-BF16): a numerics change.
    pub const BF16: Self = Self {
        heads: WeightStorage::Bf16,
        trunk: WeightStorage::Bf16,
    };
}

/// A hypernetwork packed for the CPU kernel (a snapshot: re-pack after training).
#[derive(Debug, Clone)]
pub struct PackedHyper {
    trunk: HostTrunk,
    heads: Vec<PackedHead>,
    /// The threads generation splits its work over (a pool kept between calls).
    workers: Workers,
    /// The kernel of the bf16 parts (`None` when no part is bf16).
    bf16: Option<Bf16Kernel>,
    /// How each part is stored and multiplied.
    precision: HyperPrecision,
}

impl PackedHyper {
    /// Packs `hyper` (one host copy of its weights, f32); `None` when the CPU lacks AVX-512F.
    /// Uses `RAYON_NUM_THREADS` threads when set, else all available cores: the calling thread
    /// and a pool of the others, started here and kept for every generation (clones share it).
    pub fn new<B: Backend>(hyper: &HyperModulator<B>) -> Option<Self> {
        Self::with_head_storage(hyper, WeightStorage::F32)
    }

    /// [`Self::new`] with the *head* weights stored as `storage` (the trunk stays f32). Opt-in
    /// reduced precision: [`WeightStorage::F16`] halves the bytes the head GEMMs stream (their
    /// bound at these few rows) and changes the adapters by the weights' f16 rounding (each
    /// output within `2⁻¹¹·Σ|x_i·w_i|` of the f32 path; the tests check 1e-3 of the largest
    /// value). `None` when the CPU lacks AVX-512F, or AVX512-BF16 for
    /// [`WeightStorage::Bf16`] ([`Self::with_precision`] says which, as an error).
    ///
    /// ```no_run
    /// # use burn::backend::Flex;
    /// # fn demo(hyper: &hypermod::HyperModulator<Flex>) {
    /// use hypermod::packed::{PackedHyper, WeightStorage};
    /// let fast = PackedHyper::with_head_storage(hyper, WeightStorage::F16);
    /// # }
    /// ```
    pub fn with_head_storage<B: Backend>(
        hyper: &HyperModulator<B>,
        storage: WeightStorage,
    ) -> Option<Self> {
        let precision = HyperPrecision {
            heads: storage,
            trunk: WeightStorage::F32,
        };
        Self::with_precision(hyper, precision).ok()
    }

    /// Packs `hyper` with each part stored (and multiplied) as `precision` says; see
    /// [`Self::new`] for threads. bf16 compute ([`WeightStorage::Bf16`], e.g.
    /// [`HyperPrecision::BF16`]) rounds the weights and each GEMM's activations to bf16 and
    /// accumulates in f32: a numerics change (the tests measure ≤ 5.4e-3 of the largest value at
    /// SmolLM2 shapes),
    /// opt-in; the default stays f32.
    ///
    /// # Errors
    /// [`Error::CpuFeature`] naming `avx512f` when the CPU lacks AVX-512F, or `avx512bf16` when
    /// a part asks for bf16 and the CPU lacks AVX512-BF16 (never a silent fallback).
    ///
    /// ```no_run
    /// # use burn::backend::Flex;
    /// # fn demo(hyper: &hypermod::HyperModulator<Flex>) -> hypermod::Result<()> {
    /// use hypermod::packed::{HyperPrecision, PackedHyper};
    /// let fast = PackedHyper::with_precision(hyper, HyperPrecision::BF16)?;
    /// # Ok(()) }
    /// ```
    pub fn with_precision<B: Backend>(
        hyper: &HyperModulator<B>,
        precision: HyperPrecision,
    ) -> Result<Self> {
        if !cpu_supported() {
            return Err(Error::CpuFeature {
                feature: "avx512f",
                what: "the packed CPU path".into(),
            });
        }
        for (part, storage) in [("heads", precision.heads), ("trunk", precision.trunk)] {
            if storage == WeightStorage::Bf16 && !bf16_supported() {
                return Err(Error::CpuFeature {
                    feature: "avx512bf16",
                    what: format!("bf16 compute of the {part}"),
                });
            }
        }
        let storage = precision.heads;
        let cfg = hyper.config();
        let heads = hyper
            .heads
            .iter()
            .zip(&cfg.layout.modules)
            .map(|(h, s)| {
                let w = host_data(h.weight.val());
                let b = h.bias.as_ref().map(|b| host_data(b.val()));
                let (k, r) = (cfg.head_in, cfg.lora.r);
                PackedHead::new(
                    cfg.variant,
                    host_values(&w),
                    b.as_ref().map(host_values),
                    k,
                    r,
                    (s.d_in, s.d_out),
                    storage,
                )
            })
            .collect();
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&t| t > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        let any_bf16 = [precision.heads, precision.trunk].contains(&WeightStorage::Bf16);
        Ok(Self {
            trunk: HostTrunk::new(hyper, precision.trunk),
            heads,
            workers: Workers::new(threads),
            bf16: bf16_kernel().filter(|_| any_bf16),
            precision,
        })
    }

    /// The precision this snapshot was packed in ([`Self::with_precision`]).
    pub fn precision(&self) -> HyperPrecision {
        self.precision
    }

    /// The kernel that multiplies the bf16 parts ([`Bf16Kernel::Amx`] or
    /// [`Bf16Kernel::Avx512`], [`bf16_kernel`]); `None` when no part is bf16.
    pub fn bf16_kernel(&self) -> Option<Bf16Kernel> {
        self.bf16
    }

    /// Sets the number of threads (trunk rows and head output panels are split over them),
    /// starting a new pool of `threads − 1` helper threads.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.workers = Workers::new(threads);
        self
    }

    /// The number of threads generation runs on (the caller included).
    pub fn threads(&self) -> usize {
        self.workers.count()
    }
}

impl<B: Backend> HyperModulator<B> {
    /// [`Self::generate`] on the CPU kernels of `packed` (made from this hypernetwork by
    /// [`PackedHyper::new`]): trunk and heads on host buffers, then the adapters uploaded to the
    /// embeddings' device and post-processed as usual. Same adapters up to float summation order.
    pub fn generate_packed(
        &self,
        task_embeddings: Tensor<B, 2>,
        packed: &PackedHyper,
    ) -> Result<BatchedLoraAdapter<B>> {
        Ok(self.generate_packed_timed(task_embeddings, packed)?.0)
    }

    /// [`Self::generate_packed`], also returning where its wall time went ([`PackedTimings`]:
    /// trunk, head GEMMs, finish), for profiling and for the speed criterion of the heads.
    pub fn generate_packed_timed(
        &self,
        task_embeddings: Tensor<B, 2>,
        packed: &PackedHyper,
    ) -> Result<(BatchedLoraAdapter<B>, PackedTimings)> {
        let start = Instant::now();
        let cfg = self.config();
        let n = self.check_task_embeddings(&task_embeddings)?;
        let device = task_embeddings.device();
        let emb = host_vec(task_embeddings);
        let (r, l) = (cfg.lora.r, cfg.layout.n_layers);
        let nl = n * l;
        // S's head inputs in groups of 8 rows where the trunk and every head can (f32/f16
        // weights, whole groups): the heads' kernel then reads a block's 8 rows from one line.
        let grouped =
            packed.trunk.writes_grouped() && packed.heads.iter().all(|h| h.reads_grouped(nl));
        let h = packed.trunk.forward(&emb, n, grouped, &packed.workers);
        let trunk = start.elapsed();
        let mut heads = Duration::ZERO;
        let (ldh, per_module) = (packed.trunk.ldh(), packed.trunk.rows_per_module(n));
        let mut out = Vec::with_capacity(cfg.layout.modules.len());
        for (i, (shape, head)) in cfg.layout.modules.iter().zip(&packed.heads).enumerate() {
            let x = &h[i * per_module * ldh..(i + 1) * per_module * ldh];
            let (d_in, d_out) = (shape.d_in, shape.d_out);
            let head_start = Instant::now();
            let (a, b) = head.apply((x, ldh, grouped), nl, (d_in, d_out), &packed.workers);
            heads += head_start.elapsed();
            out.push((
                shape.name.clone(),
                BatchedLoraWeights {
                    a: Tensor::from_data(TensorData::new(a, [n, l, r, d_in]), &device),
                    b: Tensor::from_data(TensorData::new(b, [n, l, d_out, r]), &device),
                },
            ));
        }
        let raw = BatchedLoraAdapter::new(cfg.lora.clone(), cfg.layout.clone(), out)?;
        let adapters = self.postprocess(raw)?;
        let finish = start.elapsed().saturating_sub(trunk + heads);
        Ok((
            adapters,
            PackedTimings {
                trunk,
                heads,
                finish,
            },
        ))
    }
}
