//! CPU fast path of generation: the whole inference forward (trunk and heads) on host f32
//! buffers, every Linear layer on a packed AVX-512 kernel ([`gemm`]), and the head outputs split
//! straight into PEFT's A `[n, L, r, d_in]` / B `[n, L, d_out, r]` layouts.
//!
//! [`PackedHyper`] is a snapshot of a [`HyperModulator`] made once (at load): the head weights
//! packed into panels so that no generation re-packs them (for the heads' few-row shapes a
//! generic GEMM spends much of its time doing that), the trunk's weights packed the same way, the
//! embedding tables already normalised. The trunk ([`trunk`]) computes shared rows once (see
//! there); the heads compute only the output columns that reach the adapter (M/S: a B pass of a
//! module with `d_out < d_in` needs `d_out` of the `max(d_in, d_out)` columns of each rank row).
//!
//! Available on x86-64 CPUs with AVX-512F ([`PackedHyper::new`] returns `None` elsewhere; use
//! [`HyperModulator::generate`] there). Results equal the generic path up to float summation
//! order and the `exp` of SiLU (≤ 1e-5 in the tests).

mod gemm;
mod heads;
mod rows;
mod trunk;

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, BatchedLoraWeights};

pub use gemm::{MR, NR, WeightStorage, cpu_supported};
use heads::PackedHead;
use trunk::{HostTrunk, host_vec};

use crate::error::Result;
use crate::model::HyperModulator;

/// A hypernetwork packed for the CPU kernel (a snapshot: re-pack after training).
#[derive(Debug, Clone)]
pub struct PackedHyper {
    trunk: HostTrunk,
    heads: Vec<PackedHead>,
    threads: usize,
}

impl PackedHyper {
    /// Packs `hyper` (one host copy of its weights, f32); `None` when the CPU lacks AVX-512F.
    /// Uses `RAYON_NUM_THREADS` threads when set, else all available cores.
    pub fn new<B: Backend>(hyper: &HyperModulator<B>) -> Option<Self> {
        Self::with_head_storage(hyper, WeightStorage::F32)
    }

    /// [`Self::new`] with the *head* weights stored as `storage` (the trunk stays f32). Opt-in
    /// reduced precision: [`WeightStorage::F16`] halves the bytes the head GEMMs stream (their
    /// bound at these few rows) and changes the adapters by the weights' f16 rounding (each
    /// output within `2⁻¹¹·Σ|x_i·w_i|` of the f32 path; the tests check 1e-3 of the largest
    /// value).
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
        if !cpu_supported() {
            return None;
        }
        let cfg = hyper.config();
        let heads = hyper
            .heads
            .iter()
            .zip(&cfg.layout.modules)
            .map(|(h, s)| {
                let w = host_vec(h.weight.val());
                let b = h.bias.as_ref().map(|b| host_vec(b.val()));
                let (k, r) = (cfg.head_in, cfg.lora.r);
                PackedHead::new(
                    cfg.variant,
                    &w,
                    b.as_deref(),
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
        Some(Self {
            trunk: HostTrunk::new(hyper),
            heads,
            threads,
        })
    }

    /// Sets the number of threads (trunk rows and head output panels are split over them).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
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
        let cfg = self.config();
        let n = self.check_task_embeddings(&task_embeddings)?;
        let device = task_embeddings.device();
        let emb = host_vec(task_embeddings);
        let h = packed.trunk.forward(&emb, n, packed.threads);
        let (ldh, per_module) = (packed.trunk.ldh(), packed.trunk.rows_per_module(n));
        let (r, l) = (cfg.lora.r, cfg.layout.n_layers);
        let nl = n * l;
        let mut out = Vec::with_capacity(cfg.layout.modules.len());
        for (i, (shape, head)) in cfg.layout.modules.iter().zip(&packed.heads).enumerate() {
            let x = &h[i * per_module * ldh..(i + 1) * per_module * ldh];
            let (d_in, d_out) = (shape.d_in, shape.d_out);
            let (a, b) = head.apply(x, ldh, nl, (d_in, d_out), packed.threads);
            out.push((
                shape.name.clone(),
                BatchedLoraWeights {
                    a: Tensor::from_data(TensorData::new(a, [n, l, r, d_in]), &device),
                    b: Tensor::from_data(TensorData::new(b, [n, l, d_out, r]), &device),
                },
            ));
        }
        let raw = BatchedLoraAdapter::new(cfg.lora.clone(), cfg.layout.clone(), out)?;
        self.postprocess(raw)
    }
}
